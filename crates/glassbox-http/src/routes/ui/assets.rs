//! The embedded single-page app: files from `glassbox-ui`, `index.html` for every other
//! non-API path (client-side routes), long-lived caching of the hashed `/assets/*`.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (HeaderName::from_static("x-content-type-options"), "nosniff"),
    (HeaderName::from_static("x-frame-options"), "DENY"),
    (HeaderName::from_static("referrer-policy"), "same-origin"),
    (
        HeaderName::from_static("content-security-policy"),
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
         connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
    ),
];

/// The router's fallback: API paths get the API's 404, anything else the UI.
pub async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return crate::routes::not_found().await.into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let file = path.trim_start_matches('/');
    if let Some(asset) = (!file.is_empty()).then(|| glassbox_ui::get(file)).flatten() {
        let cache = if file.starts_with("assets/") {
            // Vite puts a content hash in every file name under assets/.
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return respond(asset, cache);
    }
    if file.starts_with("assets/") {
        // A stale hashed file name: never answer it with the HTML page.
        return ApiError::NotFound("Asset not found".into()).into_response();
    }
    respond(glassbox_ui::index_html(), "no-cache")
}

fn respond(asset: glassbox_ui::Asset, cache: &'static str) -> Response {
    let mut response = asset.bytes.into_owned().into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
