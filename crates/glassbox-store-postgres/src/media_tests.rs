//! Media blobs in the database: chunk layout, and uploads of one record from two
//! processes at once.

use std::collections::VecDeque;

use async_trait::async_trait;

use glassbox_model::ProjectId;
use glassbox_store::{MediaSource, MediaStore, MediaUploadOutcome, NewMedia};

use super::CHUNK_BYTES;
use crate::PgStore;
use crate::tests::fresh_config;

/// Hands out `bytes` in pieces of `piece` bytes, then ends (or aborts, when built by
/// [`Pieces::aborting`]).
struct Pieces {
    pieces: VecDeque<Vec<u8>>,
    abort_at_end: bool,
}

impl Pieces {
    fn new(bytes: &[u8], piece: usize) -> Pieces {
        Pieces {
            pieces: bytes.chunks(piece).map(<[u8]>::to_vec).collect(),
            abort_at_end: false,
        }
    }

    fn aborting(bytes: &[u8], piece: usize) -> Pieces {
        Pieces {
            abort_at_end: true,
            ..Pieces::new(bytes, piece)
        }
    }
}

#[async_trait]
impl MediaSource for Pieces {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.pieces.pop_front() {
            Some(piece) => Ok(Some(piece)),
            None if self.abort_at_end => Err("hash mismatch".into()),
            None => Ok(None),
        }
    }
}

fn bytes(length: usize) -> Vec<u8> {
    (0..length).map(|index| (index % 241) as u8).collect()
}

async fn register(store: &PgStore, project: &ProjectId, length: usize) {
    store
        .create_or_get_media(
            project,
            NewMedia {
                id: "m".into(),
                sha256_hash: "hash".into(),
                content_type: "application/octet-stream".into(),
                content_length: length as u64,
                upload_token: "token".into(),
                created_at: 1,
            },
        )
        .await
        .unwrap();
}

/// Every chunk the reader hands out, in order.
async fn read_chunks(store: &PgStore, project: &ProjectId) -> Vec<Vec<u8>> {
    let mut reader = store
        .open_media_blob(project, "m")
        .await
        .unwrap()
        .expect("uploaded");
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk().await.unwrap() {
        chunks.push(chunk);
    }
    chunks
}

#[tokio::test]
async fn chunks_are_a_mebibyte_whatever_the_source_hands_out() {
    let store = PgStore::connect(fresh_config()).await.unwrap();
    let project = ProjectId("p".into());
    let blob = bytes(2 * CHUNK_BYTES + 12_345);
    register(&store, &project, blob.len()).await;
    let outcome = store
        .store_media_blob(&project, "m", &mut Pieces::new(&blob, 100_003))
        .await
        .unwrap();
    assert!(
        matches!(outcome, MediaUploadOutcome::Stored(_)),
        "{outcome:?}"
    );
    let chunks = read_chunks(&store, &project).await;
    let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
    assert_eq!(sizes, [CHUNK_BYTES, CHUNK_BYTES, 12_345]);
    assert!(chunks.concat() == blob);

    // Replacing it with a shorter blob leaves no chunk of the longer one behind.
    let shorter = bytes(10);
    store
        .store_media_blob(&project, "m", &mut Pieces::new(&shorter, 3))
        .await
        .unwrap();
    assert_eq!(read_chunks(&store, &project).await, vec![shorter]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_uploading_one_record_leave_one_whole_blob() {
    let config = fresh_config();
    let first = PgStore::connect(config.clone()).await.unwrap();
    let second = PgStore::connect(config).await.unwrap();
    let project = ProjectId("p".into());
    let blob = bytes(CHUNK_BYTES + 777);
    register(&first, &project, blob.len()).await;
    let (mut left_source, mut right_source) =
        (Pieces::new(&blob, 65_536), Pieces::new(&blob, 10_000));
    let (left, right) = tokio::join!(
        first.store_media_blob(&project, "m", &mut left_source),
        second.store_media_blob(&project, "m", &mut right_source),
    );
    let (left, right) = (left.unwrap(), right.unwrap());
    let (MediaUploadOutcome::Stored(left), MediaUploadOutcome::Stored(right)) = (left, right)
    else {
        panic!("both uploads must be stored");
    };
    assert!(left.uploaded_at.is_some());
    assert_eq!(
        left.uploaded_at, right.uploaded_at,
        "the first upload time is kept"
    );
    assert!(read_chunks(&second, &project).await.concat() == blob);
    assert!(read_chunks(&first, &project).await.concat() == blob);
}

#[tokio::test]
async fn an_upload_aborted_after_full_chunks_leaves_the_earlier_blob() {
    let store = PgStore::connect(fresh_config()).await.unwrap();
    let project = ProjectId("p".into());
    let blob = bytes(CHUNK_BYTES + 5);
    register(&store, &project, blob.len()).await;
    let stored = match store
        .store_media_blob(&project, "m", &mut Pieces::new(&blob, 65_536))
        .await
        .unwrap()
    {
        MediaUploadOutcome::Stored(record) => record,
        other => panic!("expected a stored blob, got {other:?}"),
    };
    // Three full chunks are written before the source gives up.
    let other = vec![9_u8; 3 * CHUNK_BYTES + 1];
    assert_eq!(
        store
            .store_media_blob(&project, "m", &mut Pieces::aborting(&other, 300_000))
            .await
            .unwrap(),
        MediaUploadOutcome::Rejected("hash mismatch".into())
    );
    assert_eq!(store.get_media(&project, "m").await.unwrap(), Some(stored));
    assert!(read_chunks(&store, &project).await.concat() == blob);
}
