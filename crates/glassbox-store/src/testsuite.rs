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
use glassbox_model::annotations::{
    AnnotationObjectType, AnnotationQueue, AnnotationQueueAssignment, AnnotationQueueItem,
    AnnotationQueueStatus,
};
use glassbox_model::comments::{Comment, CommentObjectType};
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
pub use crate::testsuite_accounts::*;

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
            admin_project_membership,
            trace_ids_keyset_pagination_visits_every_match_once,
            score_configs_list_update_and_archive,
            comments_insert_get_and_filtered_pages,
            annotation_queues_have_unique_names_per_project,
            annotation_queue_items_status_dedup_and_scoping,
            annotation_queue_item_locks,
            annotation_queue_assignments_are_idempotent,
            sessions_come_from_traces,
            delete_traces_removes_observations_scores_and_events,
            delete_score_removes_only_that_score,
            project_scoping_hides_data_from_other_projects,
            same_ids_in_two_projects_are_independent,
            media_create_or_get_dedups_by_hash,
            media_upload_stores_the_blob_and_marks_the_record,
            media_rejected_upload_stores_nothing,
            media_is_scoped_by_project,
            datasets_upsert_by_name_get_and_list,
            dataset_items_upsert_merges_and_reads_pin_versions,
            dataset_items_archive_and_unique_ids,
            dataset_item_delete_is_a_versioned_tombstone,
            run_items_from_the_api_create_the_run_once,
            experiment_spans_make_runs_and_meet_api_run_items,
            delete_run_removes_it_and_its_items,
            run_item_results_latency_cost_output_and_scores,
            experiments_and_experiment_items_reads,
            datasets_and_runs_are_scoped_by_project,
            accounts_first_user_owns_the_existing_organization,
            accounts_first_user_on_an_empty_backend_gets_a_new_organization,
            accounts_sessions_expire_and_sign_out,
            ui_trace_row_stats_sum_tokens_level_and_scores,
            models_create_get_list_delete_and_scoping,
            model_prices_infer_cost_and_recompute_after_a_change,
            metrics_rollups_replace_refolded_and_deleted_observations,
            metrics_are_scoped_by_project,
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

// ---------------------------------------------------------------------------------------
// Score configs, comments, annotation queues
// ---------------------------------------------------------------------------------------

pub async fn admin_project_membership(stores: &Stores) {
    let a = project(stores, "project-a").await;
    stores
        .admin
        .ensure_organization(Organization {
            id: "org-other".into(),
            name: "Other".into(),
            created_at: micros("2025-01-01T00:00:00Z"),
        })
        .await
        .unwrap();
    let other = ProjectId("project-other-org".into());
    stores
        .admin
        .ensure_project(Project {
            id: other.clone(),
            org_id: "org-other".into(),
            name: "Other".into(),
            retention_days: None,
            metadata: Default::default(),
            created_at: micros("2025-01-01T00:00:00Z"),
        })
        .await
        .unwrap();
    stores
        .admin
        .ensure_user(User {
            id: "member-1".into(),
            email: "member@example.com".into(),
            name: "Member".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: micros("2025-01-01T00:00:00Z"),
        })
        .await
        .unwrap();
    assert!(
        !stores
            .admin
            .is_project_member(&a, "member-1")
            .await
            .unwrap()
    );
    stores
        .admin
        .set_organization_role(ORG, "member-1", Role::Viewer)
        .await
        .unwrap();
    assert!(
        stores
            .admin
            .is_project_member(&a, "member-1")
            .await
            .unwrap()
    );
    assert!(
        !stores
            .admin
            .is_project_member(&other, "member-1")
            .await
            .unwrap(),
        "membership of one organization says nothing about another's projects"
    );
    assert!(!stores.admin.is_project_member(&a, "nobody").await.unwrap());
}

pub async fn trace_ids_keyset_pagination_visits_every_match_once(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let mut batch = Vec::new();
    for index in 0..25 {
        // Pairs of equal timestamps: ties are broken by id.
        let second = index / 2;
        let user = if index % 5 == 0 { "u-skip" } else { "u-keep" };
        batch.push(json!({"id": format!("e{index}"), "type": "trace-create",
            "timestamp": "2025-03-01T00:00:00Z",
            "body": {"id": format!("t{index:02}"), "userId": user,
                     "timestamp": format!("2025-03-01T00:00:{second:02}Z")}}));
    }
    ingest_ok(stores, &a, json!(batch)).await;
    ingest_ok(
        stores,
        &b,
        json!([{"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T00:00:00Z",
                "body": {"id": "t-b", "userId": "u-keep"}}]),
    )
    .await;
    let query = TraceQuery {
        user_id: Some("u-keep".into()),
        ..TraceQuery::default()
    };
    let mut seen: Vec<TraceCursor> = Vec::new();
    loop {
        let batch = stores
            .traces
            .list_trace_ids_after(&a, &query, seen.last(), 4)
            .await
            .unwrap();
        assert!(batch.len() <= 4);
        if batch.is_empty() {
            break;
        }
        seen.extend(batch);
    }
    let ids: Vec<String> = seen.iter().map(|cursor| cursor.id.clone()).collect();
    let mut expected: Vec<String> = (0..25)
        .filter(|index| index % 5 != 0)
        .map(|index| format!("t{index:02}"))
        .collect();
    expected.reverse();
    assert_eq!(ids, expected, "timestamp desc, id desc, each once");
    assert!(
        seen.windows(2)
            .all(|pair| pair[0].timestamp >= pair[1].timestamp)
    );
    let b_ids = stores
        .traces
        .list_trace_ids_after(&b, &TraceQuery::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(
        b_ids.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["t-b"]
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
            .score_configs
            .get_score_config(project, "cfg-1")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn project_scoping_hides_data_from_other_projects(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    stores
        .score_configs
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

// ---------------------------------------------------------------------------------------
// Datasets, dataset items, dataset runs and experiments
// ---------------------------------------------------------------------------------------

use glassbox_model::datasets::{
    Dataset, DatasetItem, DatasetItemChange, DatasetItemStatus, ExperimentItemRecord, FieldChange,
};

fn dataset_upsert(id: &str, name: &str, at: &str) -> DatasetUpsert {
    DatasetUpsert {
        id: id.into(),
        name: name.into(),
        description: None,
        metadata: None,
        input_schema: None,
        expected_output_schema: None,
        now: micros(at),
    }
}

async fn create_dataset(stores: &Stores, project: &ProjectId, id: &str, name: &str) -> Dataset {
    stores
        .datasets
        .upsert_dataset(project, dataset_upsert(id, name, "2025-05-01T00:00:00Z"))
        .await
        .expect("upsert_dataset")
}

fn set_input(input: Value) -> DatasetItemChange {
    DatasetItemChange {
        input: FieldChange::Set(Some(input)),
        ..DatasetItemChange::default()
    }
}

async fn upsert_item(
    stores: &Stores,
    project: &ProjectId,
    dataset_id: &str,
    item_id: &str,
    change: DatasetItemChange,
    at: &str,
) -> DatasetItem {
    stores
        .datasets
        .upsert_dataset_item(project, dataset_id, item_id, change, micros(at))
        .await
        .unwrap_or_else(|error| panic!("upsert_dataset_item {item_id}: {error}"))
}

async fn item_ids(stores: &Stores, project: &ProjectId, query: &DatasetItemQuery) -> Vec<String> {
    let result = stores
        .datasets
        .list_dataset_items(project, query, ALL)
        .await
        .expect("list_dataset_items");
    assert_eq!(result.total_items, result.items.len() as u64, "{query:?}");
    result.items.into_iter().map(|item| item.id).collect()
}

/// The items of a dataset as they were at `iso`.
async fn items_at(
    stores: &Stores,
    project: &ProjectId,
    dataset_id: &str,
    iso: &str,
) -> Vec<DatasetItem> {
    let query = DatasetItemQuery {
        version: Some(micros(iso)),
        ..in_dataset(dataset_id)
    };
    stores
        .datasets
        .list_dataset_items(project, &query, ALL)
        .await
        .expect("list_dataset_items")
        .items
}

fn in_dataset(dataset_id: &str) -> DatasetItemQuery {
    DatasetItemQuery {
        dataset_id: Some(dataset_id.into()),
        ..DatasetItemQuery::default()
    }
}

fn new_run_item(id: &str, run_id: &str, run_name: &str, item: &str, trace: &str) -> NewRunItem {
    NewRunItem {
        id: id.into(),
        run_id: run_id.into(),
        run_name: run_name.into(),
        run_description: Some("first description".into()),
        run_metadata: Some(json!({"model": "a"})),
        dataset_item_id: item.into(),
        trace_id: trace.into(),
        observation_id: None,
        dataset_version: None,
        created_at: micros("2025-05-02T00:00:00Z"),
    }
}

fn experiment_record(
    experiment: &str,
    dataset: Option<&str>,
    item: &str,
    trace: &str,
    start: &str,
) -> ExperimentItemRecord {
    ExperimentItemRecord {
        experiment_id: experiment.into(),
        experiment_name: Some(format!("{experiment}-name")),
        experiment_description: None,
        experiment_metadata: None,
        dataset_id: dataset.map(str::to_owned),
        item_id: item.into(),
        item_version: None,
        item_expected_output: None,
        item_metadata: None,
        trace_id: trace.into(),
        root_observation_id: None,
        start_time: micros(start),
    }
}

pub async fn datasets_upsert_by_name_get_and_list(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let mut first = dataset_upsert("ds-1", "evals/qa", "2025-05-01T00:00:00Z");
    first.description = Some("QA".into());
    first.metadata = Some(json!({"owner": "team"}));
    first.input_schema = Some(json!({"type": "object"}));
    let created = stores.datasets.upsert_dataset(&a, first).await.unwrap();
    assert_eq!(created.id, "ds-1");
    assert_eq!(created.name, "evals/qa");
    assert_eq!(created.metadata, Some(json!({"owner": "team"})));
    assert_eq!(created.expected_output_schema, None);
    assert_eq!(created.created_at, micros("2025-05-01T00:00:00Z"));

    // Same name: an update of that dataset; the new id is not used, omitted values stay.
    let mut again = dataset_upsert("ds-other", "evals/qa", "2025-05-01T01:00:00Z");
    again.description = Some("QA v2".into());
    let updated = stores.datasets.upsert_dataset(&a, again).await.unwrap();
    assert_eq!(updated.id, "ds-1");
    assert_eq!(updated.description.as_deref(), Some("QA v2"));
    assert_eq!(updated.metadata, Some(json!({"owner": "team"})), "kept");
    assert_eq!(
        updated.input_schema,
        Some(json!({"type": "object"})),
        "kept"
    );
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(updated.updated_at, micros("2025-05-01T01:00:00Z"));
    assert_eq!(
        stores
            .datasets
            .get_dataset_by_name(&a, "evals/qa")
            .await
            .unwrap(),
        Some(updated.clone())
    );
    assert_eq!(
        stores.datasets.get_dataset(&a, "ds-1").await.unwrap(),
        Some(updated)
    );
    assert_eq!(
        stores
            .datasets
            .get_dataset_by_name(&a, "evals")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores.datasets.get_dataset(&a, "ds-other").await.unwrap(),
        None
    );

    stores
        .datasets
        .upsert_dataset(&a, dataset_upsert("ds-2", "second", "2025-05-02T00:00:00Z"))
        .await
        .unwrap();
    stores
        .datasets
        .upsert_dataset(&a, dataset_upsert("ds-3", "third", "2025-05-03T00:00:00Z"))
        .await
        .unwrap();
    let first_page = stores.datasets.list_datasets(&a, page(1, 2)).await.unwrap();
    assert_eq!(first_page.total_items, 3);
    let names: Vec<&str> = first_page.items.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["third", "second"], "newest first");
    let second_page = stores.datasets.list_datasets(&a, page(2, 2)).await.unwrap();
    let names: Vec<&str> = second_page.items.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["evals/qa"]);
}

pub async fn dataset_items_upsert_merges_and_reads_pin_versions(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "capitals").await;
    let v1 = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            input: FieldChange::Set(Some(json!({"country": "France"}))),
            expected_output: FieldChange::Set(Some(json!("Paris"))),
            metadata: FieldChange::Set(Some(json!({"difficulty": "easy"}))),
            source_trace_id: FieldChange::Set(Some("trace-src".into())),
            ..DatasetItemChange::default()
        },
        "2025-05-01T10:00:00.123456Z",
    )
    .await;
    assert_eq!(
        v1.valid_from,
        micros("2025-05-01T10:00:00.123Z"),
        "milliseconds"
    );
    assert_eq!(v1.status, DatasetItemStatus::Active);
    assert_eq!(v1.dataset_name, "capitals");

    // Partial update: only the expected output; `null` metadata clears.
    let v2 = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            expected_output: FieldChange::Set(Some(json!("Paris, France"))),
            metadata: FieldChange::Set(None),
            ..DatasetItemChange::default()
        },
        "2025-05-01T11:00:00Z",
    )
    .await;
    assert_eq!(v2.input, Some(json!({"country": "France"})), "merged");
    assert_eq!(v2.expected_output, Some(json!("Paris, France")));
    assert_eq!(v2.metadata, None);
    assert_eq!(v2.source_trace_id.as_deref(), Some("trace-src"));
    assert_eq!(
        v2.created_at, v1.valid_from,
        "creation time of the first version"
    );

    // A write in the same millisecond as the last version still moves time forward.
    let v3 = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!({"country": "FR"})),
        "2025-05-01T11:00:00Z",
    )
    .await;
    assert_eq!(v3.valid_from, micros("2025-05-01T11:00:00.001Z"));

    let current = stores
        .datasets
        .get_dataset_item(&a, "item-1")
        .await
        .unwrap();
    assert_eq!(current, Some(v3.clone()));

    let read_at = |iso: &'static str| items_at(stores, &a, &dataset.id, iso);
    assert!(
        read_at("2025-05-01T09:00:00Z").await.is_empty(),
        "before creation"
    );
    assert_eq!(
        read_at("2025-05-01T10:00:00.123Z").await,
        vec![v1.clone()],
        "at its version"
    );
    assert_eq!(read_at("2025-05-01T10:59:59Z").await, vec![v1]);
    assert_eq!(read_at("2025-05-01T11:00:00Z").await, vec![v2]);
    assert_eq!(read_at("2030-01-01T00:00:00Z").await, vec![v3.clone()]);
    assert_eq!(
        stores
            .datasets
            .list_dataset_items(&a, &in_dataset(&dataset.id), ALL)
            .await
            .unwrap()
            .items,
        vec![v3]
    );

    // Filters and order (newest first).
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-2",
        set_input(json!(2)),
        "2025-05-02T00:00:00Z",
    )
    .await;
    let other = create_dataset(stores, &a, "ds-2", "other").await;
    upsert_item(
        stores,
        &a,
        &other.id,
        "item-3",
        set_input(json!(3)),
        "2025-05-03T00:00:00Z",
    )
    .await;
    assert_eq!(
        item_ids(stores, &a, &in_dataset(&dataset.id)).await,
        strs(&["item-2", "item-1"])
    );
    assert_eq!(
        item_ids(stores, &a, &DatasetItemQuery::default()).await,
        strs(&["item-3", "item-2", "item-1"])
    );
    let by_source = DatasetItemQuery {
        source_trace_id: Some("trace-src".into()),
        ..DatasetItemQuery::default()
    };
    assert_eq!(item_ids(stores, &a, &by_source).await, strs(&["item-1"]));
    let by_ids = DatasetItemQuery {
        ids: strs(&["item-3", "item-1", "nope"]),
        ..DatasetItemQuery::default()
    };
    assert_eq!(
        item_ids(stores, &a, &by_ids).await,
        strs(&["item-3", "item-1"])
    );
    let paged = stores
        .datasets
        .list_dataset_items(&a, &DatasetItemQuery::default(), page(2, 2))
        .await
        .unwrap();
    assert_eq!(paged.total_items, 3);
    assert_eq!(paged.items.len(), 1);
    assert_eq!(paged.items[0].id, "item-1");
}

pub async fn dataset_items_archive_and_unique_ids(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "one").await;
    let other = create_dataset(stores, &a, "ds-2", "two").await;
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!("q")),
        "2025-05-01T00:00:00Z",
    )
    .await;
    let archived = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            status: Some(DatasetItemStatus::Archived),
            ..DatasetItemChange::default()
        },
        "2025-05-01T01:00:00Z",
    )
    .await;
    assert_eq!(archived.status, DatasetItemStatus::Archived);
    assert_eq!(
        archived.input,
        Some(json!("q")),
        "archiving keeps the content"
    );
    assert!(
        item_ids(stores, &a, &in_dataset(&dataset.id))
            .await
            .is_empty()
    );
    let with_archived = DatasetItemQuery {
        include_archived: true,
        ..in_dataset(&dataset.id)
    };
    assert_eq!(
        item_ids(stores, &a, &with_archived).await,
        strs(&["item-1"])
    );
    let by_id = stores
        .datasets
        .get_dataset_item(&a, "item-1")
        .await
        .unwrap();
    assert_eq!(
        by_id.map(|item| item.status),
        Some(DatasetItemStatus::Archived)
    );
    let before = DatasetItemQuery {
        version: Some(micros("2025-05-01T00:30:00Z")),
        ..in_dataset(&dataset.id)
    };
    assert_eq!(
        item_ids(stores, &a, &before).await,
        strs(&["item-1"]),
        "active back then"
    );
    // A later upsert without a status keeps it archived; an explicit one reactivates.
    let kept = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!("q2")),
        "2025-05-01T02:00:00Z",
    )
    .await;
    assert_eq!(kept.status, DatasetItemStatus::Archived);
    let active = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            status: Some(DatasetItemStatus::Active),
            ..DatasetItemChange::default()
        },
        "2025-05-01T03:00:00Z",
    )
    .await;
    assert_eq!(
        (active.status, active.input),
        (DatasetItemStatus::Active, Some(json!("q2")))
    );

    // An item id belongs to one dataset.
    let error = stores
        .datasets
        .upsert_dataset_item(
            &a,
            &other.id,
            "item-1",
            set_input(json!(1)),
            micros("2025-05-02T00:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    let error = stores
        .datasets
        .upsert_dataset_item(
            &a,
            "no-such-dataset",
            "item-9",
            set_input(json!(1)),
            micros("2025-05-02T00:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
}

pub async fn dataset_item_delete_is_a_versioned_tombstone(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "one").await;
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!("q")),
        "2025-05-01T00:00:00Z",
    )
    .await;
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-2",
        set_input(json!("r")),
        "2025-05-01T00:00:00Z",
    )
    .await;
    stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-1", "run-1", "run", "item-1", "trace-1"),
        )
        .await
        .unwrap();
    stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-2", "run-1", "run", "item-2", "trace-2"),
        )
        .await
        .unwrap();
    assert!(
        stores
            .datasets
            .delete_dataset_item(&a, "item-1", micros("2025-05-01T05:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        !stores
            .datasets
            .delete_dataset_item(&a, "item-1", micros("2025-05-01T06:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        !stores
            .datasets
            .delete_dataset_item(&a, "unknown", micros("2025-05-01T06:00:00Z"))
            .await
            .unwrap()
    );
    assert_eq!(
        stores
            .datasets
            .get_dataset_item(&a, "item-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        item_ids(stores, &a, &in_dataset(&dataset.id)).await,
        strs(&["item-2"])
    );
    let before = DatasetItemQuery {
        version: Some(micros("2025-05-01T04:00:00Z")),
        ..in_dataset(&dataset.id)
    };
    let mut before_ids = item_ids(stores, &a, &before).await;
    before_ids.sort();
    assert_eq!(
        before_ids,
        strs(&["item-1", "item-2"]),
        "history keeps the item"
    );
    // The item's run items went with it.
    let run_items = stores
        .dataset_runs
        .list_run_items(&a, "run-1", ALL)
        .await
        .unwrap();
    let linked: Vec<&str> = run_items
        .items
        .iter()
        .map(|ri| ri.dataset_item_id.as_str())
        .collect();
    assert_eq!(linked, ["item-2"]);
    // The id can be used again: a new item with no memory of the old content.
    let again = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            expected_output: FieldChange::Set(Some(json!("new"))),
            ..DatasetItemChange::default()
        },
        "2025-05-01T05:00:00Z",
    )
    .await;
    assert_eq!(again.input, None);
    assert_eq!(
        again.valid_from,
        micros("2025-05-01T05:00:00.001Z"),
        "after the tombstone"
    );
    assert_eq!(again.created_at, again.valid_from);
}

pub async fn run_items_from_the_api_create_the_run_once(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "one").await;
    for id in ["item-1", "item-2"] {
        upsert_item(
            stores,
            &a,
            &dataset.id,
            id,
            set_input(json!(id)),
            "2025-05-01T00:00:00Z",
        )
        .await;
    }
    let first = stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-1", "run-1", "baseline", "item-1", "trace-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            first.id.as_str(),
            first.run_id.as_str(),
            first.run_name.as_str()
        ),
        ("ri-1", "run-1", "baseline")
    );
    assert_eq!(first.dataset_id.as_deref(), Some("ds-1"));
    assert_eq!(
        first.dataset_item_version,
        Some(micros("2025-05-01T00:00:00Z"))
    );
    assert_eq!(first.expected_output, None);

    // Same run name: the run is reused and its description not changed.
    let mut later = new_run_item("ri-2", "run-other", "baseline", "item-2", "trace-2");
    later.run_description = Some("changed".into());
    later.observation_id = Some("obs-2".into());
    let second = stores
        .dataset_runs
        .create_run_item(&a, later)
        .await
        .unwrap();
    assert_eq!(second.run_id, "run-1");
    assert_eq!(second.observation_id.as_deref(), Some("obs-2"));
    let run = stores
        .dataset_runs
        .get_run(&a, "run-1")
        .await
        .unwrap()
        .expect("run");
    assert_eq!(run.description.as_deref(), Some("first description"));
    assert_eq!(run.metadata, Some(json!({"model": "a"})));
    assert_eq!(run.dataset_name.as_deref(), Some("one"));
    assert_eq!(
        stores
            .dataset_runs
            .get_run_by_name(&a, "ds-1", "baseline")
            .await
            .unwrap(),
        Some(run)
    );
    assert_eq!(
        stores.dataset_runs.get_run(&a, "run-other").await.unwrap(),
        None
    );

    // A repeat of (run, item, trace) returns the stored row.
    let repeat = stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-3", "run-1", "baseline", "item-1", "trace-1"),
        )
        .await
        .unwrap();
    assert_eq!(repeat.id, "ri-1");
    let items = stores
        .dataset_runs
        .list_run_items(&a, "run-1", ALL)
        .await
        .unwrap();
    assert_eq!(items.total_items, 2);

    // Archived, deleted, unknown or not-yet-existing (pinned version) items are not found.
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-2",
        DatasetItemChange {
            status: Some(DatasetItemStatus::Archived),
            ..DatasetItemChange::default()
        },
        "2025-05-03T00:00:00Z",
    )
    .await;
    for (item, version) in [
        ("item-2", None),
        ("unknown", None),
        ("item-1", Some("2025-04-01T00:00:00Z")),
    ] {
        let mut new = new_run_item("ri-x", "run-1", "baseline", item, "trace-9");
        new.dataset_version = version.map(micros);
        let error = stores
            .dataset_runs
            .create_run_item(&a, new)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::NotFound { .. }),
            "{item}: {error:?}"
        );
    }
    // Pinned to a time when it was active, the archived item runs in that version.
    let mut pinned = new_run_item("ri-4", "run-1", "baseline", "item-2", "trace-4");
    pinned.dataset_version = Some(micros("2025-05-02T00:00:00Z"));
    let pinned = stores
        .dataset_runs
        .create_run_item(&a, pinned)
        .await
        .unwrap();
    assert_eq!(
        pinned.dataset_item_version,
        Some(micros("2025-05-01T00:00:00Z"))
    );

    let runs = stores
        .dataset_runs
        .list_runs(&a, "ds-1", ALL)
        .await
        .unwrap();
    assert_eq!(runs.total_items, 1);
}

pub async fn experiment_spans_make_runs_and_meet_api_run_items(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "one").await;
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!(1)),
        "2025-05-01T00:00:00Z",
    )
    .await;

    // JS path: the API call first, then the spans with the returned run id.
    let api = stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-1", "run-js", "js-run", "item-1", "trace-1"),
        )
        .await
        .unwrap();
    let mut span_record = experiment_record(
        "run-js",
        Some("ds-1"),
        "item-1",
        "trace-1",
        "2025-05-01T23:59:00Z",
    );
    span_record.root_observation_id = Some("root-1".into());
    span_record.item_expected_output = Some(json!("Paris"));
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![span_record])
        .await
        .unwrap();
    let items = stores
        .dataset_runs
        .list_run_items(&a, "run-js", ALL)
        .await
        .unwrap()
        .items;
    assert_eq!(items.len(), 1, "one run item from both paths");
    assert_eq!(items[0].id, api.id);
    assert_eq!(
        items[0].observation_id.as_deref(),
        Some("root-1"),
        "filled in"
    );
    assert_eq!(
        items[0].created_at,
        micros("2025-05-01T23:59:00Z"),
        "earliest"
    );

    // Python path: spans only, the run from the attributes; evaluator spans without the
    // description arrive first, the task span with it later.
    let mut evaluator = experiment_record(
        "5cb234bf946b9e75",
        Some("ds-1"),
        "item-1",
        "trace-py",
        "2025-05-02T00:00:01Z",
    );
    evaluator.experiment_metadata = Some(json!({"model": "lookup"}));
    let mut task = experiment_record(
        "5cb234bf946b9e75",
        Some("ds-1"),
        "item-1",
        "trace-py",
        "2025-05-02T00:00:00Z",
    );
    task.experiment_description = Some("Baseline".into());
    task.root_observation_id = Some("task-span".into());
    task.item_metadata = Some(json!({"difficulty": "easy"}));
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![evaluator.clone()])
        .await
        .unwrap();
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![task.clone()])
        .await
        .unwrap();
    // Re-sent spans change nothing.
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![task, evaluator])
        .await
        .unwrap();
    let run = stores
        .dataset_runs
        .get_run(&a, "5cb234bf946b9e75")
        .await
        .unwrap()
        .expect("run");
    assert_eq!(run.name, "5cb234bf946b9e75-name");
    assert_eq!(run.description.as_deref(), Some("Baseline"));
    assert_eq!(run.metadata, Some(json!({"model": "lookup"})));
    assert_eq!(run.dataset_id.as_deref(), Some("ds-1"));
    assert_eq!(run.created_at, micros("2025-05-02T00:00:00Z"));
    let items = stores
        .dataset_runs
        .list_run_items(&a, &run.id, ALL)
        .await
        .unwrap()
        .items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].observation_id.as_deref(), Some("task-span"));
    assert_eq!(items[0].item_metadata, Some(json!({"difficulty": "easy"})));
    assert_eq!(items[0].dataset_item_id, "item-1");
    let mut runs: Vec<String> = stores
        .dataset_runs
        .list_runs(&a, "ds-1", ALL)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|run| run.id)
        .collect();
    runs.sort();
    assert_eq!(runs, strs(&["5cb234bf946b9e75", "run-js"]));

    // Spans of an experiment on local data: a run without a dataset.
    stores
        .dataset_runs
        .record_experiment_items(
            &a,
            vec![experiment_record(
                "local-1",
                None,
                "hash-1",
                "trace-l",
                "2025-05-03T00:00:00Z",
            )],
        )
        .await
        .unwrap();
    let local = stores
        .dataset_runs
        .get_run(&a, "local-1")
        .await
        .unwrap()
        .expect("local run");
    assert_eq!((local.dataset_id, local.dataset_name), (None, None));
    // Spans naming an existing run of the dataset under another id join that run.
    let mut renamed = experiment_record(
        "other-id",
        Some("ds-1"),
        "item-1",
        "trace-r",
        "2025-05-04T00:00:00Z",
    );
    renamed.experiment_name = Some("js-run".into());
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![renamed])
        .await
        .unwrap();
    assert_eq!(
        stores.dataset_runs.get_run(&a, "other-id").await.unwrap(),
        None
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&a, "run-js", ALL)
            .await
            .unwrap()
            .total_items,
        2
    );
}

pub async fn delete_run_removes_it_and_its_items(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "one").await;
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!(1)),
        "2025-05-01T00:00:00Z",
    )
    .await;
    for (run, trace) in [("run-1", "t1"), ("run-2", "t2")] {
        stores
            .dataset_runs
            .create_run_item(
                &a,
                new_run_item(&format!("ri-{run}"), run, run, "item-1", trace),
            )
            .await
            .unwrap();
    }
    assert!(stores.dataset_runs.delete_run(&a, "run-1").await.unwrap());
    assert!(!stores.dataset_runs.delete_run(&a, "run-1").await.unwrap());
    assert_eq!(
        stores.dataset_runs.get_run(&a, "run-1").await.unwrap(),
        None
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&a, "run-1", ALL)
            .await
            .unwrap()
            .total_items,
        0
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&a, "run-2", ALL)
            .await
            .unwrap()
            .total_items,
        1
    );
    // The name is free again: a new run with a new id.
    let again = stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-new", "run-1b", "run-1", "item-1", "t1"),
        )
        .await
        .unwrap();
    assert_eq!(again.run_id, "run-1b");
}

/// Two runs over two items with traces that have observations, costs and scores.
async fn comparison_fixture(stores: &Stores, project: &ProjectId) {
    let dataset = create_dataset(stores, project, "ds-1", "one").await;
    for id in ["item-1", "item-2"] {
        upsert_item(
            stores,
            project,
            &dataset.id,
            id,
            set_input(json!(id)),
            "2025-05-01T00:00:00Z",
        )
        .await;
    }
    ingest_ok(
        stores,
        project,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-06-01T10:00:00Z",
             "body": {"id": "t-a1", "output": "trace output a1"}},
            {"id": "e2", "type": "span-create", "timestamp": "2025-06-01T10:00:00Z",
             "body": {"id": "root-a1", "traceId": "t-a1", "startTime": "2025-06-01T10:00:00Z",
                      "endTime": "2025-06-01T10:00:02Z", "output": "Paris"}},
            {"id": "e3", "type": "generation-create", "timestamp": "2025-06-01T10:00:00Z",
             "body": {"id": "gen-a1", "traceId": "t-a1", "parentObservationId": "root-a1",
                      "startTime": "2025-06-01T10:00:00.500Z", "endTime": "2025-06-01T10:00:01Z",
                      "costDetails": {"total": 0.25}}},
            {"id": "e4", "type": "span-create", "timestamp": "2025-06-01T10:00:03Z",
             "body": {"id": "eval-a1", "traceId": "t-a1", "startTime": "2025-06-01T10:00:03Z",
                      "endTime": "2025-06-01T10:00:09Z", "costDetails": {"total": 5.0}}},
            {"id": "e5", "type": "score-create", "timestamp": "2025-06-01T10:00:05Z",
             "body": {"id": "s-a1", "traceId": "t-a1", "observationId": "root-a1", "name": "exact", "value": 1}},
            {"id": "e6", "type": "trace-create", "timestamp": "2025-06-01T11:00:00Z",
             "body": {"id": "t-b1", "output": "Lyon"}},
            {"id": "e7", "type": "span-create", "timestamp": "2025-06-01T11:00:00Z",
             "body": {"id": "only-b1", "traceId": "t-b1", "startTime": "2025-06-01T11:00:00Z",
                      "endTime": "2025-06-01T11:00:04Z", "costDetails": {"total": 0.5}}},
            {"id": "e8", "type": "score-create", "timestamp": "2025-06-01T11:00:05Z",
             "body": {"id": "s-b1", "traceId": "t-b1", "name": "exact", "value": 0}}
        ]),
    )
    .await;
    let mut a1 = new_run_item("ri-a1", "run-a", "a", "item-1", "t-a1");
    a1.observation_id = Some("root-a1".into());
    stores
        .dataset_runs
        .create_run_item(project, a1)
        .await
        .unwrap();
    // Item 2 in run a: a trace that never arrived.
    stores
        .dataset_runs
        .create_run_item(
            project,
            new_run_item("ri-a2", "run-a", "a", "item-2", "t-missing"),
        )
        .await
        .unwrap();
    stores
        .dataset_runs
        .create_run_item(
            project,
            new_run_item("ri-b1", "run-b", "b", "item-1", "t-b1"),
        )
        .await
        .unwrap();
}

pub async fn run_item_results_latency_cost_output_and_scores(stores: &Stores) {
    let a = project(stores, "project-a").await;
    comparison_fixture(stores, &a).await;
    let results = stores
        .dataset_runs
        .run_item_results(&a, &strs(&["run-a", "run-b"]))
        .await
        .unwrap();
    let find = |id: &str| {
        results
            .iter()
            .find(|result| result.run_item.id == id)
            .unwrap_or_else(|| panic!("{id} in {results:?}"))
    };
    assert_eq!(results.len(), 3);
    // Linked to an observation: its duration, the cost of its subtree, its output.
    let a1 = find("ri-a1");
    assert_eq!(a1.output, Some(json!("Paris")));
    assert_close(
        a1.latency_seconds.expect("latency"),
        2.0,
        "observation latency",
    );
    assert_close(
        a1.total_cost.expect("cost"),
        0.25,
        "subtree cost, not the evaluator's",
    );
    assert_eq!(
        a1.scores.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s-a1"]
    );
    // Linked to a trace only: the trace's span of time, total cost and output.
    let b1 = find("ri-b1");
    assert_eq!(b1.output, Some(json!("Lyon")));
    assert_close(b1.latency_seconds.expect("latency"), 4.0, "trace latency");
    assert_close(b1.total_cost.expect("cost"), 0.5, "trace cost");
    assert_eq!(b1.scores[0].value, 0.0);
    // Nothing of the trace arrived.
    let a2 = find("ri-a2");
    assert_eq!(
        (a2.latency_seconds, a2.total_cost, a2.output.clone()),
        (None, None, None)
    );
    assert!(a2.scores.is_empty());
    // Only the runs asked for; the newest run item per (run, item) wins.
    stores
        .dataset_runs
        .create_run_item(&a, {
            let mut newer = new_run_item("ri-b1-again", "run-b", "b", "item-1", "t-a1");
            newer.created_at = micros("2025-07-01T00:00:00Z");
            newer
        })
        .await
        .unwrap();
    let only_b = stores
        .dataset_runs
        .run_item_results(&a, &strs(&["run-b"]))
        .await
        .unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].run_item.id, "ri-b1-again");
    assert!(
        stores
            .dataset_runs
            .run_item_results(&a, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn experiments_and_experiment_items_reads(stores: &Stores) {
    let a = project(stores, "project-a").await;
    comparison_fixture(stores, &a).await;
    stores
        .dataset_runs
        .record_experiment_items(
            &a,
            vec![{
                let mut record =
                    experiment_record("local-1", None, "hash-1", "t-b1", "2025-06-01T11:00:00Z");
                record.root_observation_id = Some("only-b1".into());
                record
            }],
        )
        .await
        .unwrap();
    let everything = ExperimentQuery {
        from_start_time: micros("2025-01-01T00:00:00Z"),
        ..ExperimentQuery::default()
    };
    let experiments = stores
        .dataset_runs
        .list_experiments(&a, &everything, None, 10)
        .await
        .unwrap();
    let summary: Vec<(&str, u64)> = experiments
        .iter()
        .map(|e| (e.run.id.as_str(), e.item_count))
        .collect();
    // Latest activity first: run-a's missing trace counts at its creation (2025-05-02).
    assert_eq!(summary, [("local-1", 1), ("run-b", 1), ("run-a", 2)]);
    let run_a = &experiments[2];
    assert_eq!(run_a.start_time, micros("2025-05-02T00:00:00Z"));
    assert_eq!(run_a.end_time, micros("2025-06-01T10:00:02Z"));
    assert_eq!(experiments[0].end_time, micros("2025-06-01T11:00:04Z"));

    // Keyset pages return every experiment once.
    let first = stores
        .dataset_runs
        .list_experiments(&a, &everything, None, 2)
        .await
        .unwrap();
    let last = &first[1];
    let cursor = ExperimentCursor {
        end_time: last.end_time,
        id: last.run.id.clone(),
    };
    let rest = stores
        .dataset_runs
        .list_experiments(&a, &everything, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|e| e.run.id.as_str()).collect::<Vec<_>>(),
        ["run-a"]
    );

    // Range and filters.
    let june = ExperimentQuery {
        from_start_time: micros("2025-06-01T00:00:00Z"),
        to_start_time: Some(micros("2025-06-01T10:30:00Z")),
        ..ExperimentQuery::default()
    };
    let in_june = stores
        .dataset_runs
        .list_experiments(&a, &june, None, 10)
        .await
        .unwrap();
    assert_eq!(in_june.len(), 1);
    assert_eq!(
        (in_june[0].run.id.as_str(), in_june[0].item_count),
        ("run-a", 1)
    );
    let by_dataset = ExperimentQuery {
        dataset_ids: strs(&["ds-1"]),
        experiment_names: strs(&["b"]),
        ..everything.clone()
    };
    let named = stores
        .dataset_runs
        .list_experiments(&a, &by_dataset, None, 10)
        .await
        .unwrap();
    assert_eq!(
        named.iter().map(|e| e.run.id.as_str()).collect::<Vec<_>>(),
        ["run-b"]
    );
    let filtered = ExperimentQuery {
        filters: filter(
            r#"[{"type":"stringOptions","column":"id","operator":"any of","value":["local-1"]}]"#,
            glassbox_model::datasets::EXPERIMENT_COLUMNS,
        ),
        ..everything.clone()
    };
    let filtered = stores
        .dataset_runs
        .list_experiments(&a, &filtered, None, 10)
        .await
        .unwrap();
    assert_eq!(
        filtered
            .iter()
            .map(|e| e.run.id.as_str())
            .collect::<Vec<_>>(),
        ["local-1"]
    );

    // Items: newest first, with the linked observation.
    let items = stores
        .dataset_runs
        .list_experiment_items(&a, &everything, None, 10)
        .await
        .unwrap();
    let order: Vec<&str> = items
        .iter()
        .map(|item| item.run_item.trace_id.as_str())
        .collect();
    assert_eq!(order, ["t-b1", "t-b1", "t-a1", "t-missing"]);
    let a1 = &items[2];
    assert_eq!(
        a1.observation.as_ref().map(|o| o.id.as_str()),
        Some("root-a1")
    );
    assert_eq!(a1.start_time, micros("2025-06-01T10:00:00Z"));
    assert_eq!(a1.run.name, "a");
    assert!(items[3].observation.is_none());
    let mut seen = Vec::new();
    let mut cursor: Option<ExperimentItemCursor> = None;
    loop {
        let page = stores
            .dataset_runs
            .list_experiment_items(&a, &everything, cursor.as_ref(), 1)
            .await
            .unwrap();
        let Some(item) = page.last() else { break };
        seen.push(item.run_item.id.clone());
        cursor = Some(ExperimentItemCursor {
            start_time: item.start_time,
            trace_id: item.run_item.trace_id.clone(),
            id: item.run_item.id.clone(),
        });
    }
    assert_eq!(seen.len(), 4);
    assert_eq!(set(&seen).len(), 4, "each item once");
    let by_item = ExperimentQuery {
        item_ids: strs(&["item-2"]),
        ..everything
    };
    let item_2 = stores
        .dataset_runs
        .list_experiment_items(&a, &by_item, None, 10)
        .await
        .unwrap();
    assert_eq!(item_2.len(), 1);
    assert_eq!(item_2[0].run_item.id, "ri-a2");
}

pub async fn datasets_and_runs_are_scoped_by_project(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    comparison_fixture(stores, &a).await;
    stores
        .dataset_runs
        .record_experiment_items(
            &a,
            vec![experiment_record(
                "local-1",
                None,
                "h",
                "t-x",
                "2025-06-01T00:00:00Z",
            )],
        )
        .await
        .unwrap();
    // Project B sees none of it.
    assert_eq!(
        stores
            .datasets
            .list_datasets(&b, ALL)
            .await
            .unwrap()
            .total_items,
        0
    );
    assert_eq!(stores.datasets.get_dataset(&b, "ds-1").await.unwrap(), None);
    assert_eq!(
        stores
            .datasets
            .get_dataset_by_name(&b, "one")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .datasets
            .get_dataset_item(&b, "item-1")
            .await
            .unwrap(),
        None
    );
    assert!(
        item_ids(stores, &b, &DatasetItemQuery::default())
            .await
            .is_empty()
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_runs(&b, "ds-1", ALL)
            .await
            .unwrap()
            .total_items,
        0
    );
    assert_eq!(
        stores.dataset_runs.get_run(&b, "run-a").await.unwrap(),
        None
    );
    assert_eq!(
        stores
            .dataset_runs
            .get_run_by_name(&b, "ds-1", "a")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&b, "run-a", ALL)
            .await
            .unwrap()
            .total_items,
        0
    );
    assert!(
        stores
            .dataset_runs
            .run_item_results(&b, &strs(&["run-a", "run-b"]))
            .await
            .unwrap()
            .is_empty()
    );
    let everything = ExperimentQuery {
        from_start_time: micros("2000-01-01T00:00:00Z"),
        ..ExperimentQuery::default()
    };
    assert!(
        stores
            .dataset_runs
            .list_experiments(&b, &everything, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .dataset_runs
            .list_experiment_items(&b, &everything, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // B cannot write into A's items or runs, nor delete them.
    let error = stores
        .dataset_runs
        .create_run_item(&b, new_run_item("ri-b", "run-a", "a", "item-1", "t-b"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    let error = stores
        .datasets
        .upsert_dataset_item(
            &b,
            "ds-1",
            "item-1",
            set_input(json!(1)),
            micros("2025-06-01T00:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    assert!(
        !stores
            .datasets
            .delete_dataset_item(&b, "item-1", micros("2025-06-01T00:00:00Z"))
            .await
            .unwrap()
    );
    assert!(!stores.dataset_runs.delete_run(&b, "run-a").await.unwrap());
    // The same names and ids in B are B's own.
    let b_dataset = create_dataset(stores, &b, "ds-1", "one").await;
    upsert_item(
        stores,
        &b,
        &b_dataset.id,
        "item-1",
        set_input(json!("b")),
        "2025-06-01T00:00:00Z",
    )
    .await;
    stores
        .dataset_runs
        .record_experiment_items(
            &b,
            vec![experiment_record(
                "run-a",
                Some("ds-1"),
                "item-1",
                "t-b",
                "2025-06-01T00:00:00Z",
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        stores
            .datasets
            .get_dataset_item(&a, "item-1")
            .await
            .unwrap()
            .and_then(|item| item.input),
        Some(json!("item-1"))
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&a, "run-a", ALL)
            .await
            .unwrap()
            .total_items,
        2
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&b, "run-a", ALL)
            .await
            .unwrap()
            .total_items,
        1
    );
    assert_eq!(
        stores
            .dataset_runs
            .get_run(&a, "run-a")
            .await
            .unwrap()
            .map(|run| run.name),
        Some("a".to_owned())
    );
}

// ---------------------------------------------------------------------------------------
// Models (prices) and metrics
// ---------------------------------------------------------------------------------------

fn project_model(
    project: &ProjectId,
    id: &str,
    name: &str,
    pattern: &str,
    input: f64,
    output: f64,
) -> glassbox_model::models::ModelDefinition {
    glassbox_model::models::ModelDefinition {
        id: id.into(),
        project_id: Some(project.clone()),
        model_name: name.into(),
        match_pattern: pattern.into(),
        start_date: None,
        unit: Some("TOKENS".into()),
        tokenizer_id: None,
        tokenizer_config: None,
        pricing_tiers: vec![glassbox_model::models::PricingTier {
            id: format!("{id}_tier_default"),
            name: "Standard".into(),
            is_default: true,
            priority: 0,
            conditions: Vec::new(),
            prices: vec![("input".into(), input), ("output".into(), output)],
        }],
        created_at: micros("2025-01-01T00:00:00Z"),
        updated_at: micros("2025-01-01T00:00:00Z"),
    }
}

async fn finished_recompute(stores: &Stores, project: &ProjectId, model_id: &str) -> RecomputeJob {
    for _ in 0..1_000 {
        let job = stores
            .models
            .recompute_status(project, model_id)
            .await
            .unwrap()
            .expect("a recompute was queued");
        if job.status == "done" || job.status == "failed" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the recompute of {model_id} did not finish");
}

pub async fn models_create_get_list_delete_and_scoping(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let b = project(stores, "project-b").await;
    let builtins = stores
        .models
        .list_models(
            &a,
            PageRequest {
                page: 1,
                limit: 1_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(builtins.total_items, 167);
    let model = project_model(&a, "m-1", "aaa-model", "(?i)^aaa$", 1.0, 2.0);
    stores.models.create_model(&a, model.clone()).await.unwrap();
    let listed = stores
        .models
        .list_models(&a, PageRequest { page: 1, limit: 1 })
        .await
        .unwrap();
    assert_eq!(listed.total_items, 168);
    assert_eq!(
        listed.items[0].as_ref(),
        &model,
        "sorted by model name first"
    );
    assert_eq!(
        stores.models.get_model(&a, "m-1").await.unwrap().as_deref(),
        Some(&model)
    );
    assert!(stores.models.get_model(&b, "m-1").await.unwrap().is_none());
    assert_eq!(
        stores
            .models
            .list_models(&b, PageRequest { page: 1, limit: 1 })
            .await
            .unwrap()
            .total_items,
        167
    );
    let duplicate = stores
        .models
        .create_model(&a, project_model(&a, "m-2", "aaa-model", "x", 1.0, 1.0))
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    assert!(
        stores
            .models
            .delete_model(&b, "m-1")
            .await
            .unwrap()
            .is_none()
    );
    let builtin_id = builtins.items[0].id.clone();
    assert!(
        stores
            .models
            .delete_model(&a, &builtin_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .models
            .delete_model(&a, "m-1")
            .await
            .unwrap()
            .is_some()
    );
    assert!(stores.models.get_model(&a, "m-1").await.unwrap().is_none());
}

pub async fn model_prices_infer_cost_and_recompute_after_a_change(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let b = project(stores, "project-b").await;
    let batch = json!([
        {"id": "e1", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
         "body": {"id": "g1", "traceId": "t1", "model": "gpt-4o", "usageDetails": {"input": 1000, "output": 100}}}]);
    ingest_ok(stores, &a, batch.clone()).await;
    ingest_ok(stores, &b, batch).await;
    let builtin = 1000.0 * 2.5e-6 + 100.0 * 1e-5;
    let cost = |observation: Observation| observation.total_cost.expect("a cost");
    let before = get_observation(stores, &a, "g1").await;
    assert!((cost(before.clone()) - builtin).abs() < 1e-12);
    assert_eq!(
        before.internal_model_id.as_deref(),
        Some("b9854a5c92dc496b997d99d20")
    );
    let model = project_model(&a, "mine", "gpt-4o", "(?i)^gpt-4o$", 1e-5, 2e-5);
    stores.models.create_model(&a, model).await.unwrap();
    let job = finished_recompute(stores, &a, "mine").await;
    assert_eq!(
        (job.status.as_str(), job.total, job.processed, job.updated),
        ("done", 1, 1, 1)
    );
    let after = get_observation(stores, &a, "g1").await;
    assert!((cost(after.clone()) - (1000.0 * 1e-5 + 100.0 * 2e-5)).abs() < 1e-12);
    assert_eq!(after.internal_model_id.as_deref(), Some("mine"));
    // The other project keeps the built-in price.
    let other = get_observation(stores, &b, "g1").await;
    assert!((cost(other) - builtin).abs() < 1e-12);
    stores.models.delete_model(&a, "mine").await.unwrap();
    finished_recompute(stores, &a, "mine").await;
    assert!((cost(get_observation(stores, &a, "g1").await) - builtin).abs() < 1e-12);
}

fn metrics_query(body: Value) -> glassbox_model::metrics::MetricsQuery {
    glassbox_model::metrics::parse_query_value(&body, glassbox_model::metrics::ApiVersion::V1)
        .unwrap()
}

pub async fn metrics_rollups_replace_refolded_and_deleted_observations(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let mut events = Vec::new();
    for index in 0..30 {
        events.push(json!({"id": format!("c{index}"), "type": "generation-create",
            "timestamp": "2025-03-01T10:00:00Z",
            "body": {"id": format!("g{index}"), "traceId": format!("t{}", index % 3), "name": format!("n{}", index % 2),
                     "model": "m", "startTime": format!("2025-03-01T{:02}:10:00Z", index % 20),
                     "endTime": format!("2025-03-01T{:02}:10:01Z", index % 20), "costDetails": {"total": 1.0}}}));
    }
    for index in 0..3 {
        events.push(json!({"id": format!("t{index}"), "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
            "body": {"id": format!("t{index}"), "userId": format!("u{index}")}}));
    }
    ingest_ok(stores, &a, Value::Array(events)).await;
    // Re-folds: a cost change, a model change, a user change; then a trace deleted.
    ingest_ok(
        stores,
        &a,
        json!([
        {"id": "u1", "type": "generation-update", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "g0", "costDetails": {"total": 5.0}}},
        {"id": "u2", "type": "generation-update", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "g1", "model": "other"}},
        {"id": "u3", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "t1", "userId": "u-new"}}]),
    )
    .await;
    stores
        .ingest
        .delete_traces(&a, &["t2".to_owned()])
        .await
        .unwrap();
    let range = |query: Value| {
        let mut query = query;
        query["fromTimestamp"] = json!("2025-03-01T00:00:00Z");
        query["toTimestamp"] = json!("2025-03-02T00:00:00Z");
        metrics_query(query)
    };
    let queries = [
        range(
            json!({"view": "observations", "dimensions": [{"field": "providedModelName"}, {"field": "name"}],
            "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"},
                        {"measure": "latency", "aggregation": "avg"}], "timeDimension": {"granularity": "hour"}}),
        ),
        range(
            json!({"view": "observations", "dimensions": [{"field": "userId"}],
            "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}]}),
        ),
    ];
    for query in &queries {
        let mut with = stores
            .metrics
            .query_metrics(&a, query, MetricsOptions { use_rollups: true })
            .await
            .unwrap();
        let mut without = stores
            .metrics
            .query_metrics(&a, query, MetricsOptions { use_rollups: false })
            .await
            .unwrap();
        let key = |row: &glassbox_model::metrics::ResultRow| {
            format!("{:?}{:?}", row.dimensions, row.time_bucket)
        };
        with.sort_by_key(key);
        without.sort_by_key(key);
        assert_eq!(with, without);
    }
    let by_user = stores
        .metrics
        .query_metrics(&a, &queries[1], MetricsOptions::default())
        .await
        .unwrap();
    let users: Vec<(Value, Value, Value)> = by_user
        .iter()
        .map(|row| {
            (
                row.dimensions[0].clone(),
                row.metrics[0].clone(),
                row.metrics[1].clone(),
            )
        })
        .collect();
    // t0: g0 (5.0) + 9 more; t1 moved to u-new: 10 rows; t2 deleted.
    assert_eq!(
        users,
        vec![
            (json!("u0"), json!(14.0), json!(10)),
            (json!("u-new"), json!(10.0), json!(10))
        ]
    );
}

pub async fn metrics_are_scoped_by_project(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let b = project(stores, "project-b").await;
    ingest_ok(
        stores,
        &a,
        json!([
        {"id": "e1", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
         "body": {"id": "s1", "traceId": "t1", "name": "x"}}]),
    )
    .await;
    let query = metrics_query(
        json!({"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}],
        "fromTimestamp": "2025-03-01T00:00:00Z", "toTimestamp": "2025-03-02T00:00:00Z"}),
    );
    for (project, expected) in [(&a, 1), (&b, 0)] {
        let rows = stores
            .metrics
            .query_metrics(project, &query, MetricsOptions::default())
            .await
            .unwrap();
        let count: u64 = rows
            .iter()
            .map(|row| row.metrics[0].as_u64().unwrap())
            .sum();
        assert_eq!(count, expected);
    }
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
        // The account tests live in a file of their own but are listed in this macro
        // (`testsuite_prompts.rs` has its own macro and check).
        let other_files = [include_str!("testsuite_accounts.rs")];
        let defined: Vec<&str> = std::iter::once(functions_part)
            .chain(other_files)
            .flat_map(str::lines)
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
