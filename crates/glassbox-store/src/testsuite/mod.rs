//! The backend conformance suite: behaviour every backend must show through the store
//! traits, and nothing else (no SQL, no backend types), so that the embedded SQLite
//! backend and a PostgreSQL backend run the very same checks.
//!
//! Every test is a public async function taking a fresh, empty [`Stores`], in the file of
//! its aggregate below this module and re-exported here. A backend crate runs them all
//! with [`conformance_suite!`](crate::conformance_suite):
//!
//! ```text
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

mod admin;
mod annotations;
mod dataset_runs;
mod datasets;
mod deletes;
mod media;
mod merge;
mod metrics;
mod models;
mod observations;
mod scoping;
mod scores;
mod sessions;
mod traces;

pub use admin::*;
pub use annotations::*;
pub use dataset_runs::*;
pub use datasets::*;
pub use deletes::*;
pub use media::*;
pub use merge::*;
pub use metrics::*;
pub use models::*;
pub use observations::*;
pub use scoping::*;
pub use scores::*;
pub use sessions::*;
pub use traces::*;

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

/// Start of the trace of [`otlp_trace_events`].
pub const OTLP_TRACE_START: i64 = 1_740_823_200_000_000;

/// The trace events one OTLP request gives trace `t`, shaped as the OTLP mapping shapes
/// them: the root span's (named `agent`) and three child spans' (`a`, `b`, `c`), each
/// with the attributes the SDK propagates to every span, starting 5, 9, 2 and 7 µs after
/// [`OTLP_TRACE_START`]. The children's bodies are equal but for `timestamp`, so a
/// backend logs only the first (`b`) and last (`a`) of them
/// (`glassbox_model::trace_events`).
pub fn otlp_trace_events() -> Vec<IngestEvent> {
    let event = |span: &str, offset: i64, extra: Value| {
        let start = OTLP_TRACE_START + offset;
        let mut body = json!({"timestamp": start, "environment": "prod", "userId": "u"});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        IngestEvent {
            event_id: format!("otel:t:{span}:trace"),
            event_type: "trace-create".into(),
            timestamp: start,
            kind: glassbox_model::ingest::EntityKind::Trace,
            entity_id: "t".into(),
            body: body.as_object().cloned().unwrap_or_default(),
            snapshot: false,
        }
    };
    vec![
        event("root", 5, json!({"name": "agent"})),
        event("a", 9, json!({})),
        event("b", 2, json!({})),
        event("c", 7, json!({})),
    ]
}

/// The trace event ids a backend logs for [`otlp_trace_events`]: the root's and the
/// first and last child's, in id order.
pub const OTLP_TRACE_EVENTS_LOGGED: [&str; 3] =
    ["otel:t:a:trace", "otel:t:b:trace", "otel:t:root:trace"];

/// Ingests [`otlp_trace_events`] into `project` of `store` and checks the trace they
/// fold to: the earliest start, the root's name and the propagated user. (Which events
/// were logged, [`OTLP_TRACE_EVENTS_LOGGED`], each backend checks in its own tables.)
pub async fn ingest_otlp_trace_events<S: IngestStore + TraceStore>(store: &S, project: &ProjectId) {
    let outcomes = store
        .ingest(project, otlp_trace_events())
        .await
        .expect("ingest must succeed");
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let trace = store
        .get_trace(project, "t")
        .await
        .expect("get_trace must succeed")
        .expect("the trace");
    assert_eq!(trace.trace.timestamp, OTLP_TRACE_START + 2);
    assert_eq!(trace.trace.name.as_deref(), Some("agent"));
    assert_eq!(trace.trace.user_id.as_deref(), Some("u"));
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The public conformance tests (`pub async fn name(stores: &Stores)`) of one file.
    fn test_functions(source: &str) -> Vec<String> {
        source
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter(|rest| rest.contains("(stores: &Stores)"))
            .filter_map(|rest| rest.split('(').next())
            .map(str::to_owned)
            .collect()
    }

    /// Every public test function must be listed in `conformance_suite!`, or backends
    /// would silently skip it. The files are read from disk so that a new file below
    /// `testsuite/` is checked without being named here.
    #[test]
    fn every_test_function_is_in_the_macro() {
        let source = include_str!("mod.rs");
        let (macro_part, _) = source
            .split_once("// Helpers")
            .expect("the macro comes before the helpers");
        let listed: Vec<&str> = macro_part
            .lines()
            .map(str::trim)
            .filter_map(|line| line.strip_suffix(','))
            .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testsuite");
        let mut defined = Vec::new();
        for entry in std::fs::read_dir(&directory).expect("the testsuite directory") {
            let path = entry.expect("a directory entry").path();
            let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
            if file_name == "mod.rs" || !file_name.ends_with(".rs") {
                continue;
            }
            let module = file_name.trim_end_matches(".rs");
            assert!(
                source.contains(&format!("\nmod {module};\n")),
                "`testsuite/{file_name}` is not declared in testsuite/mod.rs"
            );
            defined.extend(test_functions(&std::fs::read_to_string(&path).unwrap()));
        }
        // The account tests live in a file of their own but are listed in this macro
        // (`testsuite_prompts.rs` and `testsuite_users.rs` have their own macros).
        defined.extend(test_functions(include_str!("../testsuite_accounts.rs")));
        assert!(defined.len() > 20, "found {defined:?}");
        for name in &defined {
            assert!(
                listed.contains(&name.as_str()),
                "`{name}` is not in conformance_suite!"
            );
        }
        for name in &listed {
            assert!(
                defined.iter().any(|defined_name| defined_name == name),
                "`{name}` is listed but not defined"
            );
        }
    }
}
