//! One table of error codes and Langfuse's error body `{"message": ..., "error": ...}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use glassbox_store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// 400 `InvalidRequestError`.
    InvalidRequest(String),
    /// 401 `UnauthorizedError`.
    Unauthorized(String),
    /// 403 `ForbiddenError`.
    Forbidden(String),
    /// 404 `LangfuseNotFoundError`.
    NotFound(String),
    /// 405 `MethodNotAllowedError`.
    MethodNotAllowed,
    /// 409 `LangfuseConflictError`.
    Conflict(String),
    /// 413 `PayloadTooLargeError`.
    PayloadTooLarge(String),
    /// 415 for a content encoding we do not decode.
    UnsupportedMediaType(String),
    /// 503 `ServiceUnavailableError`, with `Retry-After`.
    Unavailable(String),
    /// 500 `InternalServerError`; the detail is logged, never sent.
    Internal(String),
}

impl ApiError {
    /// Langfuse's 404 for an entity the caller's project does not hold.
    pub fn not_found_in_project(entity: &str) -> ApiError {
        ApiError::NotFound(format!("{entity} not found within authorized project"))
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::InvalidRequest(message) => (
                StatusCode::BAD_REQUEST,
                "InvalidRequestError",
                message.clone(),
            ),
            ApiError::Unauthorized(reason) => (
                StatusCode::UNAUTHORIZED,
                "UnauthorizedError",
                format!("{reason}. Confirm that you've configured the correct host."),
            ),
            ApiError::Forbidden(message) => {
                (StatusCode::FORBIDDEN, "ForbiddenError", message.clone())
            }
            ApiError::NotFound(message) => (
                StatusCode::NOT_FOUND,
                "LangfuseNotFoundError",
                message.clone(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowedError",
                "Method not allowed".to_owned(),
            ),
            ApiError::Conflict(message) => (
                StatusCode::CONFLICT,
                "LangfuseConflictError",
                message.clone(),
            ),
            ApiError::PayloadTooLarge(message) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeError",
                message.clone(),
            ),
            ApiError::UnsupportedMediaType(message) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "InvalidRequestError",
                message.clone(),
            ),
            ApiError::Unavailable(message) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
                message.clone(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Internal Server Error".to_owned(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let (status, name, message) = self.parts();
        let mut response = (
            status,
            axum::Json(json!({ "message": message, "error": name })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Langfuse's 400 for a request it cannot use: `Invalid request data: {text}`.
pub fn invalid(text: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidRequest(format!("Invalid request data: {text}"))
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity, id } => {
                ApiError::NotFound(format!("{entity} {id} not found"))
            }
            StoreError::Conflict(message) => ApiError::InvalidRequest(message),
            StoreError::Overloaded => ApiError::Unavailable(
                "glassbox is busy; retry after the delay in Retry-After".into(),
            ),
            StoreError::Unavailable(message) => ApiError::Unavailable(message),
            StoreError::Internal(message) => ApiError::Internal(message),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A panic in a handler becomes a 500 with the Langfuse body, never a dropped connection.
pub(crate) fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("handler panicked".into()).into_response()
}
