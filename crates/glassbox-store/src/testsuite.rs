//! The backend conformance suite: behaviour every backend must show through the store
//! traits, and nothing else (no SQL, no backend types), so that the embedded SQLite
//! backend and a PostgreSQL backend run the very same checks.
//!
//! Every test is a public async function taking a fresh, empty [`Stores`]. A backend
//! crate runs them all with [`conformance_suite!`](crate::conformance_suite):
//!
//! ```ignore
//! async fn fresh_backend() -> (glassbox_store::Stores, tempfile::TempDir) { ... }
//! glassbox_store::conformance_suite!(fresh_backend());
//! ```
//!
//! Events are built from Langfuse wire JSON through `glassbox_ingest::validate_batch`, so
//! the suite exercises exactly what the HTTP ingestion path hands to a store.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use glassbox_ingest::validate_batch;
use glassbox_model::filter::{
    Column, FilterCondition, OBSERVATION_COLUMNS, SCORE_COLUMNS, TRACE_COLUMNS, parse_filter,
};
use glassbox_model::ingest::IngestEvent;
use glassbox_model::time::parse_iso_with_offset;
use glassbox_model::{
    AccessLevel, ApiKey, JsonObject, Micros, Observation, Organization, Project, ProjectId, Role,
    Score, ScoreCategory, ScoreConfig, ScoreDataType, Trace, User,
};

use super::*;

/// Generates one `#[tokio::test]` per conformance test. `$factory` is an expression,
/// evaluated afresh for every test, whose value is a future of `(Stores, Guard)`: a new
/// empty backend plus whatever must live as long as the test (a temporary directory, a
/// database handle). The stores are dropped before the guard.
///
/// The invoking crate needs `tokio` (with `macros` and `rt`) among its dependencies.
#[macro_export]
macro_rules! conformance_suite {
    (@tests ($factory:expr); $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let fixture = $factory.await;
                $crate::testsuite::$name(&fixture.0).await;
                // Stores first (stops the backend), then the guard.
                drop(fixture);
            }
        )*
    };
    ($factory:expr) => {
        $crate::conformance_suite!(@tests ($factory);
            admin_is_empty_and_ensure_are_idempotent,
            admin_api_keys_conflict_find_list_delete,
            admin_users_and_roles,
            ingest_of_nothing_returns_no_outcomes,
            merge_update_before_create_gives_the_same_observation,
            merge_null_clears_and_empty_object_keeps,
            merge_tags_union_metadata_deep_merge_immutable_fields,
            merge_input_output_take_the_latest_truthy_value,
            merge_usage_and_cost_maps_are_replaced_as_a_whole,
            replaying_an_event_id_is_a_no_op,
            merge_is_independent_of_arrival_order_across_calls,
            batch_outcomes_are_per_event_and_in_order,
            trace_stats_observation_ids_cost_and_latency,
            list_traces_order,
            list_traces_pages_and_total_items,
            list_traces_simple_filters,
            list_traces_advanced_filters,
            list_observations_filters_order_and_pages,
            observation_keyset_pagination_returns_every_row_once,
            list_scores_filters_order_and_trace_info,
            score_keyset_pagination_returns_every_row_once,
            score_configs_are_enforced,
            sessions_come_from_traces,
            delete_traces_removes_observations_scores_and_events,
            delete_score_removes_only_that_score,
            project_scoping_hides_data_from_other_projects,
            same_ids_in_two_projects_are_independent,
            media_create_or_get_dedups_by_hash,
            media_upload_stores_the_blob_and_marks_the_record,
            media_rejected_upload_stores_nothing,
            media_is_scoped_by_project,
        );
    };
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const ORG: &str = "org-conformance";

/// Microseconds of an ISO-8601 datetime with an offset.
pub fn micros(iso: &str) -> Micros {
    parse_iso_with_offset(iso).unwrap_or_else(|| panic!("bad test datetime `{iso}`"))
}

/// Creates the test organization (once) and the project, and returns the project id.
pub async fn project(stores: &Stores, id: &str) -> ProjectId {
    stores
        .admin
        .ensure_organization(Organization {
            id: ORG.into(),
            name: "Conformance".into(),
            created_at: micros("2025-01-01T00:00:00Z"),
        })
        .await
        .expect("ensure_organization");
    let project_id = ProjectId(id.to_owned());
    stores
        .admin
        .ensure_project(Project {
            id: project_id.clone(),
            org_id: ORG.into(),
            name: format!("Project {id}"),
            retention_days: None,
            metadata: Default::default(),
            created_at: micros("2025-01-01T00:00:00Z"),
        })
        .await
        .expect("ensure_project");
    project_id
}

async fn projects_a_b(stores: &Stores) -> (ProjectId, ProjectId) {
    (
        project(stores, "project-a").await,
        project(stores, "project-b").await,
    )
}

/// Validates a Langfuse wire batch (the `batch` array) into store events. Every event of
/// a test batch must be valid and carry a body id.
pub fn events(batch: Value) -> Vec<IngestEvent> {
    let validated = validate_batch(&json!({ "batch": batch }), AccessLevel::Project)
        .expect("test batch envelope must be valid");
    assert!(
        validated.errors.is_empty(),
        "test batch must be valid: {:?}",
        validated.errors
    );
    assert!(
        validated.accepted_without_effect.is_empty(),
        "test events need body ids"
    );
    validated.events
}

/// Ingests a wire batch and returns the per-event outcomes.
pub async fn ingest(stores: &Stores, project: &ProjectId, batch: Value) -> Vec<EventOutcome> {
    let events = events(batch);
    let count = events.len();
    let outcomes = stores
        .ingest
        .ingest(project, events)
        .await
        .expect("ingest must succeed");
    assert_eq!(outcomes.len(), count, "one outcome per event");
    outcomes
}

/// Ingests a wire batch whose events must all be accepted.
pub async fn ingest_ok(stores: &Stores, project: &ProjectId, batch: Value) {
    let outcomes = ingest(stores, project, batch).await;
    assert!(
        outcomes.iter().all(Result::is_ok),
        "every event must be accepted: {outcomes:?}"
    );
}

fn page(page: u32, limit: u32) -> PageRequest {
    PageRequest { page, limit }
}

const ALL: PageRequest = PageRequest {
    page: 1,
    limit: 1_000,
};

fn filter(text: &str, columns: &[Column]) -> Vec<FilterCondition> {
    parse_filter(text, columns).unwrap_or_else(|error| panic!("bad test filter {text}: {error}"))
}

async fn get_trace(stores: &Stores, project: &ProjectId, id: &str) -> TraceWithStats {
    stores
        .traces
        .get_trace(project, id)
        .await
        .expect("get_trace")
        .unwrap_or_else(|| panic!("trace `{id}` must exist"))
}

async fn get_observation(stores: &Stores, project: &ProjectId, id: &str) -> Observation {
    stores
        .observations
        .get_observation(project, id)
        .await
        .expect("get_observation")
        .unwrap_or_else(|| panic!("observation `{id}` must exist"))
}

async fn get_score(stores: &Stores, project: &ProjectId, id: &str) -> ScoreWithTrace {
    stores
        .scores
        .get_score(project, id)
        .await
        .expect("get_score")
        .unwrap_or_else(|| panic!("score `{id}` must exist"))
}

async fn trace_ids(stores: &Stores, project: &ProjectId, query: &TraceQuery) -> Vec<String> {
    let result = stores
        .traces
        .list_traces(project, query, ALL)
        .await
        .expect("list_traces");
    let ids: Vec<String> = result.items.iter().map(|t| t.trace.id.clone()).collect();
    assert_eq!(
        result.total_items,
        ids.len() as u64,
        "total_items of {query:?}"
    );
    ids
}

async fn observation_ids(
    stores: &Stores,
    project: &ProjectId,
    query: &ObservationQuery,
) -> Vec<String> {
    let result = stores
        .observations
        .list_observations(project, query, ALL)
        .await
        .expect("list_observations");
    let ids: Vec<String> = result.items.iter().map(|o| o.id.clone()).collect();
    assert_eq!(
        result.total_items,
        ids.len() as u64,
        "total_items of {query:?}"
    );
    ids
}

async fn score_ids(stores: &Stores, project: &ProjectId, query: &ScoreQuery) -> Vec<String> {
    let result = stores
        .scores
        .list_scores(project, query, ALL)
        .await
        .expect("list_scores");
    let ids: Vec<String> = result.items.iter().map(|s| s.score.id.clone()).collect();
    assert_eq!(
        result.total_items,
        ids.len() as u64,
        "total_items of {query:?}"
    );
    ids
}

fn strs(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

fn trace_without_times(mut trace: Trace) -> Trace {
    trace.created_at = 0;
    trace.updated_at = 0;
    trace
}

fn observation_without_times(mut observation: Observation) -> Observation {
    observation.created_at = 0;
    observation.updated_at = 0;
    observation
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: expected {expected}, got {actual}"
    );
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(object) => object,
        other => panic!("expected a JSON object, got {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// AdminStore
// ---------------------------------------------------------------------------------------

pub async fn admin_is_empty_and_ensure_are_idempotent(stores: &Stores) {
    let admin = &stores.admin;
    assert!(admin.is_empty().await.unwrap(), "a fresh backend is empty");
    let organization = Organization {
        id: "org-1".into(),
        name: "Acme".into(),
        created_at: micros("2025-01-01T00:00:00Z"),
    };
    admin
        .ensure_organization(organization.clone())
        .await
        .unwrap();
    assert!(!admin.is_empty().await.unwrap());
    // A second ensure with the same id leaves the first as is.
    admin
        .ensure_organization(Organization {
            name: "Renamed".into(),
            ..organization.clone()
        })
        .await
        .unwrap();
    let project = Project {
        id: ProjectId("p-1".into()),
        org_id: "org-1".into(),
        name: "First".into(),
        retention_days: Some(30),
        metadata: object(json!({"team": "ml"})),
        created_at: micros("2025-01-02T00:00:00Z"),
    };
    admin.ensure_project(project.clone()).await.unwrap();
    admin
        .ensure_project(Project {
            name: "Second".into(),
            retention_days: None,
            ..project.clone()
        })
        .await
        .unwrap();
    let (stored_project, stored_org) = admin
        .get_project(&project.id)
        .await
        .unwrap()
        .expect("project exists");
    assert_eq!(stored_project, project);
    assert_eq!(stored_org, organization);
    assert!(
        admin
            .get_project(&ProjectId("p-unknown".into()))
            .await
            .unwrap()
            .is_none()
    );
}

fn api_key(id: &str, project: &ProjectId, public: &str, hash: &str, created: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        project_id: project.clone(),
        public_key: public.into(),
        hashed_secret_key: hash.into(),
        display_secret_key: "sk-lf-...abcd".into(),
        note: Some(format!("key {id}")),
        created_at: micros(created),
        last_used_at: None,
    }
}

pub async fn admin_api_keys_conflict_find_list_delete(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let admin = &stores.admin;
    let second = api_key("key-2", &a, "pk-lf-2", "hash-2", "2025-01-02T00:00:00Z");
    let first = api_key("key-1", &a, "pk-lf-1", "hash-1", "2025-01-01T00:00:00Z");
    let other = api_key("key-3", &b, "pk-lf-3", "hash-3", "2025-01-01T00:00:00Z");
    admin.insert_api_key(second.clone()).await.unwrap();
    admin.insert_api_key(first.clone()).await.unwrap();
    admin.insert_api_key(other.clone()).await.unwrap();

    let duplicate = api_key("key-4", &a, "pk-lf-1", "hash-4", "2025-01-03T00:00:00Z");
    match admin.insert_api_key(duplicate).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a duplicate public key must be a conflict, got {other:?}"),
    }
    assert!(
        admin
            .find_api_key_by_public_key("pk-lf-1")
            .await
            .unwrap()
            .is_some_and(|key| key.id == "key-1"),
        "the conflicting insert must not replace the stored key"
    );
    assert!(
        admin
            .find_api_key_by_secret_hash("hash-4")
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(
        admin.find_api_key_by_public_key("pk-lf-2").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        admin.find_api_key_by_secret_hash("hash-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        admin.find_api_key_by_secret_hash("nope").await.unwrap(),
        None
    );
    assert_eq!(
        admin.find_api_key_by_public_key("nope").await.unwrap(),
        None
    );
    assert_eq!(
        admin.list_api_keys(&a).await.unwrap(),
        vec![first.clone(), second.clone()],
        "keys of a project, oldest first"
    );
    assert_eq!(admin.list_api_keys(&b).await.unwrap(), vec![other.clone()]);

    // Delete by id, then by public key.
    assert!(admin.delete_api_key("key-1").await.unwrap());
    assert!(!admin.delete_api_key("key-1").await.unwrap());
    assert!(admin.delete_api_key("pk-lf-2").await.unwrap());
    assert!(!admin.delete_api_key("pk-lf-2").await.unwrap());
    assert!(admin.list_api_keys(&a).await.unwrap().is_empty());
    assert_eq!(
        admin.find_api_key_by_secret_hash("hash-1").await.unwrap(),
        None
    );
    assert_eq!(admin.list_api_keys(&b).await.unwrap(), vec![other]);
    // A deleted public key can be used again.
    admin
        .insert_api_key(api_key(
            "key-5",
            &a,
            "pk-lf-1",
            "hash-5",
            "2025-01-05T00:00:00Z",
        ))
        .await
        .unwrap();
    assert_eq!(
        admin
            .find_api_key_by_public_key("pk-lf-1")
            .await
            .unwrap()
            .map(|key| key.id),
        Some("key-5".to_owned())
    );
}

pub async fn admin_users_and_roles(stores: &Stores) {
    let _ = project(stores, "project-a").await;
    let admin = &stores.admin;
    let user = User {
        id: "user-1".into(),
        email: "Ada@Example.com".into(),
        name: "Ada".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: micros("2025-01-01T00:00:00Z"),
    };
    let stored = admin.ensure_user(user.clone()).await.unwrap();
    assert_eq!(stored.id, "user-1");
    assert_eq!(stored.email, "ada@example.com", "emails are lowercased");
    assert_eq!(stored.name, "Ada");
    // The same email (in any case) returns the existing user unchanged.
    let again = admin
        .ensure_user(User {
            id: "user-2".into(),
            email: "ADA@example.COM".into(),
            name: "Someone else".into(),
            ..user.clone()
        })
        .await
        .unwrap();
    assert_eq!(again, stored);
    admin
        .set_organization_role(ORG, "user-1", Role::Member)
        .await
        .unwrap();
    admin
        .set_organization_role(ORG, "user-1", Role::Owner)
        .await
        .expect("setting a role again updates it");
}

// ---------------------------------------------------------------------------------------
// Merge rules
// ---------------------------------------------------------------------------------------

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
    ingest_ok(
        stores,
        &a,
        json!([
            first,
            second,
            span_create,
            span_update,
            span_update_2,
            score,
            score_2
        ]),
    )
    .await;
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
    ingest_ok(
        stores,
        &a,
        json!([
            first,
            second,
            span_create,
            span_update,
            span_update_2,
            score,
            score_2
        ]),
    )
    .await;
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

// ---------------------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------------------

pub async fn trace_stats_observation_ids_cost_and_latency(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "name": "rag"}},
            {"id": "e2", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "root", "traceId": "trace-1", "startTime": "2025-03-01T10:00:00Z",
                      "endTime": "2025-03-01T10:00:10Z"}},
            {"id": "e3", "type": "generation-create", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "gen-1", "traceId": "trace-1", "parentObservationId": "root",
                      "startTime": "2025-03-01T10:00:01Z", "endTime": "2025-03-01T10:00:03Z",
                      "usage": {"input": 100, "output": 50},
                      "costDetails": {"input": 0.001, "output": 0.002}}},
            {"id": "e4", "type": "generation-create", "timestamp": "2025-03-01T10:00:04Z",
             "body": {"id": "gen-2", "traceId": "trace-1", "parentObservationId": "root",
                      "startTime": "2025-03-01T10:00:04Z", "endTime": "2025-03-01T10:00:12.500Z",
                      "costDetails": {"total": 0.01}}},
            {"id": "e5", "type": "event-create", "timestamp": "2025-03-01T10:00:05Z",
             "body": {"id": "event-1", "traceId": "trace-1", "startTime": "2025-03-01T10:00:05Z"}},
            {"id": "e6", "type": "score-create", "timestamp": "2025-03-01T10:01:00Z",
             "body": {"id": "score-trace", "traceId": "trace-1", "name": "quality", "value": 0.9}},
            {"id": "e7", "type": "score-create", "timestamp": "2025-03-01T10:02:00Z",
             "body": {"id": "score-obs", "traceId": "trace-1", "observationId": "gen-1",
                      "name": "accuracy", "value": 1}},
            {"id": "e8", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-empty"}}
        ]),
    )
    .await;
    let stats = get_trace(stores, &a, "trace-1").await;
    assert_eq!(
        set(&stats.observation_ids),
        set(&strs(&["root", "gen-1", "gen-2", "event-1"]))
    );
    assert_eq!(stats.observation_ids.len(), 4);
    assert_eq!(
        set(&stats.score_ids),
        set(&strs(&["score-trace", "score-obs"]))
    );
    assert_close(stats.total_cost, 0.013, "total cost");
    assert_close(stats.latency_seconds, 12.5, "latency seconds");

    let empty = get_trace(stores, &a, "trace-empty").await;
    assert!(empty.observation_ids.is_empty());
    assert!(empty.score_ids.is_empty());
    assert_eq!(empty.total_cost, 0.0);
    assert_eq!(empty.latency_seconds, 0.0);

    // The list returns the same stats as the single read.
    let listed = stores
        .traces
        .list_traces(&a, &TraceQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!(listed.total_items, 2);
    let from_list = listed
        .items
        .iter()
        .find(|item| item.trace.id == "trace-1")
        .expect("listed");
    assert_eq!(set(&from_list.observation_ids), set(&stats.observation_ids));
    assert_eq!(set(&from_list.score_ids), set(&stats.score_ids));
    assert_close(from_list.total_cost, stats.total_cost, "listed total cost");
    assert_close(
        from_list.latency_seconds,
        stats.latency_seconds,
        "listed latency",
    );
    assert!(
        stores
            .traces
            .get_trace(&a, "trace-unknown")
            .await
            .unwrap()
            .is_none()
    );
}

async fn four_named_traces(stores: &Stores, project: &ProjectId) {
    ingest_ok(
        stores,
        project,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z", "name": "delta", "userId": "u-b"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T11:00:00Z", "name": "alpha", "userId": "u-c"}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-3", "timestamp": "2025-03-01T09:00:00Z", "name": "charlie", "userId": "u-a"}},
            {"id": "e4", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-4", "timestamp": "2025-03-01T12:00:00Z", "name": "bravo", "userId": "u-d"}}
        ]),
    )
    .await;
}

pub async fn list_traces_order(stores: &Stores) {
    let a = project(stores, "project-a").await;
    four_named_traces(stores, &a).await;
    let ordered = |column, direction| TraceQuery {
        order: (column, direction),
        ..TraceQuery::default()
    };
    assert_eq!(
        trace_ids(stores, &a, &TraceQuery::default()).await,
        strs(&["trace-4", "trace-2", "trace-1", "trace-3"]),
        "default: timestamp desc"
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::Timestamp, SortDirection::Asc)
        )
        .await,
        strs(&["trace-3", "trace-1", "trace-2", "trace-4"])
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::Name, SortDirection::Asc)
        )
        .await,
        strs(&["trace-2", "trace-4", "trace-3", "trace-1"]),
        "orderBy=name.asc"
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::Name, SortDirection::Desc)
        )
        .await,
        strs(&["trace-1", "trace-3", "trace-4", "trace-2"])
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::UserId, SortDirection::Asc)
        )
        .await,
        strs(&["trace-3", "trace-1", "trace-2", "trace-4"])
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::Id, SortDirection::Desc)
        )
        .await,
        strs(&["trace-4", "trace-3", "trace-2", "trace-1"])
    );
}

pub async fn list_traces_pages_and_total_items(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let batch: Vec<Value> = (1..=5)
        .map(|n| {
            json!({"id": format!("e{n}"), "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
                   "body": {"id": format!("trace-{n}"), "timestamp": format!("2025-03-0{n}T10:00:00Z"),
                            "userId": if n % 2 == 0 { "even" } else { "odd" }}})
        })
        .collect();
    ingest_ok(stores, &a, Value::Array(batch)).await;
    let query = TraceQuery::default();
    let mut seen = Vec::new();
    for (number, expected) in [
        (1, vec!["trace-5", "trace-4"]),
        (2, vec!["trace-3", "trace-2"]),
        (3, vec!["trace-1"]),
        (4, vec![]),
    ] {
        let result = stores
            .traces
            .list_traces(&a, &query, page(number, 2))
            .await
            .unwrap();
        assert_eq!(result.total_items, 5, "page {number}");
        let ids: Vec<String> = result.items.into_iter().map(|item| item.trace.id).collect();
        assert_eq!(ids, strs(&expected), "page {number}");
        seen.extend(ids);
    }
    assert_eq!(set(&seen).len(), 5);
    let odd = TraceQuery {
        user_id: Some("odd".into()),
        ..TraceQuery::default()
    };
    let result = stores
        .traces
        .list_traces(&a, &odd, page(2, 2))
        .await
        .unwrap();
    assert_eq!(
        result.total_items, 3,
        "total_items counts the filtered rows"
    );
    assert_eq!(
        result
            .items
            .iter()
            .map(|item| item.trace.id.as_str())
            .collect::<Vec<_>>(),
        vec!["trace-1"]
    );
}

pub async fn list_traces_simple_filters(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z", "name": "chat",
                      "userId": "user-1", "sessionId": "session-1", "release": "1.0", "version": "v1",
                      "tags": ["a", "b"], "environment": "production"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T11:00:00Z", "name": "chat",
                      "userId": "user-2", "tags": ["a"], "environment": "staging", "release": "1.1"}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T12:00:00Z",
             "body": {"id": "trace-3", "timestamp": "2025-03-01T12:00:00Z", "name": "search",
                      "userId": "user-1", "tags": ["b", "c"], "version": "v2"}}
        ]),
    )
    .await;
    let q = TraceQuery::default;
    let cases: Vec<(TraceQuery, Vec<&str>)> = vec![
        (
            TraceQuery {
                user_id: Some("user-1".into()),
                ..q()
            },
            vec!["trace-3", "trace-1"],
        ),
        (
            TraceQuery {
                user_id: Some("nobody".into()),
                ..q()
            },
            vec![],
        ),
        (
            TraceQuery {
                name: Some("chat".into()),
                ..q()
            },
            vec!["trace-2", "trace-1"],
        ),
        (
            TraceQuery {
                session_id: Some("session-1".into()),
                ..q()
            },
            vec!["trace-1"],
        ),
        (
            TraceQuery {
                release: Some("1.1".into()),
                ..q()
            },
            vec!["trace-2"],
        ),
        (
            TraceQuery {
                version: Some("v2".into()),
                ..q()
            },
            vec!["trace-3"],
        ),
        (
            TraceQuery {
                tags: strs(&["a"]),
                ..q()
            },
            vec!["trace-2", "trace-1"],
        ),
        (
            TraceQuery {
                tags: strs(&["a", "b"]),
                ..q()
            },
            vec!["trace-1"],
        ),
        (
            TraceQuery {
                tags: strs(&["a", "c"]),
                ..q()
            },
            vec![],
        ),
        (
            TraceQuery {
                environments: strs(&["production", "staging"]),
                ..q()
            },
            vec!["trace-2", "trace-1"],
        ),
        (
            TraceQuery {
                environments: strs(&["default"]),
                ..q()
            },
            vec!["trace-3"],
        ),
        (
            TraceQuery {
                from_timestamp: Some(micros("2025-03-01T11:00:00Z")),
                ..q()
            },
            vec!["trace-3", "trace-2"],
        ),
        (
            TraceQuery {
                to_timestamp: Some(micros("2025-03-01T11:00:00Z")),
                ..q()
            },
            vec!["trace-1"],
        ),
        (
            TraceQuery {
                from_timestamp: Some(micros("2025-03-01T10:30:00Z")),
                to_timestamp: Some(micros("2025-03-01T12:00:00Z")),
                ..q()
            },
            vec!["trace-2"],
        ),
        (
            TraceQuery {
                user_id: Some("user-1".into()),
                tags: strs(&["b"]),
                ..q()
            },
            vec!["trace-3", "trace-1"],
        ),
        (
            TraceQuery {
                user_id: Some("user-1".into()),
                tags: strs(&["b"]),
                environments: strs(&["production"]),
                ..q()
            },
            vec!["trace-1"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            trace_ids(stores, &a, &query).await,
            strs(&expected),
            "{query:?}"
        );
    }
}

pub async fn list_traces_advanced_filters(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z",
                      "metadata": {"customer": "acme", "tier": "gold"}, "tags": ["prod-ready", "beta"]}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T11:00:00Z",
                      "metadata": {"customer": "globex"}, "tags": ["beta"], "environment": "staging"}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T12:00:00Z",
             "body": {"id": "trace-3", "timestamp": "2025-03-01T12:00:00Z"}},
            {"id": "e4", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "span-1", "traceId": "trace-1", "startTime": "2025-03-01T10:00:00Z",
                      "endTime": "2025-03-01T10:00:05Z"}},
            {"id": "e5", "type": "span-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "span-2", "traceId": "trace-2", "startTime": "2025-03-01T11:00:00Z",
                      "endTime": "2025-03-01T11:00:01.500Z"}},
            {"id": "e6", "type": "score-create", "timestamp": "2025-03-01T10:01:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.9}},
            {"id": "e7", "type": "score-create", "timestamp": "2025-03-01T10:02:00Z",
             "body": {"id": "score-2", "traceId": "trace-1", "name": "quality", "value": 0.7}},
            {"id": "e8", "type": "score-create", "timestamp": "2025-03-01T11:01:00Z",
             "body": {"id": "score-3", "traceId": "trace-2", "name": "quality", "value": 0.2}},
            {"id": "e9", "type": "score-create", "timestamp": "2025-03-01T11:02:00Z",
             "body": {"id": "score-4", "traceId": "trace-2", "name": "other", "value": 1}}
        ]),
    )
    .await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            r#"[{"column":"metadata","type":"stringObject","key":"customer","operator":"=","value":"acme"}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"Metadata","type":"stringObject","key":"customer","operator":"contains","value":"lob"}]"#,
            vec!["trace-2"],
        ),
        (
            r#"[{"column":"metadata","type":"stringObject","key":"tier","operator":"starts with","value":"go"}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"metadata","type":"stringObject","key":"customer","operator":"ends with","value":"bex"}]"#,
            vec!["trace-2"],
        ),
        (
            r#"[{"column":"tags","type":"arrayOptions","operator":"any of","value":["beta"]}]"#,
            vec!["trace-2", "trace-1"],
        ),
        (
            r#"[{"column":"tags","type":"arrayOptions","operator":"all of","value":["beta","prod-ready"]}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"tags","type":"arrayOptions","operator":"none of","value":["beta"]}]"#,
            vec!["trace-3"],
        ),
        (
            r#"[{"column":"latency","type":"number","operator":">","value":2}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"Latency (s)","type":"number","operator":">=","value":1.5}]"#,
            vec!["trace-2", "trace-1"],
        ),
        (
            r#"[{"column":"scores_avg","type":"numberObject","key":"quality","operator":">=","value":0.75}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"scores_avg","type":"numberObject","key":"quality","operator":"<","value":0.5}]"#,
            vec!["trace-2"],
        ),
        (
            r#"[{"column":"environment","type":"stringOptions","operator":"any of","value":["staging"]}]"#,
            vec!["trace-2"],
        ),
        (
            r#"[{"column":"tags","type":"arrayOptions","operator":"any of","value":["beta"]},
                {"column":"metadata","type":"stringObject","key":"customer","operator":"=","value":"globex"}]"#,
            vec!["trace-2"],
        ),
    ];
    for (text, expected) in cases {
        let query = TraceQuery {
            filters: filter(text, TRACE_COLUMNS),
            ..TraceQuery::default()
        };
        assert_eq!(
            trace_ids(stores, &a, &query).await,
            strs(&expected),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Observations
// ---------------------------------------------------------------------------------------

pub async fn list_observations_filters_order_and_pages(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "userId": "user-1", "sessionId": "session-1"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T09:00:00Z",
             "body": {"id": "trace-2", "userId": "user-2"}},
            {"id": "e3", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "root", "traceId": "trace-1", "startTime": "2025-03-01T10:00:00Z",
                      "name": "pipeline", "environment": "production"}},
            {"id": "e4", "type": "generation-create", "timestamp": "2025-03-01T10:01:00Z",
             "body": {"id": "gen-1", "traceId": "trace-1", "parentObservationId": "root",
                      "startTime": "2025-03-01T10:01:00Z", "name": "llm", "model": "gpt-4o",
                      "level": "ERROR", "version": "v2", "metadata": {"step": "answer"},
                      "environment": "production"}},
            {"id": "e5", "type": "event-create", "timestamp": "2025-03-01T10:02:00Z",
             "body": {"id": "event-1", "traceId": "trace-1", "parentObservationId": "root",
                      "startTime": "2025-03-01T10:02:00Z", "name": "log", "metadata": {"step": "log"},
                      "environment": "production"}},
            {"id": "e6", "type": "span-create", "timestamp": "2025-03-01T09:00:00Z",
             "body": {"id": "root-2", "traceId": "trace-2", "startTime": "2025-03-01T09:00:00Z",
                      "name": "pipeline", "environment": "staging"}}
        ]),
    )
    .await;
    let q = ObservationQuery::default;
    let cases: Vec<(ObservationQuery, Vec<&str>)> = vec![
        (q(), vec!["event-1", "gen-1", "root", "root-2"]),
        (
            ObservationQuery {
                r#type: Some("GENERATION".into()),
                ..q()
            },
            vec!["gen-1"],
        ),
        (
            ObservationQuery {
                name: Some("pipeline".into()),
                ..q()
            },
            vec!["root", "root-2"],
        ),
        (
            ObservationQuery {
                trace_id: Some("trace-1".into()),
                ..q()
            },
            vec!["event-1", "gen-1", "root"],
        ),
        (
            ObservationQuery {
                user_id: Some("user-2".into()),
                ..q()
            },
            vec!["root-2"],
        ),
        (
            ObservationQuery {
                session_id: Some("session-1".into()),
                ..q()
            },
            vec!["event-1", "gen-1", "root"],
        ),
        (
            ObservationQuery {
                level: Some("ERROR".into()),
                ..q()
            },
            vec!["gen-1"],
        ),
        (
            ObservationQuery {
                version: Some("v2".into()),
                ..q()
            },
            vec!["gen-1"],
        ),
        (
            ObservationQuery {
                parent_observation_id: Some("root".into()),
                ..q()
            },
            vec!["event-1", "gen-1"],
        ),
        (
            ObservationQuery {
                is_root: Some(true),
                ..q()
            },
            vec!["root", "root-2"],
        ),
        (
            ObservationQuery {
                environments: strs(&["staging"]),
                ..q()
            },
            vec!["root-2"],
        ),
        (
            ObservationQuery {
                from_start_time: Some(micros("2025-03-01T10:01:00Z")),
                ..q()
            },
            vec!["event-1", "gen-1"],
        ),
        (
            ObservationQuery {
                to_start_time: Some(micros("2025-03-01T10:01:00Z")),
                ..q()
            },
            vec!["root", "root-2"],
        ),
        (
            ObservationQuery {
                filters: filter(
                    r#"[{"column":"metadata","type":"stringObject","key":"step","operator":"=","value":"answer"}]"#,
                    OBSERVATION_COLUMNS,
                ),
                ..q()
            },
            vec!["gen-1"],
        ),
        (
            ObservationQuery {
                filters: filter(
                    r#"[{"column":"type","type":"stringOptions","operator":"any of","value":["SPAN","EVENT"]}]"#,
                    OBSERVATION_COLUMNS,
                ),
                ..q()
            },
            vec!["event-1", "root", "root-2"],
        ),
        (
            ObservationQuery {
                filters: filter(
                    r#"[{"column":"userId","type":"string","operator":"=","value":"user-1"},
                        {"column":"name","type":"string","operator":"starts with","value":"pipe"}]"#,
                    OBSERVATION_COLUMNS,
                ),
                ..q()
            },
            vec!["root"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            observation_ids(stores, &a, &query).await,
            strs(&expected),
            "{query:?}"
        );
    }

    let second_page = stores
        .observations
        .list_observations(&a, &q(), page(2, 3))
        .await
        .unwrap();
    assert_eq!(second_page.total_items, 4);
    assert_eq!(
        second_page
            .items
            .iter()
            .map(|o| o.id.as_str())
            .collect::<Vec<_>>(),
        vec!["root-2"]
    );

    let of_trace: Vec<String> = stores
        .observations
        .observations_of_trace(&a, "trace-1")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        of_trace,
        strs(&["root", "gen-1", "event-1"]),
        "by start time ascending"
    );
    assert!(
        stores
            .observations
            .observations_of_trace(&a, "trace-unknown")
            .await
            .unwrap()
            .is_empty()
    );

    let generation = get_observation(stores, &a, "gen-1").await;
    assert_eq!(generation.trace_id, "trace-1");
    assert_eq!(generation.parent_observation_id.as_deref(), Some("root"));
    assert_eq!(generation.r#type, "GENERATION");
    assert_eq!(generation.model.as_deref(), Some("gpt-4o"));
    assert_eq!(generation.level, "ERROR");
    assert_eq!(generation.environment, "production");
    assert!(
        stores
            .observations
            .get_observation(&a, "nope")
            .await
            .unwrap()
            .is_none()
    );
}

/// Pages through `list_observations_after` with `limit`, returning every row in order.
async fn drain_observations(
    stores: &Stores,
    project: &ProjectId,
    query: &ObservationQuery,
    limit: u32,
) -> Vec<Observation> {
    let mut all: Vec<Observation> = Vec::new();
    let mut cursor: Option<ObservationCursor> = None;
    loop {
        let batch = stores
            .observations
            .list_observations_after(project, query, cursor.as_ref(), limit)
            .await
            .expect("list_observations_after");
        assert!(batch.len() <= limit as usize, "at most `limit` rows");
        let Some(last) = batch.last() else { break };
        cursor = Some(ObservationCursor {
            start_time: last.start_time,
            trace_id: last.trace_id.clone(),
            id: last.id.clone(),
        });
        all.extend(batch);
        assert!(all.len() <= 1_000, "keyset pagination must terminate");
    }
    all
}

pub async fn observation_keyset_pagination_returns_every_row_once(stores: &Stores) {
    let a = project(stores, "project-a").await;
    // Many observations share start times, within and across traces.
    let mut batch = Vec::new();
    let mut expected: Vec<(Micros, String, String)> = Vec::new();
    for (trace_index, trace_id) in ["trace-a", "trace-b", "trace-c"].iter().enumerate() {
        for observation_index in 0..5 {
            let id = format!("obs-{trace_index}-{observation_index}");
            let start = format!("2025-03-01T10:00:0{}Z", observation_index % 2);
            let kind = if observation_index % 2 == 0 {
                "span-create"
            } else {
                "generation-create"
            };
            batch.push(
                json!({"id": format!("e-{id}"), "type": kind, "timestamp": start,
                              "body": {"id": id, "traceId": trace_id, "startTime": start}}),
            );
            expected.push((micros(&start), (*trace_id).to_owned(), id));
        }
    }
    ingest_ok(stores, &a, Value::Array(batch)).await;
    expected.sort_by(|x, y| y.cmp(x));
    let expected_ids: Vec<String> = expected.into_iter().map(|(_, _, id)| id).collect();
    assert_eq!(expected_ids.len(), 15);

    for limit in [1, 2, 4, 7, 15, 50] {
        let rows = drain_observations(stores, &a, &ObservationQuery::default(), limit).await;
        let ids: Vec<String> = rows.iter().map(|o| o.id.clone()).collect();
        assert_eq!(
            ids, expected_ids,
            "limit {limit}: every row once, start time desc, trace id desc, id desc"
        );
    }

    let generations = ObservationQuery {
        r#type: Some("GENERATION".into()),
        ..ObservationQuery::default()
    };
    let rows = drain_observations(stores, &a, &generations, 2).await;
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|o| o.r#type == "GENERATION"));
    assert_eq!(
        set(&rows.iter().map(|o| o.id.clone()).collect::<Vec<_>>()).len(),
        6
    );

    // A cursor past the end returns nothing.
    let after_last = ObservationCursor {
        start_time: micros("2025-03-01T09:00:00Z"),
        trace_id: "trace-z".into(),
        id: "z".into(),
    };
    assert!(
        stores
            .observations
            .list_observations_after(&a, &ObservationQuery::default(), Some(&after_last), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Scores
// ---------------------------------------------------------------------------------------

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

fn score_config(id: &str, name: &str, data_type: ScoreDataType) -> ScoreConfig {
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
            .scores
            .insert_score_config(&a, config.clone())
            .await
            .unwrap();
    }
    match stores
        .scores
        .insert_score_config(&a, score_config("cfg-tone", "x", ScoreDataType::Text))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("an existing config id must be a conflict, got {other:?}"),
    }
    assert_eq!(
        stores
            .scores
            .get_score_config(&a, "cfg-accuracy")
            .await
            .unwrap(),
        Some(accuracy.clone())
    );
    assert_eq!(
        stores
            .scores
            .get_score_config(&a, "cfg-tone")
            .await
            .unwrap(),
        Some(tone.clone())
    );
    assert_eq!(
        stores
            .scores
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

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

pub async fn sessions_come_from_traces(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z", "sessionId": "session-1",
                      "environment": "production"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T09:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T09:00:00Z", "sessionId": "session-1",
                      "environment": "production"}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-no-session", "timestamp": "2025-03-01T11:00:00Z"}}
        ]),
    )
    .await;
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e4", "type": "trace-create", "timestamp": "2025-03-01T12:00:00Z",
                "body": {"id": "trace-3", "timestamp": "2025-03-01T12:00:00Z", "sessionId": "session-2",
                         "environment": "staging"}}]),
    )
    .await;

    let all = stores
        .sessions
        .list_sessions(&a, &SessionQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!(all.total_items, 2);
    let ids: Vec<&str> = all.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["session-2", "session-1"], "creation time desc");
    let (newer, older) = (&all.items[0], &all.items[1]);
    assert!(newer.created_at > older.created_at);

    let session = stores
        .sessions
        .get_session(&a, "session-1")
        .await
        .unwrap()
        .expect("session-1 exists");
    assert_eq!(session.id, "session-1");
    assert_eq!(session.environment, "production");
    assert_eq!(&session, older);
    assert!(
        stores
            .sessions
            .get_session(&a, "session-unknown")
            .await
            .unwrap()
            .is_none()
    );

    let traces: Vec<String> = stores
        .sessions
        .traces_of_session(&a, "session-1")
        .await
        .unwrap()
        .into_iter()
        .map(|trace| trace.id)
        .collect();
    assert_eq!(traces, strs(&["trace-2", "trace-1"]), "timestamp ascending");
    assert!(
        stores
            .sessions
            .traces_of_session(&a, "session-unknown")
            .await
            .unwrap()
            .is_empty()
    );

    let list = |query: SessionQuery, request: PageRequest| {
        let a = a.clone();
        async move {
            let result = stores
                .sessions
                .list_sessions(&a, &query, request)
                .await
                .unwrap();
            (
                result.total_items,
                result
                    .items
                    .into_iter()
                    .map(|session| session.id)
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(
        list(
            SessionQuery {
                environments: strs(&["staging"]),
                ..SessionQuery::default()
            },
            ALL
        )
        .await,
        (1, strs(&["session-2"]))
    );
    assert_eq!(
        list(SessionQuery::default(), page(2, 1)).await,
        (2, strs(&["session-1"]))
    );
    assert_eq!(
        list(
            SessionQuery {
                from_timestamp: Some(newer.created_at),
                ..SessionQuery::default()
            },
            ALL
        )
        .await,
        (1, strs(&["session-2"])),
        "from is inclusive"
    );
    assert_eq!(
        list(
            SessionQuery {
                to_timestamp: Some(newer.created_at),
                ..SessionQuery::default()
            },
            ALL
        )
        .await,
        (1, strs(&["session-1"])),
        "to is exclusive"
    );
}

// ---------------------------------------------------------------------------------------
// Deletes
// ---------------------------------------------------------------------------------------

pub async fn delete_traces_removes_observations_scores_and_events(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let batch = json!([
        {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
         "body": {"id": "trace-1", "name": "old", "tags": ["old-tag"], "input": "old input"}},
        {"id": "e2", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
         "body": {"id": "obs-1", "traceId": "trace-1", "input": "old span input"}},
        {"id": "e3", "type": "generation-create", "timestamp": "2025-03-01T10:00:01Z",
         "body": {"id": "obs-2", "traceId": "trace-1"}},
        {"id": "e4", "type": "score-create", "timestamp": "2025-03-01T10:00:02Z",
         "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 1, "comment": "old"}},
        {"id": "e5", "type": "score-create", "timestamp": "2025-03-01T10:00:03Z",
         "body": {"id": "score-2", "traceId": "trace-1", "observationId": "obs-2", "name": "quality", "value": 0}},
        {"id": "e6", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "trace-2"}},
        {"id": "e7", "type": "span-create", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "obs-3", "traceId": "trace-2"}},
        {"id": "e8", "type": "score-create", "timestamp": "2025-03-01T11:00:01Z",
         "body": {"id": "score-3", "traceId": "trace-2", "name": "quality", "value": 1}},
        {"id": "e9", "type": "score-create", "timestamp": "2025-03-01T11:00:02Z",
         "body": {"id": "score-session", "sessionId": "session-1", "name": "quality", "value": 1}}
    ]);
    ingest_ok(stores, &a, batch.clone()).await;
    ingest_ok(stores, &b, batch).await;

    stores
        .ingest
        .delete_traces(&a, &strs(&["trace-1", "trace-unknown"]))
        .await
        .unwrap();

    assert!(
        stores
            .traces
            .get_trace(&a, "trace-1")
            .await
            .unwrap()
            .is_none()
    );
    for id in ["obs-1", "obs-2"] {
        assert!(
            stores
                .observations
                .get_observation(&a, id)
                .await
                .unwrap()
                .is_none(),
            "{id}"
        );
    }
    for id in ["score-1", "score-2"] {
        assert!(
            stores.scores.get_score(&a, id).await.unwrap().is_none(),
            "{id}"
        );
    }
    assert!(
        stores
            .observations
            .observations_of_trace(&a, "trace-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .scores
            .scores_of_trace(&a, "trace-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        trace_ids(stores, &a, &TraceQuery::default()).await,
        strs(&["trace-2"])
    );
    assert_eq!(
        observation_ids(stores, &a, &ObservationQuery::default()).await,
        strs(&["obs-3"])
    );
    assert_eq!(
        set(&score_ids(stores, &a, &ScoreQuery::default()).await),
        set(&strs(&["score-3", "score-session"]))
    );
    let survivor = get_trace(stores, &a, "trace-2").await;
    assert_eq!(survivor.observation_ids, strs(&["obs-3"]));
    assert_eq!(survivor.score_ids, strs(&["score-3"]));

    // The other project keeps its copy.
    assert_eq!(
        get_trace(stores, &b, "trace-1").await.observation_ids.len(),
        2
    );
    assert_eq!(score_ids(stores, &b, &ScoreQuery::default()).await.len(), 4);

    // The logged events are gone too: new events for the same ids start from scratch.
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "n1", "type": "trace-create", "timestamp": "2025-03-02T10:00:00Z",
             "body": {"id": "trace-1", "name": "new"}},
            {"id": "n2", "type": "span-update", "timestamp": "2025-03-02T10:00:00Z",
             "body": {"id": "obs-1", "traceId": "trace-1", "name": "new span"}},
            {"id": "n3", "type": "score-create", "timestamp": "2025-03-02T10:00:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.5}}
        ]),
    )
    .await;
    let trace = get_trace(stores, &a, "trace-1").await;
    assert_eq!(trace.trace.name.as_deref(), Some("new"));
    assert!(trace.trace.tags.is_empty(), "old tags must not come back");
    assert_eq!(trace.trace.input, None, "old input must not come back");
    assert_eq!(trace.trace.timestamp, micros("2025-03-02T10:00:00Z"));
    assert_eq!(trace.observation_ids, strs(&["obs-1"]));
    let span = get_observation(stores, &a, "obs-1").await;
    assert_eq!(span.input, None, "old observation input must not come back");
    assert_eq!(span.name.as_deref(), Some("new span"));
    let score = get_score(stores, &a, "score-1").await.score;
    assert_eq!(score.value, 0.5);
    assert_eq!(score.comment, None, "old score comment must not come back");

    // Deleting from another project does nothing here.
    stores
        .ingest
        .delete_traces(&b, &strs(&["trace-2"]))
        .await
        .unwrap();
    assert_eq!(
        get_trace(stores, &a, "trace-2").await.observation_ids,
        strs(&["obs-3"])
    );
    assert!(
        stores
            .traces
            .get_trace(&b, "trace-2")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn delete_score_removes_only_that_score(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1"}},
            {"id": "e2", "type": "score-create", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 1,
                      "comment": "first"}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:02Z",
             "body": {"id": "score-2", "traceId": "trace-1", "name": "quality", "value": 0}}
        ]),
    )
    .await;
    assert!(
        !stores.ingest.delete_score(&b, "score-1").await.unwrap(),
        "another project cannot delete it"
    );
    assert!(stores.ingest.delete_score(&a, "score-1").await.unwrap());
    assert!(!stores.ingest.delete_score(&a, "score-1").await.unwrap());
    assert!(
        !stores
            .ingest
            .delete_score(&a, "score-unknown")
            .await
            .unwrap()
    );
    assert!(
        stores
            .scores
            .get_score(&a, "score-1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        score_ids(stores, &a, &ScoreQuery::default()).await,
        strs(&["score-2"])
    );
    assert_eq!(
        get_trace(stores, &a, "trace-1").await.score_ids,
        strs(&["score-2"])
    );
    assert_eq!(
        stores
            .scores
            .scores_of_trace(&a, "trace-1")
            .await
            .unwrap()
            .len(),
        1
    );
    // Its logged events went with it.
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e4", "type": "score-create", "timestamp": "2025-03-02T10:00:00Z",
                "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.5}}]),
    )
    .await;
    let score = get_score(stores, &a, "score-1").await.score;
    assert_eq!(score.value, 0.5);
    assert_eq!(score.comment, None);
}

// ---------------------------------------------------------------------------------------
// Media
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Project scoping
// ---------------------------------------------------------------------------------------

async fn assert_project_sees_nothing(stores: &Stores, project: &ProjectId) {
    let traces = stores
        .traces
        .list_traces(project, &TraceQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!((traces.total_items, traces.items.len()), (0, 0));
    let user_traces = TraceQuery {
        user_id: Some("user-1".into()),
        ..TraceQuery::default()
    };
    assert!(trace_ids(stores, project, &user_traces).await.is_empty());
    assert!(
        stores
            .traces
            .get_trace(project, "trace-1")
            .await
            .unwrap()
            .is_none()
    );

    let observations = stores
        .observations
        .list_observations(project, &ObservationQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!((observations.total_items, observations.items.len()), (0, 0));
    assert!(
        stores
            .observations
            .list_observations_after(project, &ObservationQuery::default(), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .observations
            .get_observation(project, "obs-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .observations
            .observations_of_trace(project, "trace-1")
            .await
            .unwrap()
            .is_empty()
    );

    let sessions = stores
        .sessions
        .list_sessions(project, &SessionQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!((sessions.total_items, sessions.items.len()), (0, 0));
    assert!(
        stores
            .sessions
            .get_session(project, "session-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .sessions
            .traces_of_session(project, "session-1")
            .await
            .unwrap()
            .is_empty()
    );

    let scores = stores
        .scores
        .list_scores(project, &ScoreQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!((scores.total_items, scores.items.len()), (0, 0));
    assert!(
        stores
            .scores
            .list_scores_after(project, &ScoreQuery::default(), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    for id in ["score-1", "score-2"] {
        assert!(
            stores
                .scores
                .get_score(project, id)
                .await
                .unwrap()
                .is_none(),
            "{id}"
        );
    }
    assert!(
        stores
            .scores
            .scores_of_trace(project, "trace-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .scores
            .get_score_config(project, "cfg-1")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn project_scoping_hides_data_from_other_projects(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    stores
        .scores
        .insert_score_config(&a, score_config("cfg-1", "quality", ScoreDataType::Numeric))
        .await
        .unwrap();
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "userId": "user-1", "sessionId": "session-1", "tags": ["t"]}},
            {"id": "e2", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "obs-1", "traceId": "trace-1", "costDetails": {"total": 1.0}}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 1,
                      "configId": "cfg-1"}},
            {"id": "e4", "type": "score-create", "timestamp": "2025-03-01T10:00:02Z",
             "body": {"id": "score-2", "sessionId": "session-1", "name": "rating", "value": 3}}
        ]),
    )
    .await;
    // Project A sees its data...
    let trace = get_trace(stores, &a, "trace-1").await;
    assert_eq!(trace.observation_ids, strs(&["obs-1"]));
    assert!(
        stores
            .sessions
            .get_session(&a, "session-1")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(score_ids(stores, &a, &ScoreQuery::default()).await.len(), 2);
    // ...project B, and a project that was never created, see nothing.
    assert_project_sees_nothing(stores, &b).await;
    assert_project_sees_nothing(stores, &ProjectId("project-never-created".into())).await;

    // Advanced filters stay inside the project too (score aggregates, trace joins).
    let by_score = TraceQuery {
        filters: filter(
            r#"[{"column":"scores_avg","type":"numberObject","key":"quality","operator":">=","value":0}]"#,
            TRACE_COLUMNS,
        ),
        ..TraceQuery::default()
    };
    assert_eq!(trace_ids(stores, &a, &by_score).await, strs(&["trace-1"]));
    assert!(trace_ids(stores, &b, &by_score).await.is_empty());
    let by_user = ObservationQuery {
        user_id: Some("user-1".into()),
        ..ObservationQuery::default()
    };
    assert!(observation_ids(stores, &b, &by_user).await.is_empty());
}

pub async fn same_ids_in_two_projects_are_independent(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "name": "in a", "tags": ["a"], "sessionId": "session-1",
                      "environment": "production"}},
            {"id": "e2", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "obs-1", "traceId": "trace-1", "name": "span a",
                      "startTime": "2025-03-01T10:00:00Z", "endTime": "2025-03-01T10:00:01Z"}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.1}}
        ]),
    )
    .await;
    // The same event ids and entity ids in project B: not a replay, a different entity.
    ingest_ok(
        stores,
        &b,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "name": "in b", "tags": ["b"], "sessionId": "session-1",
                      "environment": "staging"}},
            {"id": "e2", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "obs-1", "traceId": "trace-1", "name": "gen b",
                      "startTime": "2025-03-01T10:00:00Z", "endTime": "2025-03-01T10:00:09Z",
                      "costDetails": {"total": 2.0}}},
            {"id": "e4", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "obs-2", "traceId": "trace-1"}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.9}}
        ]),
    )
    .await;
    let in_a = get_trace(stores, &a, "trace-1").await;
    let in_b = get_trace(stores, &b, "trace-1").await;
    assert_eq!(in_a.trace.name.as_deref(), Some("in a"));
    assert_eq!(in_a.trace.tags, strs(&["a"]));
    assert_eq!(in_a.observation_ids, strs(&["obs-1"]));
    assert_eq!(in_a.total_cost, 0.0);
    assert_close(in_a.latency_seconds, 1.0, "latency in a");
    assert_eq!(in_b.trace.name.as_deref(), Some("in b"));
    assert_eq!(in_b.trace.tags, strs(&["b"]));
    assert_eq!(set(&in_b.observation_ids), set(&strs(&["obs-1", "obs-2"])));
    assert_close(in_b.total_cost, 2.0, "total cost in b");
    assert_close(in_b.latency_seconds, 9.0, "latency in b");

    assert_eq!(get_observation(stores, &a, "obs-1").await.r#type, "SPAN");
    assert_eq!(
        get_observation(stores, &b, "obs-1").await.r#type,
        "GENERATION"
    );
    assert_eq!(get_score(stores, &a, "score-1").await.score.value, 0.1);
    assert_eq!(get_score(stores, &b, "score-1").await.score.value, 0.9);
    assert_eq!(
        get_score(stores, &a, "score-1")
            .await
            .trace
            .map(|trace| trace.tags),
        Some(strs(&["a"]))
    );
    let session_a = stores.sessions.get_session(&a, "session-1").await.unwrap();
    let session_b = stores.sessions.get_session(&b, "session-1").await.unwrap();
    assert_eq!(
        session_a.map(|s| s.environment).as_deref(),
        Some("production")
    );
    assert_eq!(session_b.map(|s| s.environment).as_deref(), Some("staging"));
    assert_eq!(
        stores
            .sessions
            .traces_of_session(&a, "session-1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        stores
            .observations
            .observations_of_trace(&a, "trace-1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        stores
            .scores
            .scores_of_trace(&b, "trace-1")
            .await
            .unwrap()
            .into_iter()
            .map(|score| score.value)
            .collect::<Vec<_>>(),
        vec![0.9]
    );
}

#[cfg(test)]
mod tests {
    /// Every public test function must be listed in `conformance_suite!`, or backends
    /// would silently skip it.
    #[test]
    fn every_test_function_is_in_the_macro() {
        let source = include_str!("testsuite.rs");
        let (macro_part, functions_part) = source
            .split_once("// Helpers")
            .expect("the macro comes before the helpers");
        let listed: Vec<&str> = macro_part
            .lines()
            .map(str::trim)
            .filter_map(|line| line.strip_suffix(','))
            .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        let defined: Vec<&str> = functions_part
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter(|rest| rest.contains("(stores: &Stores)"))
            .filter_map(|rest| rest.split('(').next())
            .collect();
        assert!(defined.len() > 20, "found {defined:?}");
        for name in &defined {
            assert!(
                listed.contains(name),
                "`{name}` is not in conformance_suite!"
            );
        }
        for name in &listed {
            assert!(defined.contains(name), "`{name}` is listed but not defined");
        }
    }
}
