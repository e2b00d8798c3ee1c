//! The filter translation on PostgreSQL: every column of every view with every filter
//! type it accepts runs (PostgreSQL checks types only when a statement runs), and the
//! translations and orders the conformance suite does not reach select the right rows.

use serde_json::{Value, json};

use glassbox_model::ProjectId;
use glassbox_model::filter::{
    Column, ColumnKind, OBSERVATION_COLUMNS, SCORE_COLUMNS, TRACE_COLUMNS, parse_filter,
};
use glassbox_store::testsuite::{ingest_ok, project};
use glassbox_store::{
    ObservationQuery, PageRequest, ScoreQuery, SortDirection, StoreError, Stores, TraceOrderColumn,
    TraceQuery,
};

use crate::tests::fresh_backend;

const ALL: PageRequest = PageRequest {
    page: 1,
    limit: 100,
};

async fn seed(stores: &Stores) -> ProjectId {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z", "name": "chat-bot",
                      "userId": "user-1", "sessionId": "session-1", "release": "1.0", "version": "v1",
                      "metadata": {"customer": "acme", "n": 3}, "tags": ["a", "b"], "public": true}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T11:00:00Z", "name": "search",
                      "tags": ["c"], "environment": "staging", "metadata": {"note": "nul\u{0}here"}}},
            {"id": "e3", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "gen-1", "traceId": "trace-1", "name": "llm", "model": "gpt-4o",
                      "startTime": "2025-03-01T10:00:00Z", "completionStartTime": "2025-03-01T10:00:01Z",
                      "endTime": "2025-03-01T10:00:04Z", "level": "ERROR", "statusMessage": "rate limited",
                      "metadata": {"step": "answer"}, "input": "question", "output": "answer",
                      "usageDetails": {"input": 100, "output": 20, "total": 120},
                      "costDetails": {"input": 0.1, "output": 0.2}}},
            {"id": "e4", "type": "span-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "span-1", "traceId": "trace-2", "name": "retrieve",
                      "startTime": "2025-03-01T11:00:00Z", "environment": "staging"}},
            {"id": "e5", "type": "score-create", "timestamp": "2025-03-01T10:01:00Z",
             "body": {"id": "score-num", "traceId": "trace-1", "observationId": "gen-1", "name": "quality",
                      "value": 0.8, "comment": "fine", "metadata": {"reviewer": "bot"}}},
            {"id": "e6", "type": "score-create", "timestamp": "2025-03-01T10:02:00Z",
             "body": {"id": "score-bool", "traceId": "trace-1", "name": "helpful", "value": 1,
                      "dataType": "BOOLEAN"}},
            {"id": "e7", "type": "score-create", "timestamp": "2025-03-01T11:01:00Z",
             "body": {"id": "score-cat", "traceId": "trace-2", "observationId": "span-1", "name": "tone",
                      "value": "friendly"}}
        ]),
    )
    .await;
    a
}

/// Every filter condition (as JSON) that `column` accepts.
fn conditions_for(column: &Column) -> Vec<Value> {
    let id = column.id;
    let strings = |key: Option<&str>| {
        let kind = if key.is_some() {
            "stringObject"
        } else {
            "string"
        };
        ["=", "contains", "does not contain", "starts with", "ends with"]
            .iter()
            .map(|operator| {
                json!({"column": id, "type": kind, "key": key, "operator": operator, "value": "a"})
            })
            .collect::<Vec<_>>()
    };
    let nulls = || {
        ["is null", "is not null"]
            .iter()
            .map(|operator| json!({"column": id, "type": "null", "operator": operator}))
            .collect::<Vec<_>>()
    };
    let mut conditions = match column.kind {
        ColumnKind::String => strings(None),
        ColumnKind::Options => {
            let mut list = strings(None);
            for operator in ["any of", "none of"] {
                list.push(json!({"column": id, "type": "stringOptions", "operator": operator, "value": ["a", "b"]}));
            }
            list
        }
        ColumnKind::Number => ["=", ">", "<", ">=", "<="]
            .iter()
            .map(|operator| json!({"column": id, "type": "number", "operator": operator, "value": 1.5}))
            .collect(),
        ColumnKind::Datetime => vec![
            json!({"column": id, "type": "datetime", "operator": ">=", "value": "2025-03-01T10:30:00Z"}),
        ],
        ColumnKind::Array => ["any of", "none of", "all of"]
            .iter()
            .map(|operator| json!({"column": id, "type": "arrayOptions", "operator": operator, "value": ["a", "b"]}))
            .collect(),
        ColumnKind::Object => strings(Some("customer")),
        ColumnKind::Boolean => ["=", "<>"]
            .iter()
            .map(|operator| json!({"column": id, "type": "boolean", "operator": operator, "value": true}))
            .collect(),
        ColumnKind::Scores => match id {
            "scores_avg" => vec![
                json!({"column": id, "type": "numberObject", "key": "quality", "operator": ">=", "value": 0.5}),
            ],
            "score_categories" => ["any of", "none of"]
                .iter()
                .map(|operator| json!({"column": id, "type": "categoryOptions", "key": "tone", "operator": operator, "value": ["friendly"]}))
                .collect(),
            _ => vec![
                json!({"column": id, "type": "booleanObject", "key": "helpful", "operator": "=", "value": true}),
            ],
        },
    };
    if column.kind != ColumnKind::Scores {
        conditions.extend(nulls());
    }
    conditions
}

#[tokio::test]
async fn every_filter_column_and_type_runs_on_postgres() {
    let (stores, _guard) = fresh_backend().await;
    let a = seed(&stores).await;
    for (view, columns) in [
        ("traces", TRACE_COLUMNS),
        ("observations", OBSERVATION_COLUMNS),
        ("scores", SCORE_COLUMNS),
    ] {
        for column in columns {
            for condition in conditions_for(column) {
                let text = json!([condition]).to_string();
                let filters = parse_filter(&text, columns)
                    .unwrap_or_else(|error| panic!("{view}: {text}: {error}"));
                let result: Result<u64, StoreError> = match view {
                    "traces" => {
                        let query = TraceQuery {
                            filters,
                            ..TraceQuery::default()
                        };
                        stores
                            .traces
                            .list_traces(&a, &query, ALL)
                            .await
                            .map(|page| page.total_items)
                    }
                    "observations" => {
                        let query = ObservationQuery {
                            filters,
                            ..ObservationQuery::default()
                        };
                        stores
                            .observations
                            .list_observations(&a, &query, ALL)
                            .await
                            .map(|page| page.total_items)
                    }
                    _ => {
                        let query = ScoreQuery {
                            filters,
                            ..ScoreQuery::default()
                        };
                        stores
                            .scores
                            .list_scores(&a, &query, ALL)
                            .await
                            .map(|page| page.total_items)
                    }
                };
                if let Err(error) = result {
                    panic!("{view}: {text}: {error}");
                }
            }
        }
    }
}

async fn traces_matching(stores: &Stores, a: &ProjectId, text: &str) -> Vec<String> {
    let query = TraceQuery {
        filters: parse_filter(text, TRACE_COLUMNS).expect("filter"),
        ..TraceQuery::default()
    };
    let page = stores
        .traces
        .list_traces(a, &query, ALL)
        .await
        .expect("list");
    assert_eq!(page.total_items, page.items.len() as u64, "{text}");
    page.items.into_iter().map(|item| item.trace.id).collect()
}

async fn observations_matching(stores: &Stores, a: &ProjectId, text: &str) -> Vec<String> {
    let query = ObservationQuery {
        filters: parse_filter(text, OBSERVATION_COLUMNS).expect("filter"),
        ..ObservationQuery::default()
    };
    let page = stores
        .observations
        .list_observations(a, &query, ALL)
        .await
        .expect("list");
    page.items.into_iter().map(|item| item.id).collect()
}

async fn scores_matching(stores: &Stores, a: &ProjectId, text: &str) -> Vec<String> {
    let query = ScoreQuery {
        filters: parse_filter(text, SCORE_COLUMNS).expect("filter"),
        ..ScoreQuery::default()
    };
    let page = stores
        .scores
        .list_scores(a, &query, ALL)
        .await
        .expect("list");
    page.items.into_iter().map(|item| item.score.id).collect()
}

#[tokio::test]
async fn filter_translations_select_the_right_rows() {
    let (stores, _guard) = fresh_backend().await;
    let a = seed(&stores).await;
    let trace_cases: &[(&str, &[&str])] = &[
        (
            r#"[{"column":"name","type":"string","operator":"ends with","value":"-bot"}]"#,
            &["trace-1"],
        ),
        (
            r#"[{"column":"name","type":"string","operator":"does not contain","value":"chat"}]"#,
            &["trace-2"],
        ),
        (
            r#"[{"column":"userId","type":"null","operator":"is null"}]"#,
            &["trace-2"],
        ),
        (
            r#"[{"column":"name","type":"stringOptions","operator":"none of","value":["search"]}]"#,
            &["trace-1"],
        ),
        (
            r#"[{"column":"public","type":"boolean","operator":"=","value":true}]"#,
            &["trace-1"],
        ),
        (
            r#"[{"column":"errorCount","type":"number","operator":">=","value":1}]"#,
            &["trace-1"],
        ),
        (
            r#"[{"column":"level","type":"stringOptions","operator":"any of","value":["ERROR"]}]"#,
            &["trace-1"],
        ),
        (
            r#"[{"column":"totalTokens","type":"number","operator":"=","value":120}]"#,
            &["trace-1"],
        ),
        (
            r#"[{"column":"inputCost","type":"number","operator":">","value":0.05}]"#,
            &["trace-1"],
        ),
        (
            r#"[{"column":"metadata","type":"stringObject","key":"n","operator":"=","value":"3"}]"#,
            &["trace-1"],
        ),
        (
            // A NUL character in stored JSON must not break the query.
            r#"[{"column":"metadata","type":"stringObject","key":"note","operator":"contains","value":"here"}]"#,
            &["trace-2"],
        ),
        (
            r#"[{"column":"score_categories","type":"categoryOptions","key":"tone","operator":"any of","value":["friendly"]}]"#,
            &["trace-2"],
        ),
        (
            r#"[{"column":"score_booleans","type":"booleanObject","key":"helpful","operator":"=","value":true}]"#,
            &["trace-1"],
        ),
        (
            r#"[{"column":"timestamp","type":"datetime","operator":">=","value":"2025-03-01T10:30:00Z"}]"#,
            &["trace-2"],
        ),
    ];
    for (text, expected) in trace_cases {
        assert_eq!(
            traces_matching(&stores, &a, text).await,
            *expected,
            "{text}"
        );
    }
    let observation_cases: &[(&str, &[&str])] = &[
        (
            r#"[{"column":"timeToFirstToken","type":"number","operator":"=","value":1}]"#,
            &["gen-1"],
        ),
        (
            r#"[{"column":"latency","type":"number","operator":">","value":3.5}]"#,
            &["gen-1"],
        ),
        (
            r#"[{"column":"outputTokens","type":"number","operator":"=","value":20}]"#,
            &["gen-1"],
        ),
        (
            r#"[{"column":"traceTags","type":"arrayOptions","operator":"none of","value":["a"]}]"#,
            &["span-1"],
        ),
        (
            r#"[{"column":"scores_avg","type":"numberObject","key":"quality","operator":">","value":0.5}]"#,
            &["gen-1"],
        ),
        (
            r#"[{"column":"statusMessage","type":"string","operator":"contains","value":"limit"}]"#,
            &["gen-1"],
        ),
    ];
    for (text, expected) in observation_cases {
        assert_eq!(
            observations_matching(&stores, &a, text).await,
            *expected,
            "{text}"
        );
    }
    let score_cases: &[(&str, &[&str])] = &[
        (
            r#"[{"column":"booleanValue","type":"boolean","operator":"=","value":true}]"#,
            &["score-bool"],
        ),
        (
            r#"[{"column":"evaluatorId","type":"null","operator":"is null"}]"#,
            &["score-cat", "score-bool", "score-num"],
        ),
        (
            r#"[{"column":"trace_tags","type":"arrayOptions","operator":"all of","value":["a","b"]}]"#,
            &["score-bool", "score-num"],
        ),
        (
            r#"[{"column":"metadata","type":"stringObject","key":"reviewer","operator":"starts with","value":"bo"}]"#,
            &["score-num"],
        ),
        (
            r#"[{"column":"dataType","type":"stringOptions","operator":"any of","value":["CATEGORICAL"]}]"#,
            &["score-cat"],
        ),
    ];
    for (text, expected) in score_cases {
        assert_eq!(
            scores_matching(&stores, &a, text).await,
            *expected,
            "{text}"
        );
    }
}

#[tokio::test]
async fn trace_order_puts_nulls_lowest_like_the_embedded_backend() {
    let (stores, _guard) = fresh_backend().await;
    let a = seed(&stores).await;
    for (direction, expected) in [
        (SortDirection::Asc, ["trace-2", "trace-1"]),
        (SortDirection::Desc, ["trace-1", "trace-2"]),
    ] {
        let query = TraceQuery {
            order: (TraceOrderColumn::UserId, direction),
            ..TraceQuery::default()
        };
        let page = stores
            .traces
            .list_traces(&a, &query, ALL)
            .await
            .expect("list");
        let ids: Vec<&str> = page
            .items
            .iter()
            .map(|item| item.trace.id.as_str())
            .collect();
        assert_eq!(ids, expected, "user id {direction:?}");
    }
}
