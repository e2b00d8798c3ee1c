//! Media: `POST /media` → `PUT` upload URL → `PATCH /media/{id}` → `GET /media/{id}` →
//! download URL; dedup by content hash, validation, tokens and project scoping.

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use glassbox_http::HttpConfig;

use crate::support::{Auth, Resp, SALT, TestApp, micros, testdata_path};

const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

fn png() -> Vec<u8> {
    STANDARD.decode(PNG).unwrap()
}

fn sha256_b64(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(bytes))
}

/// The id the SDKs compute: the first 22 characters of the URL-safe base64 SHA-256.
fn sdk_media_id(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))[..22].to_owned()
}

fn registration(bytes: &[u8], content_type: &str) -> Value {
    json!({
        "traceId": "trace-media",
        "observationId": "obs-media",
        "contentType": content_type,
        "contentLength": bytes.len(),
        "sha256Hash": sha256_b64(bytes),
        "field": "input",
    })
}

/// Path and query of an absolute URL (the router takes no scheme and host).
fn path_of(url: &str) -> String {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or_else(|| panic!("not an absolute URL: {url}"));
    rest[rest.find('/').expect("a path")..].to_owned()
}

/// Replaces the value of `token=` in a URL path.
fn with_token(path: &str, token: &str) -> String {
    let (before, _) = path.split_once("token=").expect("a token");
    format!("{before}token={token}")
}

async fn register(app: &TestApp, auth: &Auth, body: &Value) -> Resp {
    app.raw(
        Method::POST,
        "/api/public/media",
        auth,
        &[
            ("content-type", "application/json"),
            ("host", "glassbox.test:3000"),
        ],
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

/// Registers the bytes in project A and returns (mediaId, upload URL path).
async fn register_ok(app: &TestApp, bytes: &[u8], content_type: &str) -> (String, String) {
    let response = register(app, &Auth::A, &registration(bytes, content_type)).await;
    let body = response.expect(201);
    let url = body["uploadUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("an upload URL: {body}"));
    (body["mediaId"].as_str().unwrap().to_owned(), path_of(url))
}

/// PUTs bytes the way the SDKs do (no Authorization header).
async fn put(app: &TestApp, path: &str, content_type: &str, bytes: &[u8]) -> Resp {
    let checksum = sha256_b64(bytes);
    app.raw(
        Method::PUT,
        path,
        &Auth::None,
        &[
            ("content-type", content_type),
            ("x-ms-blob-type", "BlockBlob"),
            ("x-amz-checksum-sha256", &checksum),
        ],
        bytes.to_vec(),
    )
    .await
}

async fn get_media(app: &TestApp, auth: &Auth, id: &str) -> Resp {
    app.raw(
        Method::GET,
        &format!("/api/public/media/{id}"),
        auth,
        &[("host", "glassbox.test:3000")],
        Vec::new(),
    )
    .await
}

fn patch_body(status: u16) -> Value {
    json!({"uploadedAt": "2025-03-01T10:00:00.123456Z", "uploadHttpStatus": status,
           "uploadHttpError": "", "uploadTimeMs": 3})
}

#[tokio::test]
async fn full_flow_post_put_patch_get_download() {
    let app = TestApp::new().await;
    let bytes = png();
    let before = glassbox_model::time::now_micros();

    let response = register(&app, &Auth::A, &registration(&bytes, "image/png")).await;
    let body = response.expect(201).clone();
    let media_id = sdk_media_id(&bytes);
    assert_eq!(body["mediaId"], media_id.as_str(), "the SDK's own id");
    let upload_url = body["uploadUrl"].as_str().expect("an upload URL");
    let prefix = format!("http://glassbox.test:3000/api/public/media/{media_id}/upload?token=");
    assert!(upload_url.starts_with(&prefix), "{upload_url}");

    // Not downloadable before the upload.
    let early = get_media(&app, &Auth::A, &media_id).await;
    assert!(
        early
            .expect_error(404, "LangfuseNotFoundError")
            .contains("not yet uploaded")
    );

    let uploaded = put(&app, &path_of(upload_url), "image/png", &bytes).await;
    uploaded.expect(200);
    assert!(
        uploaded.bytes.is_empty(),
        "the SDK records the body as the upload error"
    );

    let patched = app
        .patch(
            &format!("/api/public/media/{media_id}"),
            &Auth::A,
            &patch_body(200),
        )
        .await;
    patched.expect(200);

    let got = get_media(&app, &Auth::A, &media_id).await;
    let media = got.expect(200).clone();
    for key in [
        "mediaId",
        "contentType",
        "contentLength",
        "uploadedAt",
        "url",
        "urlExpiry",
    ] {
        assert!(media.get(key).is_some(), "{key} missing in {media}");
    }
    assert_eq!(media["mediaId"], media_id.as_str());
    assert_eq!(media["contentType"], "image/png");
    assert_eq!(media["contentLength"], bytes.len());
    let uploaded_at = micros(&media["uploadedAt"]);
    assert!(
        uploaded_at >= before - 1_000,
        "uploadedAt is the server's upload time"
    );
    let expiry = micros(&media["urlExpiry"]);
    let hour = 3_600_000_000;
    assert!(
        (expiry - before - hour).abs() < 60_000_000,
        "urlExpiry is an hour ahead: {media}"
    );
    let url = media["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "http://glassbox.test:3000/api/public/media/{media_id}/content?token="
        )),
        "{url}"
    );

    // The download URL needs no credentials and serves the exact bytes.
    let download = app.get(&path_of(url), &Auth::None).await;
    download.expect(200);
    assert_eq!(download.bytes, bytes);
    assert_eq!(download.headers["content-type"], "image/png");
    assert_eq!(
        download.headers["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(download.headers["x-content-type-options"], "nosniff");
    assert!(
        download.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
}

#[tokio::test]
async fn a_large_upload_round_trips() {
    let app = TestApp::new().await;
    let bytes: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
    let (media_id, upload) = register_ok(&app, &bytes, "application/octet-stream").await;
    put(&app, &upload, "application/octet-stream", &bytes)
        .await
        .expect(200);
    let media = get_media(&app, &Auth::A, &media_id)
        .await
        .expect(200)
        .clone();
    let download = app
        .get(&path_of(media["url"].as_str().unwrap()), &Auth::None)
        .await;
    download.expect(200);
    assert!(download.bytes == bytes, "downloaded bytes differ");
}

#[tokio::test]
async fn python_sdk_capture_replays() {
    // The Python SDK 5 capture: register, upload, report, with its exact bodies and headers.
    let app = TestApp::new().await;
    let text = std::fs::read_to_string(testdata_path("sdk-wire/python-i-env-media-otel.jsonl"))
        .expect("read the capture");
    let records: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let raw = |record: &Value| {
        STANDARD
            .decode(record["body"]["raw_b64"].as_str().unwrap())
            .unwrap()
    };
    let header = |record: &Value, name: &str| {
        record["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|pair| pair[0].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|pair| pair[1].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {name} header"))
    };
    let post = records
        .iter()
        .find(|r| r["method"] == "POST" && r["path"] == "/api/public/media")
        .expect("a media registration");
    let put_record = records
        .iter()
        .find(|r| r["method"] == "PUT")
        .expect("a PUT");
    let patch = records
        .iter()
        .find(|r| r["method"] == "PATCH")
        .expect("a PATCH");

    let registered = app
        .raw(
            Method::POST,
            "/api/public/media",
            &Auth::A,
            &[("content-type", "application/json")],
            raw(post),
        )
        .await;
    let body = registered.expect(201).clone();
    assert_eq!(body["mediaId"], post["response"]["json"]["mediaId"]);
    assert_eq!(body["mediaId"], "Y-8xjZa10NDOum4EpOYisR");

    let upload = path_of(body["uploadUrl"].as_str().unwrap());
    let content_type = header(put_record, "content-type");
    let checksum = header(put_record, "x-amz-checksum-sha256");
    app.raw(
        Method::PUT,
        &upload,
        &Auth::None,
        &[
            ("content-type", content_type.as_str()),
            ("x-ms-blob-type", "BlockBlob"),
            ("x-amz-checksum-sha256", checksum.as_str()),
        ],
        raw(put_record),
    )
    .await
    .expect(200);
    app.raw(
        Method::PATCH,
        patch["path"].as_str().unwrap(),
        &Auth::A,
        &[("content-type", "application/json")],
        raw(patch),
    )
    .await
    .expect(200);

    // The SDK registers the same image again for another observation: already uploaded.
    let again = app
        .raw(
            Method::POST,
            "/api/public/media",
            &Auth::A,
            &[("content-type", "application/json")],
            raw(post),
        )
        .await;
    assert_eq!(
        again.expect(201),
        &json!({"mediaId": "Y-8xjZa10NDOum4EpOYisR", "uploadUrl": null})
    );
    let media = app.get_ok("/api/public/media/Y-8xjZa10NDOum4EpOYisR").await;
    assert_eq!(media["contentLength"], 68);
}

#[tokio::test]
async fn same_content_twice_gets_no_upload_url_once_uploaded() {
    let app = TestApp::new().await;
    let bytes = b"hello media".to_vec();
    let (first_id, first_url) = register_ok(&app, &bytes, "text/plain").await;
    // Registered again before the upload: same id, and an upload URL that works.
    let (second_id, second_url) = register_ok(&app, &bytes, "text/plain").await;
    assert_eq!(first_id, second_id);
    assert_eq!(first_url, second_url);
    put(&app, &second_url, "text/plain", &bytes)
        .await
        .expect(200);

    let mut body = registration(&bytes, "text/plain");
    body["traceId"] = json!("another-trace");
    let third = register(&app, &Auth::A, &body).await;
    assert_eq!(
        third.expect(201),
        &json!({"mediaId": first_id, "uploadUrl": null})
    );
    // Uploading again through the old URL is harmless.
    put(&app, &first_url, "text/plain", &bytes)
        .await
        .expect(200);
    get_media(&app, &Auth::A, &first_id).await.expect(200);
}

#[tokio::test]
async fn wrong_bytes_type_or_checksum_are_400_and_store_nothing() {
    let app = TestApp::new().await;
    let bytes = b"the registered content".to_vec();
    let (media_id, upload) = register_ok(&app, &bytes, "text/plain").await;

    // Same length, other bytes (the checksum header matches the registered hash).
    let mut other = bytes.clone();
    other[0] ^= 1;
    let checksum = sha256_b64(&bytes);
    let wrong = app
        .raw(
            Method::PUT,
            &upload,
            &Auth::None,
            &[
                ("content-type", "text/plain"),
                ("x-amz-checksum-sha256", &checksum),
            ],
            other.clone(),
        )
        .await;
    assert!(
        wrong
            .expect_error(400, "InvalidRequestError")
            .contains("SHA-256")
    );
    // A checksum header that differs from the registered hash.
    let bad_checksum = put(&app, &upload, "text/plain", &other).await;
    assert!(
        bad_checksum
            .expect_error(400, "InvalidRequestError")
            .contains("x-amz-checksum-sha256")
    );
    // Another content type.
    put(&app, &upload, "application/json", &bytes)
        .await
        .expect_error(400, "InvalidRequestError");
    // Fewer bytes than registered.
    app.raw(
        Method::PUT,
        &upload,
        &Auth::None,
        &[("content-type", "text/plain")],
        bytes[..5].to_vec(),
    )
    .await
    .expect_error(400, "InvalidRequestError");
    let pending = get_media(&app, &Auth::A, &media_id).await;
    assert!(
        pending
            .expect_error(404, "LangfuseNotFoundError")
            .contains("not yet uploaded")
    );

    // A charset parameter is fine; then the upload counts.
    put(&app, &upload, "text/plain; charset=utf-8", &bytes)
        .await
        .expect(200);
    get_media(&app, &Auth::A, &media_id).await.expect(200);
    // A later bad upload leaves the stored bytes alone.
    put(&app, &upload, "text/plain", &other)
        .await
        .expect_error(400, "InvalidRequestError");
    let media = get_media(&app, &Auth::A, &media_id)
        .await
        .expect(200)
        .clone();
    let download = app
        .get(&path_of(media["url"].as_str().unwrap()), &Auth::None)
        .await;
    assert_eq!(download.expect(200), &Value::Null);
    assert_eq!(download.bytes, bytes);
}

#[tokio::test]
async fn oversize_registrations_and_uploads_are_refused() {
    let app = TestApp::with_config(HttpConfig {
        salt: SALT.to_owned(),
        max_media_bytes: 1_000,
        ..HttpConfig::default()
    })
    .await;
    let big = vec![7u8; 1_001];
    let refused = register(
        &app,
        &Auth::A,
        &registration(&big, "application/octet-stream"),
    )
    .await;
    assert!(
        refused
            .expect_error(400, "InvalidRequestError")
            .contains("at most 1000")
    );
    let exact = vec![7u8; 1_000];
    let (_, upload) = register_ok(&app, &exact, "application/octet-stream").await;
    // More bytes than registered: refused (checksum header left out so the length decides).
    let longer = app
        .raw(
            Method::PUT,
            &upload,
            &Auth::None,
            &[("content-type", "application/octet-stream")],
            big,
        )
        .await;
    assert!(longer.status.is_client_error(), "{:?}", longer.status);
    put(&app, &upload, "application/octet-stream", &exact)
        .await
        .expect(200);
}

#[tokio::test]
async fn invalid_registrations_are_400() {
    let app = TestApp::new().await;
    let bytes = png();
    let valid = registration(&bytes, "image/png");
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        (
            "unknown content type",
            with("contentType", json!("image/x-unknown")),
        ),
        ("content type case", with("contentType", json!("IMAGE/PNG"))),
        ("no content type", without("contentType")),
        ("zero length", with("contentLength", json!(0))),
        ("negative length", with("contentLength", json!(-5))),
        ("fractional length", with("contentLength", json!(1.5))),
        ("string length", with("contentLength", json!("68"))),
        ("no hash", without("sha256Hash")),
        (
            "hex hash",
            with("sha256Hash", json!(hex::encode(Sha256::digest(&bytes)))),
        ),
        ("short hash", with("sha256Hash", json!("abc="))),
        (
            "44 chars, not base64",
            with("sha256Hash", json!("!".repeat(44))),
        ),
        ("no field", without("field")),
        (
            "dataset field on a trace",
            with("field", json!("expectedOutput")),
        ),
        ("no trace", without("traceId")),
        ("trace and dataset", with("datasetId", json!("d1"))),
        ("long trace id", with("traceId", json!("t".repeat(801)))),
    ];
    for (what, body) in cases {
        let response = register(&app, &Auth::A, &body).await;
        assert_eq!(response.status.as_u16(), 400, "{what}: {}", response.json);
        assert_eq!(response.json["error"], "InvalidRequestError", "{what}");
    }
    register(&app, &Auth::A, &json!([])).await.expect(400);

    // Accepted shapes: `68.0`, explicit nulls (what Python sends), dataset item media.
    register(&app, &Auth::A, &with("contentLength", json!(68.0)))
        .await
        .expect(201);
    let mut python = valid.clone();
    python["datasetId"] = Value::Null;
    python["datasetItemId"] = Value::Null;
    register(&app, &Auth::A, &python).await.expect(201);
    let dataset = json!({"datasetId": "d1", "datasetItemId": "item-1", "field": "expectedOutput",
                         "contentType": "application/pdf", "contentLength": 3,
                         "sha256Hash": sha256_b64(b"pdf")});
    register(&app, &Auth::A, &dataset).await.expect(201);
}

#[tokio::test]
async fn media_is_project_scoped() {
    let app = TestApp::new().await;
    let bytes = png();
    let (media_id, upload) = register_ok(&app, &bytes, "image/png").await;
    put(&app, &upload, "image/png", &bytes).await.expect(200);
    get_media(&app, &Auth::A, &media_id).await.expect(200);

    get_media(&app, &Auth::B, &media_id)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.patch(
        &format!("/api/public/media/{media_id}"),
        &Auth::B,
        &patch_body(200),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");

    // The same content in B is B's to upload: same id (content-derived), its own URL.
    let in_b = register(&app, &Auth::B, &registration(&bytes, "image/png")).await;
    let body = in_b.expect(201).clone();
    assert_eq!(body["mediaId"], media_id.as_str());
    let upload_b = path_of(
        body["uploadUrl"]
            .as_str()
            .expect("B must upload its own copy"),
    );
    assert_ne!(upload_b, upload);
    get_media(&app, &Auth::B, &media_id)
        .await
        .expect_error(404, "LangfuseNotFoundError");

    // A's secret does not open B's record, nor B's secret A's.
    let token_of = |path: &str| {
        let token = path.split_once("token=").unwrap().1;
        let (project, secret) = token.split_once('.').unwrap();
        (project.to_owned(), secret.to_owned())
    };
    let ((project_a, secret_a), (project_b, secret_b)) = (token_of(&upload), token_of(&upload_b));
    assert_eq!(project_b, URL_SAFE_NO_PAD.encode("project-b"));
    for token in [
        format!("{project_b}.{secret_a}"),
        format!("{project_a}.{secret_b}"),
    ] {
        put(&app, &with_token(&upload_b, &token), "image/png", &bytes)
            .await
            .expect_error(403, "ForbiddenError");
    }
    put(&app, &upload_b, "image/png", &bytes).await.expect(200);
    get_media(&app, &Auth::B, &media_id).await.expect(200);
}

#[tokio::test]
async fn tokens_and_credentials_are_checked() {
    let app = TestApp::new().await;
    let bytes = png();
    let (media_id, upload) = register_ok(&app, &bytes, "image/png").await;
    let token = upload.split_once("token=").unwrap().1.to_owned();
    let (project_part, secret) = token.split_once('.').unwrap();

    // Upload: no token, a wrong secret, a token of another project, garbage.
    let no_token = upload.split_once('?').unwrap().0.to_owned();
    put(&app, &no_token, "image/png", &bytes)
        .await
        .expect_error(401, "UnauthorizedError");
    let mut wrong_secret = secret.to_owned().into_bytes();
    wrong_secret[0] = if wrong_secret[0] == b'A' { b'B' } else { b'A' };
    let wrong = format!(
        "{project_part}.{}",
        String::from_utf8(wrong_secret).unwrap()
    );
    let project_b = URL_SAFE_NO_PAD.encode("project-b");
    for token in [
        wrong.as_str(),
        &format!("{project_b}.{secret}"),
        "garbage",
        "",
        &format!("{project_part}.{secret}.1"),
    ] {
        let response = put(&app, &with_token(&upload, token), "image/png", &bytes).await;
        assert!(
            matches!(response.status.as_u16(), 401 | 403),
            "token {token}: {}",
            response.status
        );
    }
    // A Basic key does not replace the token.
    app.raw(
        Method::PUT,
        &no_token,
        &Auth::A,
        &[("content-type", "image/png")],
        bytes.clone(),
    )
    .await
    .expect_error(401, "UnauthorizedError");
    get_media(&app, &Auth::A, &media_id)
        .await
        .expect_error(404, "LangfuseNotFoundError");

    // The API routes need Basic project keys.
    let body = registration(&bytes, "image/png");
    register(&app, &Auth::None, &body)
        .await
        .expect_error(401, "UnauthorizedError");
    register(&app, &Auth::BearerA, &body)
        .await
        .expect_error(403, "ForbiddenError");
    get_media(&app, &Auth::None, &media_id)
        .await
        .expect_error(401, "UnauthorizedError");
    app.patch(
        &format!("/api/public/media/{media_id}"),
        &Auth::BearerA,
        &patch_body(200),
    )
    .await
    .expect_error(403, "ForbiddenError");

    put(&app, &upload, "image/png", &bytes).await.expect(200);
    let media = get_media(&app, &Auth::A, &media_id)
        .await
        .expect(200)
        .clone();
    let download = path_of(media["url"].as_str().unwrap());
    app.get(&download, &Auth::None).await.expect(200);

    // Download: tampered signature, tampered expiry, expired, the upload token, none.
    let download_token = download.split_once("token=").unwrap().1.to_owned();
    let parts: Vec<&str> = download_token.split('.').collect();
    assert_eq!(parts.len(), 3, "{download_token}");
    let later: i64 = parts[1].parse::<i64>().unwrap() + 3_600;
    let flipped = {
        let mut signature = parts[2].to_owned().into_bytes();
        signature[0] = if signature[0] == b'A' { b'B' } else { b'A' };
        String::from_utf8(signature).unwrap()
    };
    for token in [
        format!("{}.{}.{flipped}", parts[0], parts[1]),
        format!("{}.{later}.{}", parts[0], parts[2]),
        format!("{}.1000.{}", parts[0], parts[2]),
        format!("{project_b}.{}.{}", parts[1], parts[2]),
        token.clone(),
    ] {
        let response = app.get(&with_token(&download, &token), &Auth::None).await;
        assert_eq!(response.status.as_u16(), 403, "token {token}");
        assert_eq!(response.json["error"], "ForbiddenError");
    }
    let bare = download.split_once('?').unwrap().0.to_owned();
    app.get(&bare, &Auth::None)
        .await
        .expect_error(401, "UnauthorizedError");
}

#[tokio::test]
async fn patch_records_the_report_and_validates() {
    let app = TestApp::new().await;
    let bytes = b"report me".to_vec();
    let (media_id, upload) = register_ok(&app, &bytes, "text/plain").await;
    let uri = format!("/api/public/media/{media_id}");

    for body in [
        json!({"uploadHttpStatus": 200}),
        json!({"uploadedAt": "yesterday", "uploadHttpStatus": 200}),
        json!({"uploadedAt": "2025-03-01T10:00:00Z"}),
        json!({"uploadedAt": "2025-03-01T10:00:00Z", "uploadHttpStatus": "200"}),
        json!({"uploadedAt": "2025-03-01T10:00:00Z", "uploadHttpStatus": 200, "uploadTimeMs": "3"}),
    ] {
        app.patch(&uri, &Auth::A, &body)
            .await
            .expect_error(400, "InvalidRequestError");
    }
    app.patch("/api/public/media/unknown", &Auth::A, &patch_body(200))
        .await
        .expect_error(404, "LangfuseNotFoundError");

    // A failed upload reported by the client: GET says so.
    let failed = json!({"uploadedAt": "2025-03-01T10:00:00Z", "uploadHttpStatus": 400,
                        "uploadHttpError": "bad", "uploadTimeMs": null});
    app.patch(&uri, &Auth::A, &failed).await.expect(200);
    let message = get_media(&app, &Auth::A, &media_id)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert!(message.contains("failed"), "{message}");

    // A report alone does not make media downloadable; the bytes do.
    app.patch(&uri, &Auth::A, &patch_body(200))
        .await
        .expect(200);
    get_media(&app, &Auth::A, &media_id)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    put(&app, &upload, "text/plain", &bytes).await.expect(200);
    get_media(&app, &Auth::A, &media_id).await.expect(200);
    get_media(&app, &Auth::A, "unknown")
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn urls_use_the_configured_public_url() {
    let app = TestApp::with_config(HttpConfig {
        salt: SALT.to_owned(),
        public_url: Some("https://observe.example.com".to_owned()),
        ..HttpConfig::default()
    })
    .await;
    let bytes = png();
    let response = register(&app, &Auth::A, &registration(&bytes, "image/png")).await;
    let url = response.expect(201)["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with("https://observe.example.com/api/public/media/"),
        "{url}"
    );
    put(&app, &path_of(&url), "image/png", &bytes)
        .await
        .expect(200);
    let media = get_media(&app, &Auth::A, &sdk_media_id(&bytes)).await;
    assert!(
        media.expect(200)["url"]
            .as_str()
            .unwrap()
            .starts_with("https://observe.example.com/api/public/media/")
    );

    // Without it, a Host header that is no host is refused rather than put in a URL.
    let plain = TestApp::new().await;
    let refused = plain
        .raw(
            Method::POST,
            "/api/public/media",
            &Auth::A,
            &[
                ("content-type", "application/json"),
                ("host", "evil.example/path?x="),
            ],
            serde_json::to_vec(&registration(&bytes, "image/png")).unwrap(),
        )
        .await;
    refused.expect_error(400, "InvalidRequestError");
}
