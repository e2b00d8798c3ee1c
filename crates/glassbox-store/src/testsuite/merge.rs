//! Conformance tests: Merge rules of repeated ingestion events: order independence, replays, nulls, maps.

use super::*;

pub async fn ingest_of_nothing_returns_no_outcomes(stores: &Stores) {
    let a = project(stores, "project-a").await;
    assert!(
        stores
            .ingest
            .ingest(&a, Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(trace_ids(stores, &a, &TraceQuery::default()).await.len(), 0);
}

pub async fn merge_update_before_create_gives_the_same_observation(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let create = json!([{
        "id": "evt-create", "type": "span-create", "timestamp": "2025-03-01T10:00:00.000Z",
        "body": {"id": "span-1", "traceId": "trace-1", "name": "retrieve",
                 "startTime": "2025-03-01T10:00:00.000Z", "input": {"query": "weather in Paris"},
                 "metadata": {"retriever": "bm25"}, "environment": "production", "version": "v1"}
    }]);
    let update = json!([{
        "id": "evt-update", "type": "span-update", "timestamp": "2025-03-01T10:00:05.000Z",
        "body": {"id": "span-1", "traceId": "trace-1", "name": "retrieve-documents",
                 "endTime": "2025-03-01T10:00:04.250Z", "output": {"documents": 3},
                 "metadata": {"hits": 3}, "level": "WARNING", "statusMessage": "slow index",
                 "environment": "staging"}
    }]);
    // Project A: create, then update. Project B: update, then create.
    ingest_ok(stores, &a, create.clone()).await;
    ingest_ok(stores, &a, update.clone()).await;
    ingest_ok(stores, &b, update).await;
    let early = get_observation(stores, &b, "span-1").await;
    assert_eq!(early.name.as_deref(), Some("retrieve-documents"));
    assert_eq!(early.output, Some(json!({"documents": 3})));
    ingest_ok(stores, &b, create).await;

    let in_order = get_observation(stores, &a, "span-1").await;
    let reversed = get_observation(stores, &b, "span-1").await;
    assert_eq!(
        observation_without_times(in_order.clone()),
        observation_without_times(reversed)
    );
    assert_eq!(in_order.trace_id, "trace-1");
    assert_eq!(in_order.r#type, "SPAN");
    assert_eq!(in_order.name.as_deref(), Some("retrieve-documents"));
    assert_eq!(in_order.start_time, micros("2025-03-01T10:00:00Z"));
    assert_eq!(in_order.end_time, Some(micros("2025-03-01T10:00:04.250Z")));
    assert_eq!(in_order.input, Some(json!({"query": "weather in Paris"})));
    assert_eq!(in_order.output, Some(json!({"documents": 3})));
    assert_eq!(
        Value::Object(in_order.metadata),
        json!({"retriever": "bm25", "hits": 3})
    );
    assert_eq!(in_order.level, "WARNING");
    assert_eq!(in_order.status_message.as_deref(), Some("slow index"));
    assert_eq!(in_order.version.as_deref(), Some("v1"));
    assert_eq!(
        in_order.environment, "production",
        "environment is immutable"
    );
}

pub async fn merge_null_clears_and_empty_object_keeps(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "name": "chat", "userId": "user-1", "sessionId": "session-1",
                      "release": "2025.3", "version": "v1", "metadata": {"customer": "acme"}}},
            {"id": "e2", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "gen-1", "traceId": "trace-1", "name": "llm", "model": "gpt-4o",
                      "modelParameters": {"temperature": 0.2}, "statusMessage": "retrying",
                      "metadata": {"attempt": 1}}}
        ]),
    )
    .await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "trace-1", "userId": null, "release": null, "metadata": {}}},
            {"id": "e4", "type": "generation-update", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "gen-1", "traceId": "trace-1", "modelParameters": {},
                      "statusMessage": null, "metadata": {}}}
        ]),
    )
    .await;
    let trace = get_trace(stores, &a, "trace-1").await.trace;
    assert_eq!(trace.user_id, None, "null clears");
    assert_eq!(trace.release, None, "null clears");
    assert_eq!(trace.name.as_deref(), Some("chat"), "absent keeps");
    assert_eq!(
        trace.session_id.as_deref(),
        Some("session-1"),
        "absent keeps"
    );
    assert_eq!(trace.version.as_deref(), Some("v1"), "absent keeps");
    assert_eq!(
        Value::Object(trace.metadata),
        json!({"customer": "acme"}),
        "{{}} keeps"
    );
    let generation = get_observation(stores, &a, "gen-1").await;
    assert_eq!(generation.status_message, None, "null clears");
    assert_eq!(
        generation.model_parameters,
        Some(json!({"temperature": 0.2})),
        "{{}} keeps"
    );
    assert_eq!(generation.model.as_deref(), Some("gpt-4o"), "absent keeps");
    assert_eq!(generation.name.as_deref(), Some("llm"));
    assert_eq!(Value::Object(generation.metadata), json!({"attempt": 1}));
    assert_eq!(generation.r#type, "GENERATION");
}

pub async fn merge_tags_union_metadata_deep_merge_immutable_fields(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
                "body": {"id": "trace-1", "timestamp": "2025-03-01T09:59:59.500Z",
                         "environment": "production", "tags": ["beta", "api"],
                         "metadata": {"request": {"region": "eu", "retries": 0}, "customer": "acme"}}}]),
    )
    .await;
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T10:00:02Z",
                "body": {"id": "trace-1", "timestamp": "2025-03-02T00:00:00Z",
                         "environment": "staging", "tags": ["api", "Alpha", "zeta"],
                         "metadata": {"request": {"retries": 2, "latencyMs": 120}, "plan": "pro"}}}]),
    )
    .await;
    let trace = get_trace(stores, &a, "trace-1").await.trace;
    assert_eq!(
        trace.tags,
        strs(&["Alpha", "api", "beta", "zeta"]),
        "tags are a sorted set union"
    );
    assert_eq!(
        Value::Object(trace.metadata),
        json!({"request": {"region": "eu", "retries": 2, "latencyMs": 120},
               "customer": "acme", "plan": "pro"}),
        "metadata is deep-merged"
    );
    assert_eq!(
        trace.timestamp,
        micros("2025-03-01T09:59:59.500Z"),
        "timestamp is immutable"
    );
    assert_eq!(trace.environment, "production", "environment is immutable");

    // A trace without a body timestamp takes the envelope timestamp of its first event.
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e3", "type": "trace-create", "timestamp": "2025-03-05T08:00:00Z",
                "body": {"id": "trace-2", "name": "no timestamp"}}]),
    )
    .await;
    let trace = get_trace(stores, &a, "trace-2").await.trace;
    assert_eq!(trace.timestamp, micros("2025-03-05T08:00:00Z"));
    assert_eq!(trace.environment, "default");
    assert!(trace.tags.is_empty());
    assert!(!trace.public && !trace.bookmarked);
}

pub async fn merge_input_output_take_the_latest_truthy_value(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let steps = [
        json!({"input": "What is 2 + 2?", "output": null}),
        json!({"output": "4"}),
        json!({"input": "", "output": null}),
        json!({"output": false}),
    ];
    for (index, body) in steps.iter().enumerate() {
        let mut body = body.clone();
        body["id"] = json!("trace-1");
        ingest_ok(
            stores,
            &a,
            json!([{"id": format!("e{index}"), "type": "trace-create",
                    "timestamp": format!("2025-03-01T10:00:0{index}Z"), "body": body}]),
        )
        .await;
    }
    let trace = get_trace(stores, &a, "trace-1").await.trace;
    assert_eq!(trace.input, Some(json!("What is 2 + 2?")));
    assert_eq!(trace.output, Some(json!("4")));

    ingest_ok(
        stores,
        &a,
        json!([{"id": "e9", "type": "trace-create", "timestamp": "2025-03-01T10:00:09Z",
                "body": {"id": "trace-1", "input": {"messages": [{"role": "user", "content": "2+2?"}]}}}]),
    )
    .await;
    let trace = get_trace(stores, &a, "trace-1").await.trace;
    assert_eq!(
        trace.input,
        Some(json!({"messages": [{"role": "user", "content": "2+2?"}]}))
    );
    assert_eq!(trace.output, Some(json!("4")));

    // Observations follow the same rule.
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "o1", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "span-1", "traceId": "trace-1", "input": ["a", "b"], "output": "first"}},
            {"id": "o2", "type": "span-update", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "span-1", "traceId": "trace-1", "input": null, "output": 0}},
            {"id": "o3", "type": "span-update", "timestamp": "2025-03-01T10:00:02Z",
             "body": {"id": "span-1", "traceId": "trace-1", "output": 42}}
        ]),
    )
    .await;
    let span = get_observation(stores, &a, "span-1").await;
    assert_eq!(span.input, Some(json!(["a", "b"])));
    assert_eq!(span.output, Some(json!(42)));
}

pub async fn merge_usage_and_cost_maps_are_replaced_as_a_whole(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e1", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
                "body": {"id": "gen-1", "traceId": "trace-1", "model": "gpt-4o",
                         "usage": {"input": 10, "output": 20, "total": 30, "unit": "TOKENS"},
                         "costDetails": {"input": 0.01, "output": 0.02}}}]),
    )
    .await;
    let generation = get_observation(stores, &a, "gen-1").await;
    assert_eq!(
        Value::Object(generation.usage_details.clone()),
        json!({"input": 10, "output": 20, "total": 30})
    );
    assert_close(
        generation.total_cost.expect("cost derived"),
        0.03,
        "total cost",
    );

    ingest_ok(
        stores,
        &a,
        json!([{"id": "e2", "type": "generation-update", "timestamp": "2025-03-01T10:00:01Z",
                "body": {"id": "gen-1", "traceId": "trace-1",
                         "usageDetails": {"input": 5}, "costDetails": {"total": 0.5}}}]),
    )
    .await;
    // A third update without usage keeps the latest maps.
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e3", "type": "generation-update", "timestamp": "2025-03-01T10:00:02Z",
                "body": {"id": "gen-1", "traceId": "trace-1", "output": "done"}}]),
    )
    .await;
    let generation = get_observation(stores, &a, "gen-1").await;
    assert_eq!(
        Value::Object(generation.provided_usage_details),
        json!({"input": 5})
    );
    assert_eq!(
        Value::Object(generation.usage_details),
        json!({"input": 5, "total": 5}),
        "usage is replaced as a whole, not merged key by key"
    );
    assert_eq!(
        Value::Object(generation.provided_cost_details),
        json!({"total": 0.5})
    );
    assert_eq!(
        Value::Object(generation.cost_details),
        json!({"total": 0.5})
    );
    assert_eq!(generation.total_cost, Some(0.5));
    assert_eq!(generation.output, Some(json!("done")));
}

pub async fn replaying_an_event_id_is_a_no_op(stores: &Stores) {
    let a = project(stores, "project-a").await;
    // Two events with the same envelope timestamp and kind: arrival order decides.
    let first = json!({"id": "evt-1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
                       "body": {"id": "trace-1", "name": "first", "tags": ["a"]}});
    let second = json!({"id": "evt-2", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
                        "body": {"id": "trace-1", "name": "second", "tags": ["b"]}});
    let span_create = json!({"id": "evt-3", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
                             "body": {"id": "span-1", "traceId": "trace-1", "name": "first",
                                      "startTime": "2025-03-01T10:00:00Z"}});
    let span_update = json!({"id": "evt-4", "type": "span-update", "timestamp": "2025-03-01T10:00:00Z",
                             "body": {"id": "span-1", "traceId": "trace-1", "name": "second"}});
    let span_update_2 = json!({"id": "evt-5", "type": "span-update", "timestamp": "2025-03-01T10:00:00Z",
                               "body": {"id": "span-1", "traceId": "trace-1", "name": "third"}});
    let score = json!({"id": "evt-6", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
                       "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.5}});
    let score_2 = json!({"id": "evt-7", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
                         "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.75}});
    let whole_batch = json!([
        first,
        second,
        span_create,
        span_update,
        span_update_2,
        score,
        score_2
    ]);
    ingest_ok(stores, &a, whole_batch.clone()).await;
    let trace = get_trace(stores, &a, "trace-1").await;
    let span = get_observation(stores, &a, "span-1").await;
    let stored_score = get_score(stores, &a, "score-1").await;
    assert_eq!(trace.trace.name.as_deref(), Some("second"));
    assert_eq!(trace.trace.tags, strs(&["a", "b"]));
    assert_eq!(span.name.as_deref(), Some("third"));
    assert_eq!(stored_score.score.value, 0.75);

    // Replay single events: a replay keeps its place in the merge order (arrival order
    // breaks ties of equal timestamps) and changes nothing, not even `updated_at`.
    ingest_ok(stores, &a, json!([first])).await;
    ingest_ok(stores, &a, json!([span_update])).await;
    ingest_ok(stores, &a, json!([score])).await;
    assert_eq!(get_trace(stores, &a, "trace-1").await, trace);
    assert_eq!(get_observation(stores, &a, "span-1").await, span);
    assert_eq!(get_score(stores, &a, "score-1").await, stored_score);
    // Then the whole batch again.
    ingest_ok(stores, &a, whole_batch).await;
    assert_eq!(get_trace(stores, &a, "trace-1").await, trace);
    assert_eq!(get_observation(stores, &a, "span-1").await, span);
    assert_eq!(get_score(stores, &a, "score-1").await, stored_score);
    assert_eq!(trace_ids(stores, &a, &TraceQuery::default()).await.len(), 1);
    assert_eq!(
        observation_ids(stores, &a, &ObservationQuery::default())
            .await
            .len(),
        1
    );
    assert_eq!(score_ids(stores, &a, &ScoreQuery::default()).await.len(), 1);
}

pub async fn merge_is_independent_of_arrival_order_across_calls(stores: &Stores) {
    let trace_events = [
        json!({"id": "t-e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
               "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z", "name": "draft",
                        "userId": "user-1", "tags": ["x"], "metadata": {"m": {"p": 1}},
                        "input": "question", "environment": "production"}}),
        json!({"id": "t-e2", "type": "trace-create", "timestamp": "2025-03-01T10:00:01Z",
               "body": {"id": "trace-1", "name": "final", "userId": null, "tags": ["y"],
                        "metadata": {"m": {"q": 2}}, "output": "answer", "environment": "dev"}}),
        json!({"id": "t-e3", "type": "trace-create", "timestamp": "2025-03-01T10:00:02Z",
               "body": {"id": "trace-1", "release": "r7", "tags": ["x", "z"], "metadata": {"n": 1},
                        "public": true}}),
        json!({"id": "o-e1", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
               "body": {"id": "gen-1", "traceId": "trace-1", "startTime": "2025-03-01T10:00:00Z",
                        "model": "gpt-4o-mini", "usage": {"input": 7, "output": 3}}}),
        json!({"id": "o-e2", "type": "generation-update", "timestamp": "2025-03-01T10:00:03Z",
               "body": {"id": "gen-1", "traceId": "trace-1", "endTime": "2025-03-01T10:00:03Z",
                        "completionStartTime": "2025-03-01T10:00:01Z", "output": "answer",
                        "costDetails": {"total": 0.25}}}),
    ];
    let orders: [&[usize]; 3] = [&[0, 1, 2, 3, 4], &[4, 2, 1, 3, 0], &[1, 4, 0, 2, 3]];
    let mut results = Vec::new();
    for (index, order) in orders.iter().enumerate() {
        let project = project(stores, &format!("project-order-{index}")).await;
        for position in order.iter() {
            ingest_ok(stores, &project, json!([trace_events[*position].clone()])).await;
        }
        let trace = get_trace(stores, &project, "trace-1").await;
        let generation = get_observation(stores, &project, "gen-1").await;
        results.push((trace, generation));
    }
    let (trace, generation) = &results[0];
    for (other_trace, other_generation) in &results[1..] {
        assert_eq!(
            trace_without_times(other_trace.trace.clone()),
            trace_without_times(trace.trace.clone())
        );
        assert_eq!(other_trace.observation_ids, trace.observation_ids);
        assert_eq!(other_trace.total_cost, trace.total_cost);
        assert_eq!(other_trace.latency_seconds, trace.latency_seconds);
        assert_eq!(
            observation_without_times(other_generation.clone()),
            observation_without_times(generation.clone())
        );
    }
    let merged = &trace.trace;
    assert_eq!(merged.name.as_deref(), Some("final"));
    assert_eq!(merged.user_id, None);
    assert_eq!(merged.release.as_deref(), Some("r7"));
    assert_eq!(merged.tags, strs(&["x", "y", "z"]));
    assert_eq!(
        Value::Object(merged.metadata.clone()),
        json!({"m": {"p": 1, "q": 2}, "n": 1})
    );
    assert_eq!(merged.input, Some(json!("question")));
    assert_eq!(merged.output, Some(json!("answer")));
    assert_eq!(merged.environment, "production");
    assert_eq!(merged.timestamp, micros("2025-03-01T10:00:00Z"));
    assert!(merged.public);
    assert_eq!(generation.start_time, micros("2025-03-01T10:00:00Z"));
    assert_eq!(generation.end_time, Some(micros("2025-03-01T10:00:03Z")));
    assert_eq!(
        generation.completion_start_time,
        Some(micros("2025-03-01T10:00:01Z"))
    );
    assert_eq!(
        Value::Object(generation.usage_details.clone()),
        json!({"input": 7, "output": 3, "total": 10})
    );
    assert_eq!(generation.total_cost, Some(0.25));
    assert_eq!(trace.observation_ids, strs(&["gen-1"]));
    assert_close(trace.latency_seconds, 3.0, "latency");
}

pub async fn batch_outcomes_are_per_event_and_in_order(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let outcomes = ingest(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "name": "ok"}},
            {"id": "e2", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "score-bad", "traceId": "trace-1", "name": "quality", "value": 1,
                      "configId": "missing-config"}},
            {"id": "e3", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "span-1", "traceId": "trace-1"}},
            {"id": "e4", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "score-ok", "traceId": "trace-1", "name": "quality", "value": 1}}
        ]),
    )
    .await;
    assert!(outcomes[0].is_ok());
    let error = outcomes[1].as_ref().expect_err("a missing config rejects");
    assert!(error.contains("missing-config"), "{error}");
    assert!(outcomes[2].is_ok());
    assert!(outcomes[3].is_ok());
    let trace = get_trace(stores, &a, "trace-1").await;
    assert_eq!(trace.observation_ids, strs(&["span-1"]));
    assert_eq!(trace.score_ids, strs(&["score-ok"]));
    assert!(
        stores
            .scores
            .get_score(&a, "score-bad")
            .await
            .unwrap()
            .is_none()
    );
}
