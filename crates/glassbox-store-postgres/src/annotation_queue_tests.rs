//! Annotation queues across processes: two stores on one schema (as two glassbox
//! processes on one database) race for item locks and deduplicated inserts.

use std::collections::HashSet;
use std::sync::Arc;

use glassbox_model::ProjectId;
use glassbox_model::annotations::{
    AnnotationObjectType, AnnotationQueue, AnnotationQueueItem, AnnotationQueueStatus,
};
use glassbox_store::{AnnotationQueueStore, ItemLockOutcome, PageRequest};

use crate::PgStore;
use crate::tests::fresh_config;

const NOW: i64 = 1_750_000_000_000_000;

/// Two stores sharing one fresh schema, and a queue `q` in project `p`.
async fn two_processes() -> (Arc<PgStore>, Arc<PgStore>, ProjectId) {
    let config = fresh_config();
    let first = PgStore::connect(config.clone()).await.expect("connect");
    let second = PgStore::connect(config).await.expect("connect again");
    let project = ProjectId("p".into());
    first
        .insert_annotation_queue(
            &project,
            AnnotationQueue {
                id: "q".into(),
                name: "queue".into(),
                description: None,
                score_config_ids: vec!["cfg".into()],
                created_at: NOW,
                updated_at: NOW,
            },
        )
        .await
        .expect("insert queue");
    (first, second, project)
}

fn item(id: &str, object: &str, offset: i64) -> AnnotationQueueItem {
    AnnotationQueueItem::new(
        id.into(),
        "q".into(),
        AnnotationObjectType::Trace,
        object.into(),
        AnnotationQueueStatus::Pending,
        NOW + offset,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lock_next_hands_every_user_a_different_item() {
    let (first, second, project) = two_processes().await;
    let items: Vec<_> = (0..6)
        .map(|n| item(&format!("i{n}"), &format!("t{n}"), n))
        .collect();
    first
        .insert_queue_items(&project, "q", items, false)
        .await
        .unwrap();

    // Eight annotators, four on each process, ask at once for six items.
    let mut tasks = Vec::new();
    for user in 0..8 {
        let store = if user % 2 == 0 { &first } else { &second }.clone();
        let project = project.clone();
        tasks.push(tokio::spawn(async move {
            let user_id = format!("user-{user}");
            let got = store
                .lock_next_queue_item(&project, "q", &user_id, NOW + 100, 300)
                .await
                .unwrap();
            (user_id, got)
        }));
    }
    let mut handed_out = HashSet::new();
    let mut empty_handed = 0;
    for task in tasks {
        let (user_id, got) = task.await.unwrap();
        match got {
            Some(item) => {
                assert_eq!(item.lock.as_ref().unwrap().user_id, user_id);
                assert!(handed_out.insert(item.id.clone()), "{} twice", item.id);
            }
            None => empty_handed += 1,
        }
    }
    assert_eq!(handed_out.len(), 6, "every item is handed out once");
    assert_eq!(empty_handed, 2);
    // The stored locks agree with what was handed out.
    let stored = second
        .list_queue_items(&project, "q", None, PageRequest { page: 1, limit: 50 })
        .await
        .unwrap();
    let holders: HashSet<String> = stored
        .items
        .iter()
        .map(|item| item.lock.as_ref().expect("locked").user_id.clone())
        .collect();
    assert_eq!(holders.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_locks_on_one_item_have_one_winner() {
    let (first, second, project) = two_processes().await;
    first
        .insert_queue_items(&project, "q", vec![item("i", "t", 0)], false)
        .await
        .unwrap();
    let (ann, bob) = tokio::join!(
        first.lock_queue_item(&project, "q", "i", "ann", NOW + 1, 300),
        second.lock_queue_item(&project, "q", "i", "bob", NOW + 1, 300),
    );
    let outcomes = [ann.unwrap(), bob.unwrap()];
    let winners: Vec<String> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            ItemLockOutcome::Done(item) => Some(item.lock.as_ref().unwrap().user_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let held = outcomes
        .iter()
        .find_map(|outcome| match outcome {
            ItemLockOutcome::Held(held) => Some(held.clone()),
            _ => None,
        })
        .expect("the loser sees the lock");
    assert_eq!(held.user_id, winners[0]);
    let stored = second.get_queue_item(&project, "q", "i").await.unwrap();
    assert_eq!(stored.unwrap().lock.unwrap().user_id, winners[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deduplicated_batches_queue_each_object_once() {
    let (first, second, project) = two_processes().await;
    // Both processes add the same 1,500 objects (plus 500 of their own) at once.
    let batch = |prefix: &str, own: &str| -> Vec<AnnotationQueueItem> {
        (0..1_500)
            .map(|n| item(&format!("{prefix}-{n}"), &format!("shared-{n}"), n))
            .chain((0..500).map(|n| item(&format!("{prefix}-own-{n}"), &format!("{own}-{n}"), n)))
            .collect()
    };
    let (left, right) = tokio::join!(
        first.insert_queue_items(&project, "q", batch("a", "left"), true),
        second.insert_queue_items(&project, "q", batch("b", "right"), true),
    );
    let (left, right) = (left.unwrap(), right.unwrap());
    assert_eq!(left.inserted + right.inserted, 2_500);
    assert_eq!(left.skipped + right.skipped, 1_500);
    let stored = first
        .list_queue_items(&project, "q", None, PageRequest { page: 1, limit: 1 })
        .await
        .unwrap();
    assert_eq!(stored.total_items, 2_500);
}

#[tokio::test]
async fn a_batch_with_a_taken_item_id_writes_nothing() {
    let (first, _second, project) = two_processes().await;
    first
        .insert_queue_items(&project, "q", vec![item("taken", "t0", 0)], false)
        .await
        .unwrap();
    let outcome = first
        .insert_queue_items(
            &project,
            "q",
            vec![item("fresh", "t1", 1), item("taken", "t2", 2)],
            false,
        )
        .await;
    assert!(
        matches!(outcome, Err(glassbox_store::StoreError::Conflict(_))),
        "{outcome:?}"
    );
    assert_eq!(
        first.get_queue_item(&project, "q", "fresh").await.unwrap(),
        None
    );
}
