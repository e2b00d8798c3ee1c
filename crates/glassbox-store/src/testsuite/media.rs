//! Conformance tests: Media records and their blobs.

use super::*;

fn new_media(id: &str, hash: &str, content_type: &str, length: u64, token: &str) -> NewMedia {
    NewMedia {
        id: id.into(),
        sha256_hash: hash.into(),
        content_type: content_type.into(),
        content_length: length,
        upload_token: token.into(),
        created_at: micros("2025-03-01T10:00:00Z"),
    }
}

/// Bytes of a test blob: `length` bytes of a simple pattern seeded by `seed`.
fn blob(length: usize, seed: u8) -> Vec<u8> {
    (0..length)
        .map(|index| (index % 251) as u8 ^ seed)
        .collect()
}

/// A media source handing out `bytes` in chunks of `chunk` bytes, or aborting with
/// `"aborted"` when it reaches chunk number `fail_at`.
struct ChunkSource {
    chunks: std::collections::VecDeque<Vec<u8>>,
    fail_at: Option<usize>,
    handed_out: usize,
}

impl ChunkSource {
    fn new(bytes: &[u8], chunk: usize) -> ChunkSource {
        ChunkSource {
            chunks: bytes.chunks(chunk).map(<[u8]>::to_vec).collect(),
            fail_at: None,
            handed_out: 0,
        }
    }

    fn failing_at(bytes: &[u8], chunk: usize, fail_at: usize) -> ChunkSource {
        ChunkSource {
            fail_at: Some(fail_at),
            ..ChunkSource::new(bytes, chunk)
        }
    }
}

#[async_trait::async_trait]
impl MediaSource for ChunkSource {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.fail_at == Some(self.handed_out) {
            return Err("aborted".into());
        }
        self.handed_out += 1;
        Ok(self.chunks.pop_front())
    }
}

async fn create_media(stores: &Stores, project: &ProjectId, media: NewMedia) -> MediaRecord {
    stores
        .media
        .create_or_get_media(project, media)
        .await
        .expect("create_or_get_media")
}

async fn get_media(stores: &Stores, project: &ProjectId, id: &str) -> Option<MediaRecord> {
    stores
        .media
        .get_media(project, id)
        .await
        .expect("get_media")
}

async fn upload(
    stores: &Stores,
    project: &ProjectId,
    id: &str,
    source: &mut ChunkSource,
) -> MediaUploadOutcome {
    stores
        .media
        .store_media_blob(project, id, source)
        .await
        .expect("store_media_blob")
}

async fn upload_ok(stores: &Stores, project: &ProjectId, id: &str, bytes: &[u8]) -> MediaRecord {
    match upload(stores, project, id, &mut ChunkSource::new(bytes, 64 * 1024)).await {
        MediaUploadOutcome::Stored(record) => record,
        other => panic!("upload of `{id}` must be stored, got {other:?}"),
    }
}

/// The whole blob, or `None` when the store has none for this record.
async fn read_blob(stores: &Stores, project: &ProjectId, id: &str) -> Option<Vec<u8>> {
    let mut reader = stores
        .media
        .open_media_blob(project, id)
        .await
        .expect("open_media_blob")?;
    let mut bytes = Vec::new();
    while let Some(chunk) = reader.next_chunk().await.expect("read a blob chunk") {
        assert!(!chunk.is_empty(), "chunks are never empty");
        bytes.extend_from_slice(&chunk);
    }
    Some(bytes)
}

fn report(status: i64, error: Option<&str>) -> MediaUploadReport {
    MediaUploadReport {
        uploaded_at: micros("2025-03-01T10:00:05Z"),
        http_status: status,
        http_error: error.map(str::to_owned),
        time_ms: Some(12),
    }
}

pub async fn media_create_or_get_dedups_by_hash(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let first = create_media(
        stores,
        &a,
        new_media("media-1", "hash-1", "image/png", 3, "token-1"),
    )
    .await;
    assert_eq!(
        first,
        MediaRecord {
            id: "media-1".into(),
            sha256_hash: "hash-1".into(),
            content_type: "image/png".into(),
            content_length: 3,
            upload_token: "token-1".into(),
            created_at: micros("2025-03-01T10:00:00Z"),
            uploaded_at: None,
            report: None,
        }
    );
    assert_eq!(get_media(stores, &a, "media-1").await, Some(first.clone()));

    // The same hash before any upload: the same record (id and token kept) with the
    // latest declaration.
    let again = create_media(
        stores,
        &a,
        new_media("media-1", "hash-1", "image/jpeg", 4, "token-2"),
    )
    .await;
    assert_eq!(again.upload_token, "token-1");
    assert_eq!(again.created_at, first.created_at);
    assert_eq!(
        (again.content_type.as_str(), again.content_length),
        ("image/jpeg", 4)
    );
    assert_eq!(get_media(stores, &a, "media-1").await, Some(again));

    // Another hash is another record.
    let other = create_media(
        stores,
        &a,
        new_media("media-2", "hash-2", "text/plain", 5, "token-3"),
    )
    .await;
    assert_eq!(
        (other.id.as_str(), other.upload_token.as_str()),
        ("media-2", "token-3")
    );

    // The same id with another hash is a conflict and changes nothing.
    let conflict = stores
        .media
        .create_or_get_media(&a, new_media("media-1", "hash-9", "image/png", 3, "t"))
        .await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict(_))),
        "{conflict:?}"
    );
    assert_eq!(
        get_media(stores, &a, "media-1")
            .await
            .map(|m| m.sha256_hash),
        Some("hash-1".to_owned())
    );
    assert_eq!(get_media(stores, &a, "unknown").await, None);
    assert!(read_blob(stores, &a, "media-1").await.is_none());
}

pub async fn media_upload_stores_the_blob_and_marks_the_record(stores: &Stores) {
    let a = project(stores, "project-a").await;
    // More than a few MiB, so that backends which buffer have to write several times.
    let bytes = blob(3 * 1024 * 1024 + 17, 7);
    create_media(
        stores,
        &a,
        new_media(
            "media-1",
            "hash-1",
            "image/png",
            bytes.len() as u64,
            "token-1",
        ),
    )
    .await;
    assert!(read_blob(stores, &a, "media-1").await.is_none());

    let stored = upload_ok(stores, &a, "media-1", &bytes).await;
    let uploaded_at = stored.uploaded_at.expect("the record is marked uploaded");
    assert_eq!(stored.upload_token, "token-1");
    assert_eq!(get_media(stores, &a, "media-1").await, Some(stored.clone()));
    assert!(read_blob(stores, &a, "media-1").await == Some(bytes.clone()));

    // The same hash after the upload: the record as it is (no redeclaration).
    let again = create_media(
        stores,
        &a,
        new_media("media-1", "hash-1", "text/plain", 1, "token-2"),
    )
    .await;
    assert_eq!(again, stored);

    // Uploading again replaces the blob and keeps the first upload time.
    let replaced = upload_ok(stores, &a, "media-1", &bytes).await;
    assert_eq!(replaced.uploaded_at, Some(uploaded_at));
    assert!(read_blob(stores, &a, "media-1").await == Some(bytes.clone()));

    // The client's report is recorded and does not change the upload state.
    assert!(
        stores
            .media
            .record_media_upload(&a, "media-1", report(200, Some("")))
            .await
            .unwrap()
    );
    let reported = get_media(stores, &a, "media-1").await.unwrap();
    assert_eq!(reported.report, Some(report(200, Some(""))));
    assert_eq!(reported.uploaded_at, Some(uploaded_at));
    assert!(
        stores
            .media
            .record_media_upload(&a, "media-1", report(500, Some("boom")))
            .await
            .unwrap()
    );
    assert_eq!(
        get_media(stores, &a, "media-1").await.unwrap().report,
        Some(report(500, Some("boom"))),
        "the latest report wins"
    );
    assert!(
        !stores
            .media
            .record_media_upload(&a, "unknown", report(200, None))
            .await
            .unwrap()
    );

    // A tiny blob in one chunk.
    create_media(
        stores,
        &a,
        new_media("media-2", "hash-2", "text/plain", 1, "t2"),
    )
    .await;
    upload_ok(stores, &a, "media-2", b"x").await;
    assert_eq!(read_blob(stores, &a, "media-2").await, Some(b"x".to_vec()));

    // Unknown records take no bytes.
    let mut source = ChunkSource::new(b"abc", 1);
    assert_eq!(
        upload(stores, &a, "unknown", &mut source).await,
        MediaUploadOutcome::UnknownMedia
    );
    assert_eq!(
        source.handed_out, 0,
        "nothing is read for an unknown record"
    );
}

pub async fn media_rejected_upload_stores_nothing(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let bytes = blob(200_000, 3);
    create_media(
        stores,
        &a,
        new_media(
            "media-1",
            "hash-1",
            "image/png",
            bytes.len() as u64,
            "token-1",
        ),
    )
    .await;
    let mut failing = ChunkSource::failing_at(&bytes, 64 * 1024, 2);
    assert_eq!(
        upload(stores, &a, "media-1", &mut failing).await,
        MediaUploadOutcome::Rejected("aborted".into())
    );
    let record = get_media(stores, &a, "media-1").await.unwrap();
    assert!(!record.is_uploaded());
    assert!(read_blob(stores, &a, "media-1").await.is_none());

    // A rejected upload over a stored blob leaves the stored blob.
    let stored = upload_ok(stores, &a, "media-1", &bytes).await;
    let mut failing = ChunkSource::failing_at(&blob(200_000, 9), 64 * 1024, 3);
    assert_eq!(
        upload(stores, &a, "media-1", &mut failing).await,
        MediaUploadOutcome::Rejected("aborted".into())
    );
    assert_eq!(get_media(stores, &a, "media-1").await, Some(stored));
    assert!(read_blob(stores, &a, "media-1").await == Some(bytes));
}

pub async fn media_is_scoped_by_project(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let bytes_a = blob(1_000, 1);
    create_media(
        stores,
        &a,
        new_media("media-1", "hash-1", "image/png", 1_000, "token-a"),
    )
    .await;
    upload_ok(stores, &a, "media-1", &bytes_a).await;

    // B sees nothing of A's record and cannot write or report to it.
    assert_eq!(get_media(stores, &b, "media-1").await, None);
    assert!(read_blob(stores, &b, "media-1").await.is_none());
    assert!(
        !stores
            .media
            .record_media_upload(&b, "media-1", report(200, None))
            .await
            .unwrap()
    );
    let mut source = ChunkSource::new(b"stolen", 2);
    assert_eq!(
        upload(stores, &b, "media-1", &mut source).await,
        MediaUploadOutcome::UnknownMedia
    );

    // The same hash in B is B's own record: not uploaded, with its own token.
    let in_b = create_media(
        stores,
        &b,
        new_media("media-1", "hash-1", "image/png", 1_000, "token-b"),
    )
    .await;
    assert_eq!(in_b.upload_token, "token-b");
    assert!(!in_b.is_uploaded());
    assert!(read_blob(stores, &b, "media-1").await.is_none());
    let bytes_b = blob(1_000, 2);
    upload_ok(stores, &b, "media-1", &bytes_b).await;
    assert!(read_blob(stores, &a, "media-1").await == Some(bytes_a.clone()));
    assert!(read_blob(stores, &b, "media-1").await == Some(bytes_b));
    assert_eq!(
        get_media(stores, &a, "media-1")
            .await
            .map(|m| m.upload_token),
        Some("token-a".to_owned())
    );

    // Project ids that are not plain names keep their blobs apart too.
    let odd = project(stores, "../project-a").await;
    create_media(
        stores,
        &odd,
        new_media("media-1", "hash-1", "image/png", 1_000, "token-odd"),
    )
    .await;
    assert!(read_blob(stores, &odd, "media-1").await.is_none());
    let bytes_odd = blob(1_000, 3);
    upload_ok(stores, &odd, "media-1", &bytes_odd).await;
    assert!(read_blob(stores, &odd, "media-1").await == Some(bytes_odd));
    assert!(read_blob(stores, &a, "media-1").await == Some(bytes_a));
}
