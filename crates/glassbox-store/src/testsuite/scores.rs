//! Conformance tests: Scores: lists, keyset pagination, and score configs (enforcement, updates, archive).

use super::*;

pub async fn list_scores_filters_order_and_trace_info(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T09:00:00Z",
             "body": {"id": "trace-1", "name": "chat", "userId": "user-1", "sessionId": "session-1",
                      "tags": ["prod"], "environment": "production"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T09:00:00Z",
             "body": {"id": "trace-2", "userId": "user-2"}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.9,
                      "comment": "good answer", "timestamp": "2025-03-01T10:00:00Z",
                      "environment": "production", "metadata": {"reviewer": "bot"}}},
            {"id": "e4", "type": "score-create", "timestamp": "2025-03-01T10:01:00Z",
             "body": {"id": "score-2", "traceId": "trace-1", "observationId": "obs-1", "name": "quality",
                      "value": 0.3, "source": "EVAL", "timestamp": "2025-03-01T10:01:00Z"}},
            {"id": "e5", "type": "score-create", "timestamp": "2025-03-01T10:02:00Z",
             "body": {"id": "score-3", "traceId": "trace-2", "name": "helpful", "value": 1,
                      "dataType": "BOOLEAN", "timestamp": "2025-03-01T10:02:00Z"}},
            {"id": "e6", "type": "score-create", "timestamp": "2025-03-01T10:03:00Z",
             "body": {"id": "score-4", "traceId": "trace-2", "name": "tone", "value": "friendly",
                      "timestamp": "2025-03-01T10:03:00Z"}},
            {"id": "e7", "type": "score-create", "timestamp": "2025-03-01T10:04:00Z",
             "body": {"id": "score-5", "sessionId": "session-1", "name": "session-rating", "value": 4,
                      "timestamp": "2025-03-01T10:04:00Z"}}
        ]),
    )
    .await;
    let q = ScoreQuery::default;
    let cases: Vec<(ScoreQuery, Vec<&str>)> = vec![
        (
            q(),
            vec!["score-5", "score-4", "score-3", "score-2", "score-1"],
        ),
        (
            ScoreQuery {
                ids: strs(&["score-1", "score-3"]),
                ..q()
            },
            vec!["score-3", "score-1"],
        ),
        (
            ScoreQuery {
                names: strs(&["quality"]),
                ..q()
            },
            vec!["score-2", "score-1"],
        ),
        (
            ScoreQuery {
                names: strs(&["quality"]),
                value: vec![ValueComparison::Gte(0.5)],
                ..q()
            },
            vec!["score-1"],
        ),
        (
            ScoreQuery {
                value: vec![ValueComparison::Gt(0.5), ValueComparison::Lt(2.0)],
                ..q()
            },
            vec!["score-3", "score-1"],
        ),
        (
            ScoreQuery {
                data_types: vec![ScoreDataType::Boolean],
                ..q()
            },
            vec!["score-3"],
        ),
        (
            ScoreQuery {
                string_values: strs(&["friendly"]),
                ..q()
            },
            vec!["score-4"],
        ),
        (
            ScoreQuery {
                user_id: Some("user-1".into()),
                ..q()
            },
            vec!["score-2", "score-1"],
        ),
        (
            ScoreQuery {
                trace_tags: strs(&["prod"]),
                ..q()
            },
            vec!["score-2", "score-1"],
        ),
        (
            ScoreQuery {
                sources: strs(&["EVAL"]),
                ..q()
            },
            vec!["score-2"],
        ),
        (
            ScoreQuery {
                environments: strs(&["production"]),
                ..q()
            },
            vec!["score-1"],
        ),
        (
            ScoreQuery {
                trace_ids: strs(&["trace-2"]),
                ..q()
            },
            vec!["score-4", "score-3"],
        ),
        (
            ScoreQuery {
                observation_ids: strs(&["obs-1"]),
                ..q()
            },
            vec!["score-2"],
        ),
        (
            ScoreQuery {
                session_ids: strs(&["session-1"]),
                ..q()
            },
            vec!["score-5"],
        ),
        (
            ScoreQuery {
                only_trace_targets: true,
                ..q()
            },
            vec!["score-4", "score-3", "score-2", "score-1"],
        ),
        (
            ScoreQuery {
                from_timestamp: Some(micros("2025-03-01T10:01:00Z")),
                to_timestamp: Some(micros("2025-03-01T10:03:00Z")),
                ..q()
            },
            vec!["score-3", "score-2"],
        ),
        (
            ScoreQuery {
                filters: filter(
                    r#"[{"column":"value","type":"number","operator":">","value":0.5}]"#,
                    SCORE_COLUMNS,
                ),
                ..q()
            },
            vec!["score-5", "score-3", "score-1"],
        ),
        (
            ScoreQuery {
                filters: filter(
                    r#"[{"column":"comment","type":"string","operator":"contains","value":"good"}]"#,
                    SCORE_COLUMNS,
                ),
                ..q()
            },
            vec!["score-1"],
        ),
        (
            ScoreQuery {
                filters: filter(
                    r#"[{"column":"trace_tags","type":"arrayOptions","operator":"any of","value":["prod"]},
                        {"column":"source","type":"stringOptions","operator":"any of","value":["API"]}]"#,
                    SCORE_COLUMNS,
                ),
                ..q()
            },
            vec!["score-1"],
        ),
        (
            ScoreQuery {
                filters: filter(
                    r#"[{"column":"metadata","type":"stringObject","key":"reviewer","operator":"=","value":"bot"}]"#,
                    SCORE_COLUMNS,
                ),
                ..q()
            },
            vec!["score-1"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            score_ids(stores, &a, &query).await,
            strs(&expected),
            "{query:?}"
        );
    }

    let last_page = stores
        .scores
        .list_scores(&a, &q(), page(3, 2))
        .await
        .unwrap();
    assert_eq!(last_page.total_items, 5);
    assert_eq!(last_page.items.len(), 1);
    assert_eq!(last_page.items[0].score.id, "score-1");

    let with_trace = get_score(stores, &a, "score-1").await;
    assert_eq!(with_trace.score.name, "quality");
    assert_eq!(with_trace.score.value, 0.9);
    assert_eq!(with_trace.score.data_type, ScoreDataType::Numeric);
    assert_eq!(with_trace.score.source, "API");
    assert_eq!(with_trace.score.comment.as_deref(), Some("good answer"));
    assert_eq!(with_trace.score.timestamp, micros("2025-03-01T10:00:00Z"));
    assert_eq!(
        Value::Object(with_trace.score.metadata.clone()),
        json!({"reviewer": "bot"})
    );
    assert_eq!(
        with_trace.trace,
        Some(ScoreTraceInfo {
            user_id: Some("user-1".into()),
            session_id: Some("session-1".into()),
            tags: strs(&["prod"]),
            environment: "production".into(),
            name: Some("chat".into()),
        })
    );
    let boolean = get_score(stores, &a, "score-3").await.score;
    assert_eq!(boolean.data_type, ScoreDataType::Boolean);
    assert_eq!(boolean.value, 1.0);
    assert_eq!(boolean.string_value.as_deref(), Some("True"));
    let categorical = get_score(stores, &a, "score-4").await.score;
    assert_eq!(categorical.data_type, ScoreDataType::Categorical);
    assert_eq!(categorical.string_value.as_deref(), Some("friendly"));
    let session_score = get_score(stores, &a, "score-5").await;
    assert_eq!(session_score.trace, None);
    assert_eq!(session_score.score.session_id.as_deref(), Some("session-1"));
    assert_eq!(session_score.score.trace_id, None);

    let of_trace: Vec<String> = stores
        .scores
        .scores_of_trace(&a, "trace-1")
        .await
        .unwrap()
        .into_iter()
        .map(|score| score.id)
        .collect();
    assert_eq!(
        of_trace,
        strs(&["score-2", "score-1"]),
        "observation scores included, newest first"
    );
    assert!(
        stores
            .scores
            .get_score(&a, "score-unknown")
            .await
            .unwrap()
            .is_none()
    );
}

async fn drain_scores(
    stores: &Stores,
    project: &ProjectId,
    query: &ScoreQuery,
    limit: u32,
) -> Vec<Score> {
    let mut all: Vec<Score> = Vec::new();
    let mut cursor: Option<ScoreCursor> = None;
    loop {
        let batch = stores
            .scores
            .list_scores_after(project, query, cursor.as_ref(), limit)
            .await
            .expect("list_scores_after");
        assert!(batch.len() <= limit as usize, "at most `limit` rows");
        let Some(last) = batch.last() else { break };
        cursor = Some(ScoreCursor {
            timestamp: last.score.timestamp,
            id: last.score.id.clone(),
        });
        all.extend(batch.into_iter().map(|item| item.score));
        assert!(all.len() <= 1_000, "keyset pagination must terminate");
    }
    all
}

pub async fn score_keyset_pagination_returns_every_row_once(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let mut batch = Vec::new();
    let mut expected: Vec<(Micros, String)> = Vec::new();
    for index in 0..11 {
        let id = format!("score-{index:02}");
        // Three timestamps shared by several scores.
        let timestamp = format!("2025-03-01T10:00:0{}Z", index % 3);
        let name = if index % 2 == 0 { "even" } else { "odd" };
        batch.push(
            json!({"id": format!("e-{id}"), "type": "score-create", "timestamp": timestamp,
                          "body": {"id": id, "traceId": "trace-1", "name": name, "value": index,
                                   "timestamp": timestamp}}),
        );
        expected.push((micros(&timestamp), id));
    }
    ingest_ok(stores, &a, Value::Array(batch)).await;
    expected.sort_by(|x, y| y.cmp(x));
    let expected_ids: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    for limit in [1, 3, 5, 11, 20] {
        let ids: Vec<String> = drain_scores(stores, &a, &ScoreQuery::default(), limit)
            .await
            .into_iter()
            .map(|score| score.id)
            .collect();
        assert_eq!(
            ids, expected_ids,
            "limit {limit}: every row once, timestamp desc, id desc"
        );
    }
    let odd = ScoreQuery {
        names: strs(&["odd"]),
        ..ScoreQuery::default()
    };
    let rows = drain_scores(stores, &a, &odd, 2).await;
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|score| score.name == "odd"));
    let listed = stores
        .scores
        .list_scores(&a, &ScoreQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|item| item.score.id.clone())
            .collect::<Vec<_>>(),
        expected_ids,
        "page listing uses the same order"
    );
}

pub(super) fn score_config(id: &str, name: &str, data_type: ScoreDataType) -> ScoreConfig {
    ScoreConfig {
        id: id.into(),
        name: name.into(),
        data_type,
        is_archived: false,
        min_value: None,
        max_value: None,
        categories: None,
        description: None,
        created_at: micros("2025-02-01T00:00:00Z"),
        updated_at: micros("2025-02-01T00:00:00Z"),
    }
}

pub async fn score_configs_are_enforced(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let accuracy = ScoreConfig {
        min_value: Some(0.0),
        max_value: Some(1.0),
        description: Some("share of correct facts".into()),
        ..score_config("cfg-accuracy", "accuracy", ScoreDataType::Numeric)
    };
    let tone = ScoreConfig {
        categories: Some(vec![
            ScoreCategory {
                label: "rude".into(),
                value: 0.0,
            },
            ScoreCategory {
                label: "friendly".into(),
                value: 2.0,
            },
        ]),
        ..score_config("cfg-tone", "tone", ScoreDataType::Categorical)
    };
    let archived = ScoreConfig {
        is_archived: true,
        ..score_config("cfg-old", "old", ScoreDataType::Numeric)
    };
    for config in [&accuracy, &tone, &archived] {
        stores
            .score_configs
            .insert_score_config(&a, config.clone())
            .await
            .unwrap();
    }
    match stores
        .score_configs
        .insert_score_config(&a, score_config("cfg-tone", "x", ScoreDataType::Text))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("an existing config id must be a conflict, got {other:?}"),
    }
    assert_eq!(
        stores
            .score_configs
            .get_score_config(&a, "cfg-accuracy")
            .await
            .unwrap(),
        Some(accuracy.clone())
    );
    assert_eq!(
        stores
            .score_configs
            .get_score_config(&a, "cfg-tone")
            .await
            .unwrap(),
        Some(tone.clone())
    );
    assert_eq!(
        stores
            .score_configs
            .get_score_config(&b, "cfg-tone")
            .await
            .unwrap(),
        None
    );

    let score = |event: &str, id: &str, extra: Value| {
        let mut body = json!({"id": id, "traceId": "trace-1", "name": "given-name"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        json!({"id": event, "type": "score-create", "timestamp": "2025-03-01T10:00:00Z", "body": body})
    };
    let outcomes = ingest(
        stores,
        &a,
        json!([
            score(
                "e1",
                "too-high",
                json!({"configId": "cfg-accuracy", "value": 1.5})
            ),
            score(
                "e2",
                "accurate",
                json!({"configId": "cfg-accuracy", "value": 0.75})
            ),
            score(
                "e3",
                "friendly",
                json!({"configId": "cfg-tone", "value": "friendly"})
            ),
            score(
                "e4",
                "unknown-label",
                json!({"configId": "cfg-tone", "value": "sarcastic"})
            ),
            score(
                "e5",
                "no-config",
                json!({"configId": "cfg-missing", "value": 1})
            ),
            score(
                "e6",
                "wrong-type",
                json!({"configId": "cfg-accuracy", "value": 1, "dataType": "BOOLEAN"})
            ),
            score("e7", "archived", json!({"configId": "cfg-old", "value": 1})),
        ]),
    )
    .await;
    let error = |index: usize| -> String {
        outcomes[index]
            .clone()
            .expect_err(&format!("event {index} must be rejected"))
    };
    assert!(
        error(0).contains("maximum") && error(0).contains("accuracy"),
        "{}",
        error(0)
    );
    assert!(outcomes[1].is_ok(), "{:?}", outcomes[1]);
    assert!(outcomes[2].is_ok(), "{:?}", outcomes[2]);
    assert!(
        error(3).contains("not a category") && error(3).contains("sarcastic"),
        "{}",
        error(3)
    );
    assert!(
        error(4).contains("does not exist") && error(4).contains("cfg-missing"),
        "{}",
        error(4)
    );
    assert!(error(5).contains("does not match"), "{}", error(5));
    assert!(error(6).contains("archived"), "{}", error(6));

    for rejected in [
        "too-high",
        "unknown-label",
        "no-config",
        "wrong-type",
        "archived",
    ] {
        assert!(
            stores
                .scores
                .get_score(&a, rejected)
                .await
                .unwrap()
                .is_none(),
            "rejected score `{rejected}` must not be stored"
        );
    }
    assert_eq!(
        set(&score_ids(stores, &a, &ScoreQuery::default()).await),
        set(&strs(&["accurate", "friendly"]))
    );

    let accurate = get_score(stores, &a, "accurate").await.score;
    assert_eq!(accurate.name, "accuracy", "the config names the score");
    assert_eq!(accurate.value, 0.75);
    assert_eq!(accurate.data_type, ScoreDataType::Numeric);
    assert_eq!(accurate.config_id.as_deref(), Some("cfg-accuracy"));
    let friendly = get_score(stores, &a, "friendly").await.score;
    assert_eq!(friendly.name, "tone");
    assert_eq!(friendly.data_type, ScoreDataType::Categorical);
    assert_eq!(friendly.string_value.as_deref(), Some("friendly"));
    assert_eq!(friendly.value, 2.0, "the category label maps to its value");
    assert_eq!(
        score_ids(
            stores,
            &a,
            &ScoreQuery {
                config_ids: strs(&["cfg-tone"]),
                ..ScoreQuery::default()
            }
        )
        .await,
        strs(&["friendly"])
    );

    // An update that breaks the config is rejected and the stored score stays as it was.
    let outcomes = ingest(
        stores,
        &a,
        json!([score(
            "e8",
            "accurate",
            json!({"configId": "cfg-accuracy", "value": -3,
                                             "metadata": {"from": "rejected event"}})
        )]),
    )
    .await;
    assert!(
        outcomes[0].as_ref().is_err_and(|e| e.contains("minimum")),
        "{outcomes:?}"
    );
    assert_eq!(get_score(stores, &a, "accurate").await.score, accurate);
    // The rejected event is not kept: a valid later update merges without it.
    ingest_ok(
        stores,
        &a,
        json!([score(
            "e9",
            "accurate",
            json!({"configId": "cfg-accuracy", "value": 0.5, "comment": "re-checked"})
        )]),
    )
    .await;
    let updated = get_score(stores, &a, "accurate").await.score;
    assert_eq!(updated.value, 0.5);
    assert_eq!(updated.comment.as_deref(), Some("re-checked"));
    assert!(
        updated.metadata.is_empty(),
        "nothing of the rejected event may be merged: {:?}",
        updated.metadata
    );

    // Configs are per project.
    let outcomes = ingest(
        stores,
        &b,
        json!([score(
            "e1",
            "accurate",
            json!({"configId": "cfg-accuracy", "value": 0.5})
        )]),
    )
    .await;
    assert!(
        outcomes[0]
            .as_ref()
            .is_err_and(|e| e.contains("does not exist")),
        "{outcomes:?}"
    );
    assert!(
        stores
            .scores
            .get_score(&b, "accurate")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn score_configs_list_update_and_archive(stores: &Stores) {
    use glassbox_model::score_configs::ScoreConfigPatch;
    let (a, b) = projects_a_b(stores).await;
    let configs = &stores.score_configs;
    let at = |second: u32| micros(&format!("2025-02-01T00:00:{second:02}Z"));
    for (id, second) in [("c-b", 1), ("c-a", 1), ("c-c", 2), ("c-d", 0)] {
        configs
            .insert_score_config(
                &a,
                ScoreConfig {
                    min_value: Some(0.0),
                    max_value: Some(10.0),
                    created_at: at(second),
                    updated_at: at(second),
                    ..score_config(id, &format!("name {id}"), ScoreDataType::Numeric)
                },
            )
            .await
            .unwrap();
    }
    let first_page = configs.list_score_configs(&a, page(1, 3)).await.unwrap();
    assert_eq!(first_page.total_items, 4);
    let ids: Vec<&str> = first_page.items.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["c-c", "c-a", "c-b"], "created desc, ties by id asc");
    let rest = configs.list_score_configs(&a, page(2, 3)).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].id, "c-d");
    let empty = configs.list_score_configs(&b, page(1, 50)).await.unwrap();
    assert_eq!((empty.items.len(), empty.total_items), (0, 0));

    // A valid patch is stored; untouched fields stay.
    let narrowed = ScoreConfigPatch {
        max_value: Some(Some(5.0)),
        description: Some(Some("now 0..5".into())),
        ..ScoreConfigPatch::default()
    };
    let updated = match configs
        .update_score_config(&a, "c-a", narrowed.clone(), at(30))
        .await
        .unwrap()
    {
        ScoreConfigUpdate::Updated(config) => config,
        other => panic!("expected an update, got {other:?}"),
    };
    assert_eq!(updated.max_value, Some(5.0));
    assert_eq!(updated.min_value, Some(0.0));
    assert_eq!(updated.created_at, at(1));
    assert_eq!(updated.updated_at, at(30));
    assert_eq!(
        configs.get_score_config(&a, "c-a").await.unwrap(),
        Some(updated.clone())
    );
    // A patch that breaks a rule changes nothing and says why.
    match configs
        .update_score_config(
            &a,
            "c-a",
            ScoreConfigPatch {
                min_value: Some(Some(7.0)),
                ..ScoreConfigPatch::default()
            },
            at(31),
        )
        .await
        .unwrap()
    {
        ScoreConfigUpdate::Rejected(reason) => assert!(reason.contains("minValue"), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        configs.get_score_config(&a, "c-a").await.unwrap(),
        Some(updated)
    );
    // Other projects cannot see or change the config.
    assert_eq!(
        configs
            .update_score_config(&b, "c-a", narrowed, at(32))
            .await
            .unwrap(),
        ScoreConfigUpdate::NotFound
    );
    assert_eq!(configs.get_score_config(&b, "c-a").await.unwrap(), None);

    // Scores written after the patch are checked against the new range.
    let score = |event: &str, id: &str, value: f64| {
        json!({"id": event, "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
               "body": {"id": id, "traceId": "t", "name": "n", "configId": "c-a", "value": value}})
    };
    let outcomes = ingest(
        stores,
        &a,
        json!([score("e1", "s-7", 7.0), score("e2", "s-4", 4.0)]),
    )
    .await;
    assert!(
        outcomes[0].as_ref().is_err_and(|e| e.contains("maximum 5")),
        "{outcomes:?}"
    );
    assert!(outcomes[1].is_ok(), "{outcomes:?}");
    // Archived: new scores are rejected; the stored one stays; unarchived: accepted again.
    let archive = |flag: bool| ScoreConfigPatch {
        is_archived: Some(flag),
        ..ScoreConfigPatch::default()
    };
    assert!(matches!(
        configs.update_score_config(&a, "c-a", archive(true), at(40)).await.unwrap(),
        ScoreConfigUpdate::Updated(ref config) if config.is_archived
    ));
    let outcomes = ingest(stores, &a, json!([score("e3", "s-3", 3.0)])).await;
    assert!(
        outcomes[0].as_ref().is_err_and(|e| e.contains("archived")),
        "{outcomes:?}"
    );
    assert!(stores.scores.get_score(&a, "s-4").await.unwrap().is_some());
    configs
        .update_score_config(&a, "c-a", archive(false), at(41))
        .await
        .unwrap();
    ingest_ok(stores, &a, json!([score("e4", "s-3", 3.0)])).await;
}
