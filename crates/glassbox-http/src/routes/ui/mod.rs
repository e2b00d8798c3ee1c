//! The web UI's own API (`/api/ui/v1`, cookie sessions; `docs/api.md`) and the embedded
//! single-page app.

mod accounts;
pub mod assets;
mod keys;
pub(crate) mod session;
mod traces;
mod views;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/sign-up", post(accounts::auth_sign_up))
        .route("/auth/sign-in", post(accounts::auth_sign_in))
        .route("/auth/sign-out", post(accounts::auth_sign_out))
        .route("/auth/session", get(accounts::auth_session))
        .route("/organizations", post(accounts::organizations_create))
        .route(
            "/organizations/{org_id}/projects",
            post(accounts::projects_create),
        )
        .route(
            "/projects/{project_id}/api-keys",
            get(keys::api_keys_list).post(keys::api_keys_create),
        )
        .route(
            "/projects/{project_id}/api-keys/{key_id}",
            delete(keys::api_keys_delete),
        )
        .route("/projects/{project_id}/traces", get(traces::traces_list))
        .route(
            "/projects/{project_id}/traces/{trace_id}",
            get(traces::trace_detail),
        )
        .route(
            "/projects/{project_id}/observations/{observation_id}",
            get(traces::observation_detail),
        )
        .route(
            "/projects/{project_id}/sessions",
            get(traces::sessions_list),
        )
        .route(
            "/projects/{project_id}/sessions/{session_id}",
            get(traces::session_detail),
        )
        .route("/projects/{project_id}/users", get(views::users_list))
        .route(
            "/projects/{project_id}/users/{user_id}",
            get(views::user_detail),
        )
        .route(
            "/projects/{project_id}/generations",
            get(views::generations_list),
        )
        .route("/projects/{project_id}/metrics", get(views::metrics_query))
}
