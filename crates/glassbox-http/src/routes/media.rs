//! Media: `POST /media` registers a blob and answers an upload URL, the client `PUT`s
//! the bytes to that URL, `PATCH /media/{id}` records how the upload went, and
//! `GET /media/{id}` answers a download URL.
//!
//! Langfuse hands out presigned S3 URLs; glassbox points both URLs at itself and
//! authorises them with a token in the query string, because the SDKs send the `PUT`
//! without an `Authorization` header:
//! - upload: `/media/{id}/upload?token=<project>.<secret>`, where `<secret>` is the random
//!   token stored with the record (compared in constant time);
//! - download: `/media/{id}/content?token=<project>.<expiry>.<signature>`, an
//!   HMAC-SHA256 keyed by that secret over the media id and expiry (one hour).
//!
//! `<project>` is the base64url project id: a media id is only unique within a project
//! (it is derived from the content hash), and these URLs carry no credentials.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use glassbox_model::ProjectId;
use glassbox_model::time::{now_micros, parse_iso_lenient};
use glassbox_store::{
    MediaBlobReader, MediaRecord, MediaSource, MediaUploadOutcome, MediaUploadReport, NewMedia,
};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json_object;
use crate::error::{ApiError, ApiResult, invalid};
use crate::params::QueryParams;
use crate::wire::media_object;

/// The content types Langfuse accepts (its `MediaContentType` enum), compared exactly.
pub const MEDIA_CONTENT_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/webp",
    "image/gif",
    "image/svg+xml",
    "image/tiff",
    "image/bmp",
    "image/avif",
    "image/heic",
    "audio/mpeg",
    "audio/mp3",
    "audio/wav",
    "audio/ogg",
    "audio/oga",
    "audio/aac",
    "audio/mp4",
    "audio/flac",
    "audio/opus",
    "audio/webm",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/mpeg",
    "video/quicktime",
    "video/x-msvideo",
    "video/x-matroska",
    "text/plain",
    "text/html",
    "text/css",
    "text/csv",
    "text/markdown",
    "text/x-python",
    "text/x-typescript",
    "application/javascript",
    "application/x-yaml",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/zip",
    "application/json",
    "application/xml",
    "application/octet-stream",
    "application/rtf",
    "application/x-ndjson",
    "application/vnd.apache.parquet",
    "application/gzip",
    "application/x-tar",
    "application/x-7z-compressed",
];

/// How long a download URL stays valid.
const DOWNLOAD_URL_SECONDS: i64 = 3_600;
/// Longest trace, observation and dataset ids (as everywhere in the API).
const MAX_ID_CHARS: usize = 800;
const CHECKSUM_HEADER: HeaderName = HeaderName::from_static("x-amz-checksum-sha256");

fn not_found() -> ApiError {
    ApiError::NotFound("Media not found".into())
}

fn bad_token() -> ApiError {
    ApiError::Forbidden("Invalid or expired media token".into())
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

/// A fresh random secret: 32 bytes (two v4 UUIDs, 244 random bits), base64url.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Equality that takes the same time wherever the inputs differ (both sides are hashed
/// first, so the length does not show either).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    let difference = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|byte| byte ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|byte| byte ^ 0x5c));
    outer.update(inner);
    let mut mac = [0u8; 32];
    mac.copy_from_slice(&outer.finalize());
    mac
}

fn download_signature(record: &MediaRecord, project: &ProjectId, expiry: i64) -> String {
    let message = format!(
        "glassbox-media-download\n{project}\n{}\n{expiry}",
        record.id
    );
    URL_SAFE_NO_PAD.encode(hmac_sha256(
        record.upload_token.as_bytes(),
        message.as_bytes(),
    ))
}

fn encode_project(project: &ProjectId) -> String {
    URL_SAFE_NO_PAD.encode(project.as_str())
}

/// The `token` query parameter split at dots; its first part is the project.
fn token_parts(query: Option<&str>) -> ApiResult<(ProjectId, Vec<String>)> {
    let token = QueryParams::parse(query)
        .string("token")
        .ok_or_else(|| ApiError::Unauthorized("Missing media token".into()))?;
    let mut parts = token.split('.');
    let project = parts
        .next()
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|project| !project.is_empty())
        .ok_or_else(bad_token)?;
    Ok((ProjectId(project), parts.map(str::to_owned).collect()))
}

// ---------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------

/// `http://<Host>` of the request, or the configured public URL.
fn base_url(state: &AppState, headers: &HeaderMap, uri: &Uri) -> ApiResult<String> {
    if let Some(public_url) = &state.config.public_url {
        return Ok(public_url.trim_end_matches('/').to_owned());
    }
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|authority| authority.to_string()))
        .unwrap_or_else(|| "localhost".to_owned());
    // The host ends up in a URL the client will call: keep it to authority characters.
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-:[]_".contains(&byte));
    if !valid {
        return Err(invalid("the Host header is not a valid host"));
    }
    Ok(format!("http://{host}"))
}

fn upload_url(base: &str, project: &ProjectId, record: &MediaRecord) -> String {
    format!(
        "{base}/api/public/media/{}/upload?token={}.{}",
        record.id,
        encode_project(project),
        record.upload_token
    )
}

// ---------------------------------------------------------------------------------------
// POST /media
// ---------------------------------------------------------------------------------------

fn optional_string(body: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) if text.chars().count() > MAX_ID_CHARS => Err(invalid(format!(
            "{key} must be at most {MAX_ID_CHARS} characters"
        ))),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(format!("{key} must be a string"))),
    }
}

/// A non-negative whole JSON number (`68` or `68.0`), or `None`.
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|number| number.fract() == 0.0 && *number >= 0.0 && *number < 1e18)
            .map(|number| number as u64)
    })
}

/// The decoded SHA-256 of a 44-character standard base64 string.
fn decode_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 44 {
        return None;
    }
    STANDARD.decode(text).ok()?.try_into().ok()
}

/// Langfuse's media id: the first 22 characters of the URL-safe base64 SHA-256. The SDKs
/// compute it themselves and refuse to upload when the server answers another one.
fn media_id(hash: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(hash)[..22].to_owned()
}

fn parse_registration(body: &Map<String, Value>, max_bytes: u64) -> ApiResult<NewMedia> {
    let trace_id = optional_string(body, "traceId")?;
    let observation_id = optional_string(body, "observationId")?;
    let dataset_id = optional_string(body, "datasetId")?;
    let dataset_item_id = optional_string(body, "datasetItemId")?;
    let field = match body.get("field") {
        Some(Value::String(field)) => field.as_str(),
        _ => return Err(invalid("field is required")),
    };
    match (&trace_id, &dataset_id, &dataset_item_id) {
        (Some(_), None, None) => {
            if !["input", "output", "metadata"].contains(&field) {
                return Err(invalid(
                    "field must be input, output or metadata for trace media",
                ));
            }
        }
        (None, Some(_), Some(_)) => {
            if observation_id.is_some() {
                return Err(invalid("observationId is only allowed with traceId"));
            }
            if !["input", "expectedOutput", "metadata"].contains(&field) {
                return Err(invalid(
                    "field must be input, expectedOutput or metadata for dataset item media",
                ));
            }
        }
        _ => {
            return Err(invalid(
                "provide either traceId (and optionally observationId) or both datasetId and datasetItemId",
            ));
        }
    }
    let content_type = match body.get("contentType") {
        Some(Value::String(content_type))
            if MEDIA_CONTENT_TYPES.contains(&content_type.as_str()) =>
        {
            content_type.clone()
        }
        Some(Value::String(content_type)) => {
            return Err(invalid(format!(
                "contentType `{content_type}` is not supported"
            )));
        }
        _ => return Err(invalid("contentType is required")),
    };
    let content_length = body
        .get("contentLength")
        .and_then(whole_number)
        .filter(|length| *length > 0)
        .ok_or_else(|| invalid("contentLength must be a positive integer"))?;
    if content_length > max_bytes {
        return Err(invalid(format!(
            "contentLength must be at most {max_bytes} bytes"
        )));
    }
    let sha256_hash = match body.get("sha256Hash") {
        Some(Value::String(hash)) => hash.clone(),
        _ => return Err(invalid("sha256Hash is required")),
    };
    let decoded = decode_hash(&sha256_hash).ok_or_else(|| {
        invalid("sha256Hash must be the 44-character base64 SHA-256 of the content")
    })?;
    Ok(NewMedia {
        id: media_id(&decoded),
        sha256_hash,
        content_type,
        content_length,
        upload_token: random_secret(),
        created_at: now_micros(),
    })
}

pub async fn media_create(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = read_json_object(&headers, body, state.config.max_body_bytes).await?;
    let media = parse_registration(&body, state.config.max_media_bytes)?;
    let base = base_url(&state, &headers, &uri)?;
    let record = state
        .stores
        .media
        .create_or_get_media(&auth.project_id, media)
        .await?;
    let upload_url = if record.is_uploaded() {
        Value::Null
    } else {
        json!(upload_url(&base, &auth.project_id, &record))
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({"mediaId": record.id, "uploadUrl": upload_url})),
    ))
}

// ---------------------------------------------------------------------------------------
// GET and PATCH /media/{id}
// ---------------------------------------------------------------------------------------

pub async fn media_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(media_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let record = state
        .stores
        .media
        .get_media(&auth.project_id, &media_id)
        .await?
        .ok_or_else(not_found)?;
    let Some(uploaded_at) = record.uploaded_at else {
        let failed = record
            .report
            .as_ref()
            .is_some_and(|report| !(200..300).contains(&report.http_status));
        return Err(ApiError::NotFound(if failed {
            "Media upload failed".into()
        } else {
            "Media not yet uploaded".into()
        }));
    };
    let base = base_url(&state, &headers, &uri)?;
    let expiry_seconds = now_micros() / 1_000_000 + DOWNLOAD_URL_SECONDS;
    let url = format!(
        "{base}/api/public/media/{}/content?token={}.{expiry_seconds}.{}",
        record.id,
        encode_project(&auth.project_id),
        download_signature(&record, &auth.project_id, expiry_seconds)
    );
    Ok(Json(media_object(
        &record,
        uploaded_at,
        &url,
        expiry_seconds * 1_000_000,
    )))
}

fn parse_report(body: &Map<String, Value>) -> ApiResult<MediaUploadReport> {
    let uploaded_at = body
        .get("uploadedAt")
        .and_then(Value::as_str)
        .and_then(parse_iso_lenient)
        .ok_or_else(|| invalid("uploadedAt must be an ISO-8601 datetime"))?;
    let http_status = body
        .get("uploadHttpStatus")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("uploadHttpStatus must be an integer"))?;
    let http_error = match body.get("uploadHttpError") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err(invalid("uploadHttpError must be a string or null")),
    };
    let time_ms = match body.get("uploadTimeMs") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_i64()
                .ok_or_else(|| invalid("uploadTimeMs must be an integer or null"))?,
        ),
    };
    Ok(MediaUploadReport {
        uploaded_at,
        http_status,
        http_error,
        time_ms,
    })
}

pub async fn media_patch(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let body = read_json_object(&headers, body, state.config.max_body_bytes).await?;
    let report = parse_report(&body)?;
    let found = state
        .stores
        .media
        .record_media_upload(&auth.project_id, &media_id, report)
        .await?;
    if found {
        Ok(StatusCode::OK)
    } else {
        Err(not_found())
    }
}

// ---------------------------------------------------------------------------------------
// PUT /media/{id}/upload?token=...
// ---------------------------------------------------------------------------------------

/// The essence of a content type: no parameters, lowercase.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The request body as a [`MediaSource`]: hands out at most `expected` bytes, hashing
/// them, and ends only when exactly `expected` bytes with the registered hash arrived.
struct BodySource {
    stream: axum::body::BodyDataStream,
    expected: u64,
    received: u64,
    hasher: Sha256,
    hash: [u8; 32],
    /// Why the upload was refused, for the response.
    failure: Option<ApiError>,
}

impl BodySource {
    fn fail(&mut self, error: ApiError) -> String {
        let message = format!("{error:?}");
        self.failure = Some(error);
        message
    }
}

#[async_trait::async_trait]
impl MediaSource for BodySource {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.stream.next().await {
            Some(Ok(chunk)) => {
                self.received += chunk.len() as u64;
                if self.received > self.expected {
                    let expected = self.expected;
                    return Err(self.fail(invalid(format!(
                        "the body is longer than the registered contentLength of {expected} bytes"
                    ))));
                }
                self.hasher.update(&chunk);
                Ok(Some(chunk.to_vec()))
            }
            Some(Err(error)) => {
                Err(self.fail(invalid(format!("reading the body failed: {error}"))))
            }
            None => {
                if self.received != self.expected {
                    let (received, expected) = (self.received, self.expected);
                    return Err(self.fail(invalid(format!(
                        "the body has {received} bytes but the registered contentLength is {expected}"
                    ))));
                }
                let digest = std::mem::take(&mut self.hasher).finalize();
                if digest.as_slice() != self.hash {
                    return Err(self.fail(invalid(
                        "the SHA-256 of the body does not match the registered sha256Hash",
                    )));
                }
                Ok(None)
            }
        }
    }
}

pub async fn media_upload(
    State(state): State<AppState>,
    Path(media_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let (project, parts) = token_parts(query.as_deref())?;
    let [secret] = parts.as_slice() else {
        return Err(bad_token());
    };
    let record = state
        .stores
        .media
        .get_media(&project, &media_id)
        .await?
        .ok_or_else(bad_token)?;
    if !constant_time_eq(secret.as_bytes(), record.upload_token.as_bytes()) {
        return Err(bad_token());
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(essence)
        .unwrap_or_default();
    if content_type != essence(&record.content_type) {
        return Err(invalid(format!(
            "Content-Type must be the registered `{}`",
            record.content_type
        )));
    }
    if let Some(checksum) = headers.get(CHECKSUM_HEADER)
        && checksum.as_bytes() != record.sha256_hash.as_bytes()
    {
        return Err(invalid(
            "x-amz-checksum-sha256 does not match the registered sha256Hash",
        ));
    }
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !(encoding.is_empty() || encoding == "identity") {
        return Err(ApiError::UnsupportedMediaType(
            "media uploads take the raw bytes, without a content-encoding".into(),
        ));
    }
    if let Some(length) = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        && length != record.content_length
    {
        return Err(invalid(format!(
            "Content-Length is {length} but the registered contentLength is {}",
            record.content_length
        )));
    }
    let hash = decode_hash(&record.sha256_hash)
        .ok_or_else(|| ApiError::Internal("a stored media hash is not base64".into()))?;
    let mut source = BodySource {
        stream: body.into_data_stream(),
        expected: record.content_length,
        received: 0,
        hasher: Sha256::new(),
        hash,
        failure: None,
    };
    match state
        .stores
        .media
        .store_media_blob(&project, &record.id, &mut source)
        .await?
    {
        MediaUploadOutcome::Stored(_) => Ok(StatusCode::OK),
        MediaUploadOutcome::UnknownMedia => Err(bad_token()),
        MediaUploadOutcome::Rejected(reason) => Err(source
            .failure
            .take()
            .unwrap_or(ApiError::InvalidRequest(reason))),
    }
}

// ---------------------------------------------------------------------------------------
// GET /media/{id}/content?token=...
// ---------------------------------------------------------------------------------------

pub async fn media_content(
    State(state): State<AppState>,
    Path(media_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let (project, parts) = token_parts(query.as_deref())?;
    let [expiry, signature] = parts.as_slice() else {
        return Err(bad_token());
    };
    let expiry: i64 = expiry.parse().map_err(|_| bad_token())?;
    if now_micros() / 1_000_000 > expiry {
        return Err(bad_token());
    }
    let record = state
        .stores
        .media
        .get_media(&project, &media_id)
        .await?
        .ok_or_else(bad_token)?;
    let expected = download_signature(&record, &project, expiry);
    if !constant_time_eq(signature.as_bytes(), expected.as_bytes()) {
        return Err(bad_token());
    }
    let reader = state
        .stores
        .media
        .open_media_blob(&project, &record.id)
        .await?
        .ok_or_else(not_found)?;
    let stream = futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader: Box<dyn MediaBlobReader> = reader?;
        match reader.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(bytes::Bytes::from(chunk)), Some(reader))),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "reading a media blob failed");
                Some((Err(std::io::Error::other(error.to_string())), None))
            }
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&record.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(record.content_length));
    // Served from glassbox's own origin (Langfuse serves from the bucket's): never let an
    // uploaded HTML or SVG file run script here.
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_hashes_long_keys() {
        // RFC 4231 test case 6: a 131-byte key.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn media_id_is_the_sdk_one() {
        // From the Python SDK 5 capture: hash and the id it computed.
        let hash = decode_hash("Y+8xjZa10NDOum4EpOYisRWDNc3GfEnieDkTLG9lUFg=").unwrap();
        assert_eq!(media_id(&hash), "Y-8xjZa10NDOum4EpOYisR");
        assert!(decode_hash("Y+8xjZa10NDOum4EpOYisRWDNc3GfEnieDkTLG9lUFg").is_none());
        assert!(
            decode_hash(&"A".repeat(44)).is_none(),
            "33 bytes is no SHA-256"
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn secrets_are_random_and_url_safe() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
