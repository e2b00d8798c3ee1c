use serde_json::json;

use super::*;

fn batch(events: serde_json::Value) -> ValidatedBatch {
    validate_batch(&json!({ "batch": events }), AccessLevel::Project).unwrap()
}

#[test]
fn rejects_envelopes_that_are_not_batches() {
    for body in [
        json!([]),
        json!({"batch": {}}),
        json!({"nope": []}),
        json!("x"),
    ] {
        assert!(
            validate_batch(&body, AccessLevel::Project).is_err(),
            "{body}"
        );
    }
}

#[test]
fn one_bad_event_does_not_affect_the_others() {
    let result = batch(json!([
        {"id": "e1", "type": "trace-create", "timestamp": "2025-01-01T00:00:00Z", "body": {"id": "t1", "name": "ok"}},
        {"id": "e2", "type": "trace-create", "timestamp": "2025-01-01T00:00:00", "body": {"id": "t2"}},
        {"id": "e3", "type": "made-up", "timestamp": "2025-01-01T00:00:00Z", "body": {}},
        {"id": "e4", "type": "span-create", "timestamp": "2025-01-01T00:00:00Z", "body": {"id": "s1", "name": 42}},
        {"id": "x".repeat(801), "type": "trace-create", "timestamp": "2025-01-01T00:00:00Z", "body": {"id": "t3"}},
        {"id": "e6", "type": "sdk-log", "timestamp": "2025-01-01T00:00:00Z", "body": {"log": "hi"}},
        {"id": "e7", "type": "trace-create", "timestamp": "2025-01-01T00:00:00Z", "body": {"name": "no id"}},
        "not an object"
    ]));
    assert_eq!(result.events.len(), 1);
    assert_eq!(result.events[0].entity_id, "t1");
    assert_eq!(result.accepted_without_effect, vec!["e7"]);
    let ids: Vec<&str> = result
        .errors
        .iter()
        .map(|error| error.id.as_str())
        .collect();
    assert_eq!(ids, vec!["e2", "e3", "e4", "unknown", "unknown"]);
    assert!(result.errors.iter().all(|error| error.status == 400));
}

#[test]
fn normalises_observation_bodies() {
    let result = batch(json!([{
        "id": "e1", "type": "generation-create", "timestamp": "2025-01-01T00:00:00+01:00",
        "body": {"id": "g1", "traceId": "t1", "startTime": "2025-01-01T00:00:00.5Z", "environment": "langfuse-Prod",
                 "usage": {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7},
                 "costDetails": {"total": 0.5, "bad": -1}, "unknown": 1, "start_time": "x", "metadata": "plain"}
    }]));
    let event = &result.events[0];
    assert_eq!(
        event.timestamp,
        glassbox_model::time::parse_iso_with_offset("2024-12-31T23:00:00Z").unwrap()
    );
    assert_eq!(event.body["type"], json!("GENERATION"));
    assert_eq!(event.body["environment"], json!("prod"));
    assert_eq!(
        event.body["providedUsageDetails"],
        json!({"input": 3, "output": 4, "total": 7})
    );
    assert_eq!(event.body["providedCostDetails"], json!({"total": 0.5}));
    assert_eq!(event.body["metadata"], json!({"metadata": "plain"}));
    assert!(!event.body.contains_key("unknown") && !event.body.contains_key("start_time"));
}

#[test]
fn score_rules() {
    let score = |body: serde_json::Value| {
        batch(
            json!([{"id": "e", "type": "score-create", "timestamp": "2025-01-01T00:00:00Z", "body": body}]),
        )
    };
    assert_eq!(
        score(json!({"id": "s", "name": "n", "value": 1, "traceId": "t"}))
            .events
            .len(),
        1
    );
    assert_eq!(
        score(json!({"id": "s", "name": "n", "value": 1, "traceId": "t", "sessionId": "x"}))
            .errors
            .len(),
        1
    );
    assert_eq!(
        score(json!({"id": "s", "name": "n", "value": 1, "observationId": "o"}))
            .errors
            .len(),
        1
    );
    assert_eq!(
        score(json!({"id": "s", "name": "n", "value": "a", "traceId": "t", "dataType": "NUMERIC"}))
            .errors
            .len(),
        1
    );
    assert_eq!(
        score(json!({"id": "s", "name": "n", "value": 2, "traceId": "t", "dataType": "BOOLEAN"}))
            .errors
            .len(),
        1
    );
    assert_eq!(
        score(json!({"id": "s", "name": "n", "value": 1, "traceId": "t", "source": "ANNOTATION"}))
            .errors
            .len(),
        1
    );
    assert_eq!(
        score(json!({"id": "s", "name": "", "value": 1, "traceId": "t"}))
            .errors
            .len(),
        1
    );
}

#[test]
fn bearer_scope_only_allows_scores() {
    let result = validate_batch(
        &json!({"batch": [
            {"id": "e1", "type": "trace-create", "timestamp": "2025-01-01T00:00:00Z", "body": {"id": "t"}},
            {"id": "e2", "type": "score-create", "timestamp": "2025-01-01T00:00:00Z", "body": {"id": "s", "name": "n", "value": 1, "traceId": "t"}}
        ]}),
        AccessLevel::Scores,
    )
    .unwrap();
    assert_eq!(result.events.len(), 1);
    assert_eq!(result.errors[0].status, 401);
    assert_eq!(result.errors[0].error, "Access Scope Denied");
}

#[test]
fn prompt_link_needs_both_fields() {
    let result = batch(json!([
        {"id": "e1", "type": "generation-create", "timestamp": "2025-01-01T00:00:00Z", "body": {"id": "g", "promptName": "p"}},
        {"id": "e2", "type": "generation-create", "timestamp": "2025-01-01T00:00:00Z", "body": {"id": "g", "promptName": "p", "promptVersion": 2}}
    ]));
    assert_eq!(result.errors.len(), 1);
    assert_eq!(result.events[0].body["promptVersion"], json!(2));
}
