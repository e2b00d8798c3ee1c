//! Conformance tests: Evaluation by people: comments, annotation queues, their items, locks and assignments.

use super::*;

fn comment(
    id: &str,
    kind: CommentObjectType,
    object: &str,
    author: Option<&str>,
    second: u32,
) -> Comment {
    Comment {
        id: id.into(),
        object_type: kind,
        object_id: object.into(),
        content: format!("comment {id}"),
        author_user_id: author.map(str::to_owned),
        created_at: micros(&format!("2025-04-01T00:00:{second:02}Z")),
        updated_at: micros(&format!("2025-04-01T00:00:{second:02}Z")),
    }
}

pub async fn comments_insert_get_and_filtered_pages(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let store = &stores.comments;
    let all = [
        comment("c1", CommentObjectType::Trace, "t1", Some("u1"), 1),
        comment("c2", CommentObjectType::Trace, "t1", Some("u2"), 2),
        comment("c3", CommentObjectType::Observation, "t1", None, 3),
        comment("c4", CommentObjectType::Session, "s1", Some("u1"), 3),
        comment("c5", CommentObjectType::Prompt, "p1", Some("u1"), 5),
    ];
    for item in &all {
        store.insert_comment(&a, item.clone()).await.unwrap();
    }
    match store.insert_comment(&a, all[0].clone()).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("an existing comment id must be a conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_comment(&a, "c4").await.unwrap(),
        Some(all[3].clone())
    );
    assert_eq!(store.get_comment(&a, "nope").await.unwrap(), None);

    let list = |query: CommentQuery, page: PageRequest| {
        let project = a.clone();
        async move {
            let result = stores
                .comments
                .list_comments(&project, &query, page)
                .await
                .unwrap();
            let ids: Vec<String> = result.items.iter().map(|c| c.id.clone()).collect();
            (ids, result.total_items)
        }
    };
    assert_eq!(
        list(CommentQuery::default(), page(1, 50)).await,
        (strs(&["c5", "c4", "c3", "c2", "c1"]), 5),
        "created desc, ties by id desc"
    );
    assert_eq!(
        list(CommentQuery::default(), page(2, 2)).await,
        (strs(&["c3", "c2"]), 5)
    );
    let trace_t1 = CommentQuery {
        object_type: Some(CommentObjectType::Trace),
        object_id: Some("t1".into()),
        ..CommentQuery::default()
    };
    assert_eq!(list(trace_t1, page(1, 50)).await, (strs(&["c2", "c1"]), 2));
    let by_author = CommentQuery {
        author_user_id: Some("u1".into()),
        ..CommentQuery::default()
    };
    assert_eq!(
        list(by_author, page(1, 50)).await,
        (strs(&["c5", "c4", "c1"]), 3)
    );
    let prompts = CommentQuery {
        object_type: Some(CommentObjectType::Prompt),
        ..CommentQuery::default()
    };
    assert_eq!(list(prompts, page(1, 50)).await, (strs(&["c5"]), 1));

    // Project B sees none of it, and may use the same ids.
    assert_eq!(store.get_comment(&b, "c1").await.unwrap(), None);
    let other = store
        .list_comments(&b, &CommentQuery::default(), page(1, 50))
        .await
        .unwrap();
    assert_eq!((other.items.len(), other.total_items), (0, 0));
    store
        .insert_comment(
            &b,
            comment("c1", CommentObjectType::Session, "s-b", None, 9),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_comment(&a, "c1").await.unwrap(),
        Some(all[0].clone())
    );
}

fn queue(id: &str, name: &str, second: u32) -> AnnotationQueue {
    AnnotationQueue {
        id: id.into(),
        name: name.into(),
        description: Some(format!("queue {name}")),
        score_config_ids: vec!["cfg-1".into(), "cfg-2".into()],
        created_at: micros(&format!("2025-05-01T00:00:{second:02}Z")),
        updated_at: micros(&format!("2025-05-01T00:00:{second:02}Z")),
    }
}

fn queue_item(id: &str, queue: &str, object: &str, second: u32) -> AnnotationQueueItem {
    AnnotationQueueItem::new(
        id.into(),
        queue.into(),
        AnnotationObjectType::Trace,
        object.into(),
        AnnotationQueueStatus::Pending,
        micros(&format!("2025-05-02T00:00:{second:02}Z")),
    )
}

pub async fn annotation_queues_have_unique_names_per_project(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let store = &stores.annotation_queues;
    for (id, name, second) in [("q1", "first", 1), ("q3", "third", 2), ("q2", "second", 2)] {
        store
            .insert_annotation_queue(&a, queue(id, name, second))
            .await
            .unwrap();
    }
    match store
        .insert_annotation_queue(&a, queue("q9", "first", 5))
        .await
    {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("already exists"), "{message}")
        }
        other => panic!("a duplicate name must be a conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_annotation_queue(&a, "q2").await.unwrap(),
        Some(queue("q2", "second", 2))
    );
    let listed = store.list_annotation_queues(&a, page(1, 2)).await.unwrap();
    assert_eq!(listed.total_items, 3);
    assert_eq!(
        listed
            .items
            .iter()
            .map(|q| q.id.as_str())
            .collect::<Vec<_>>(),
        ["q3", "q2"],
        "created desc, ties by id desc"
    );
    // Names are unique per project only; B sees nothing of A.
    store
        .insert_annotation_queue(&b, queue("qb", "first", 1))
        .await
        .unwrap();
    assert_eq!(store.get_annotation_queue(&b, "q1").await.unwrap(), None);
    let of_b = store.list_annotation_queues(&b, page(1, 50)).await.unwrap();
    assert_eq!(of_b.total_items, 1);
    assert_eq!(of_b.items[0].id, "qb");
}

pub async fn annotation_queue_items_status_dedup_and_scoping(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let store = &stores.annotation_queues;
    store
        .insert_annotation_queue(&a, queue("q1", "one", 1))
        .await
        .unwrap();
    store
        .insert_annotation_queue(&a, queue("q2", "two", 1))
        .await
        .unwrap();
    match store
        .insert_queue_items(
            &a,
            "missing",
            vec![queue_item("x", "missing", "t", 1)],
            false,
        )
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("an unknown queue must be not found, got {other:?}"),
    }
    match store
        .insert_queue_items(&b, "q1", vec![queue_item("x", "q1", "t", 1)], false)
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("another project's queue must be not found, got {other:?}"),
    }
    // Without dedup the same object may be queued twice (as in Langfuse).
    let first = store
        .insert_queue_items(
            &a,
            "q1",
            vec![
                queue_item("i1", "q1", "t1", 1),
                queue_item("i2", "q1", "t2", 2),
                queue_item("i3", "q1", "t1", 3),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        first,
        QueueItemsInserted {
            inserted: 3,
            skipped: 0
        }
    );
    // With dedup, objects already queued (or repeated in the batch) are skipped.
    let second = store
        .insert_queue_items(
            &a,
            "q1",
            vec![
                queue_item("i4", "q1", "t1", 4),
                queue_item("i5", "q1", "t3", 4),
                queue_item("i6", "q1", "t3", 4),
                AnnotationQueueItem {
                    object_type: AnnotationObjectType::Session,
                    ..queue_item("i7", "q1", "t1", 5)
                },
            ],
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        second,
        QueueItemsInserted {
            inserted: 2,
            skipped: 2
        }
    );
    // The same object in another queue is not a duplicate.
    let other_queue = store
        .insert_queue_items(&a, "q2", vec![queue_item("j1", "q2", "t1", 1)], true)
        .await
        .unwrap();
    assert_eq!(other_queue.inserted, 1);
    // Item ids are unique in the project.
    match store
        .insert_queue_items(&a, "q2", vec![queue_item("i1", "q2", "t9", 1)], false)
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a taken item id must be a conflict, got {other:?}"),
    }

    let ids = |status: Option<AnnotationQueueStatus>| {
        let project = a.clone();
        async move {
            let result = stores
                .annotation_queues
                .list_queue_items(&project, "q1", status, page(1, 50))
                .await
                .unwrap();
            let ids: Vec<String> = result.items.iter().map(|i| i.id.clone()).collect();
            assert_eq!(result.total_items, ids.len() as u64);
            ids
        }
    };
    assert_eq!(ids(None).await, strs(&["i7", "i5", "i3", "i2", "i1"]));
    let page_two = store
        .list_queue_items(&a, "q1", None, page(2, 2))
        .await
        .unwrap();
    assert_eq!(page_two.total_items, 5);
    assert_eq!(page_two.items[0].id, "i3");

    let done_at = micros("2025-05-03T00:00:00Z");
    let done = store
        .set_queue_item_status(&a, "q1", "i2", AnnotationQueueStatus::Completed, done_at)
        .await
        .unwrap()
        .expect("item exists");
    assert_eq!(done.status, AnnotationQueueStatus::Completed);
    assert_eq!(done.completed_at, Some(done_at));
    assert_eq!(done.updated_at, done_at);
    assert_eq!(
        store.get_queue_item(&a, "q1", "i2").await.unwrap(),
        Some(done)
    );
    assert_eq!(
        ids(Some(AnnotationQueueStatus::Completed)).await,
        strs(&["i2"])
    );
    assert_eq!(
        ids(Some(AnnotationQueueStatus::Pending)).await,
        strs(&["i7", "i5", "i3", "i1"])
    );
    let reopened = store
        .set_queue_item_status(&a, "q1", "i2", AnnotationQueueStatus::Pending, done_at + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reopened.completed_at, None);

    // An item is only found through its own queue and project.
    assert_eq!(store.get_queue_item(&a, "q2", "i1").await.unwrap(), None);
    assert_eq!(store.get_queue_item(&b, "q1", "i1").await.unwrap(), None);
    assert_eq!(
        store
            .set_queue_item_status(&b, "q1", "i1", AnnotationQueueStatus::Completed, done_at)
            .await
            .unwrap(),
        None
    );
    assert!(!store.delete_queue_item(&b, "q1", "i1").await.unwrap());
    assert!(!store.delete_queue_item(&a, "q2", "i1").await.unwrap());
    assert!(store.delete_queue_item(&a, "q1", "i1").await.unwrap());
    assert!(!store.delete_queue_item(&a, "q1", "i1").await.unwrap());
    assert_eq!(ids(None).await, strs(&["i7", "i5", "i3", "i2"]));
    let of_b = store
        .list_queue_items(&b, "q1", None, page(1, 50))
        .await
        .unwrap();
    assert_eq!((of_b.items.len(), of_b.total_items), (0, 0));
}

pub async fn annotation_queue_item_locks(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let store = &stores.annotation_queues;
    store
        .insert_annotation_queue(&a, queue("q", "locks", 1))
        .await
        .unwrap();
    store
        .insert_queue_items(
            &a,
            "q",
            vec![
                queue_item("i1", "q", "t1", 1),
                queue_item("i2", "q", "t2", 2),
                queue_item("i3", "q", "t3", 3),
            ],
            false,
        )
        .await
        .unwrap();
    let now = micros("2025-06-01T12:00:00Z");
    let second = 1_000_000;

    let locked = match store
        .lock_queue_item(&a, "q", "i1", "ann", now, 300)
        .await
        .unwrap()
    {
        ItemLockOutcome::Done(item) => item,
        other => panic!("expected a lock, got {other:?}"),
    };
    let lock = locked.lock.clone().unwrap();
    assert_eq!(
        (lock.user_id.as_str(), lock.locked_at, lock.expires_at),
        ("ann", now, now + 300 * second)
    );
    assert_eq!(
        store.get_queue_item(&a, "q", "i1").await.unwrap(),
        Some(locked)
    );
    // Another user is refused while the lock lasts.
    match store
        .lock_queue_item(&a, "q", "i1", "bob", now + 10 * second, 300)
        .await
        .unwrap()
    {
        ItemLockOutcome::Held(held) => {
            assert_eq!(held.user_id, "ann");
            assert_eq!(held.expires_at, now + 300 * second);
        }
        other => panic!("expected the lock to be held, got {other:?}"),
    }
    assert!(matches!(
        store
            .unlock_queue_item(&a, "q", "i1", "bob", now + 10 * second)
            .await
            .unwrap(),
        ItemLockOutcome::Held(_)
    ));
    // Other projects and queues do not see the item.
    assert_eq!(
        store
            .lock_queue_item(&b, "q", "i1", "bob", now, 300)
            .await
            .unwrap(),
        ItemLockOutcome::NotFound
    );
    assert_eq!(
        store
            .lock_queue_item(&a, "other", "i1", "bob", now, 300)
            .await
            .unwrap(),
        ItemLockOutcome::NotFound
    );

    // "Next" skips items others hold and hands each user a different item.
    let next_bob = store
        .lock_next_queue_item(&a, "q", "bob", now + 20 * second, 300)
        .await
        .unwrap()
        .expect("a free item");
    assert_eq!(next_bob.id, "i2", "oldest free pending item");
    let again_bob = store
        .lock_next_queue_item(&a, "q", "bob", now + 21 * second, 300)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again_bob.id, "i2", "the item bob already has open");
    assert_eq!(
        again_bob.lock.unwrap().expires_at,
        now + 321 * second,
        "renewed"
    );
    let next_cy = store
        .lock_next_queue_item(&a, "q", "cy", now + 22 * second, 300)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_cy.id, "i3");
    assert_eq!(
        store
            .lock_next_queue_item(&a, "q", "dee", now + 23 * second, 300)
            .await
            .unwrap(),
        None,
        "every pending item is taken"
    );
    // Completing releases the lock and records the annotator.
    let completed = store
        .set_queue_item_status(
            &a,
            "q",
            "i3",
            AnnotationQueueStatus::Completed,
            now + 30 * second,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(completed.annotator_user_id.as_deref(), Some("cy"));
    assert_eq!(completed.lock, None);
    assert_eq!(
        store
            .lock_next_queue_item(&a, "q", "dee", now + 31 * second, 300)
            .await
            .unwrap(),
        None,
        "completed items are not handed out"
    );
    // The holder releases; expired locks free the item for others.
    match store
        .unlock_queue_item(&a, "q", "i2", "bob", now + 40 * second)
        .await
        .unwrap()
    {
        ItemLockOutcome::Done(item) => assert_eq!(item.lock, None),
        other => panic!("expected a release, got {other:?}"),
    }
    let after_expiry = now + 301 * second;
    let next_dee = store
        .lock_next_queue_item(&a, "q", "dee", after_expiry, 60)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_dee.id, "i1", "ann's lock expired");
    assert_eq!(next_dee.lock.unwrap().user_id, "dee");
}

pub async fn annotation_queue_assignments_are_idempotent(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let store = &stores.annotation_queues;
    store
        .insert_annotation_queue(&a, queue("q", "assigned", 1))
        .await
        .unwrap();
    let assign = |user: &str, second: u32| AnnotationQueueAssignment {
        queue_id: "q".into(),
        user_id: user.into(),
        created_at: micros(&format!("2025-05-05T00:00:{second:02}Z")),
    };
    let first = store
        .upsert_queue_assignment(&a, assign("u1", 1))
        .await
        .unwrap();
    assert_eq!(first, assign("u1", 1));
    let again = store
        .upsert_queue_assignment(&a, assign("u1", 9))
        .await
        .unwrap();
    assert_eq!(
        again,
        assign("u1", 1),
        "assigning again keeps the first assignment"
    );
    store
        .upsert_queue_assignment(&a, assign("u2", 2))
        .await
        .unwrap();
    assert_eq!(
        store.list_queue_assignments(&a, "q").await.unwrap(),
        vec![assign("u1", 1), assign("u2", 2)]
    );
    match store.upsert_queue_assignment(&b, assign("u1", 1)).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("another project's queue must be not found, got {other:?}"),
    }
    assert!(
        store
            .list_queue_assignments(&b, "q")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.delete_queue_assignment(&b, "q", "u1").await.unwrap());
    assert!(store.delete_queue_assignment(&a, "q", "u1").await.unwrap());
    assert!(!store.delete_queue_assignment(&a, "q", "u1").await.unwrap());
    assert_eq!(
        store.list_queue_assignments(&a, "q").await.unwrap(),
        vec![assign("u2", 2)]
    );
}
