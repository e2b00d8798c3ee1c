//! Browser sessions of the web UI: the session cookie, CSRF checks, and the extractor
//! that turns a request into the signed-in user.
//!
//! - `glassbox_session`: a random 256-bit token, `HttpOnly; SameSite=Lax; Path=/`. Only
//!   its SHA-256 is stored.
//! - CSRF: unsafe methods need the header `x-csrf-token` equal to
//!   `sha256_hex("glassbox-csrf:" ‖ token)` (readable by the page from the
//!   `glassbox_csrf` cookie or from `/auth/session`; another site can neither read nor
//!   compute it), and a present `Origin` must name this host.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::AppendHeaders;
use base64::Engine;
use sha2::{Digest, Sha256};

use glassbox_model::time::now_micros;
use glassbox_model::{ProjectId, Role, User};

use crate::AppState;
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "glassbox_session";
pub const CSRF_COOKIE: &str = "glassbox_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions last 30 days.
pub const SESSION_SECONDS: i64 = 30 * 24 * 3600;

/// A new session token (256 bits from the OS random source, base64url).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn csrf_token(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"glassbox-csrf:");
    hasher.update(token.as_bytes());
    hex::encode(hasher.finalize())
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `Secure` is added when glassbox is reached over HTTPS (its public URL says so, or a
/// proxy sets `X-Forwarded-Proto: https`).
fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .config
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The two `Set-Cookie` values of a new session (or, with `None`, of signing out).
pub fn session_cookies(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<&str>,
) -> AppendHeaders<[(axum::http::HeaderName, HeaderValue); 2]> {
    let secure = if is_https(state, headers) {
        "; Secure"
    } else {
        ""
    };
    let (session, csrf, max_age) = match token {
        Some(token) => (token.to_owned(), csrf_token(token), SESSION_SECONDS),
        None => (String::new(), String::new(), 0),
    };
    let session = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    let csrf = format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Lax; Max-Age={max_age}{secure}");
    // Appended: two `Set-Cookie` headers (a plain header array would keep only the last).
    AppendHeaders([
        (
            SET_COOKIE,
            HeaderValue::from_str(&session).expect("cookie text is ASCII"),
        ),
        (
            SET_COOKIE,
            HeaderValue::from_str(&csrf).expect("cookie text is ASCII"),
        ),
    ])
}

/// Refuses a cross-site request: a present `Origin` must have this request's `Host`.
/// (Browsers send `Origin` on every cross-origin and every unsafe request.)
pub fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host.trim_end_matches('/'));
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    match (origin_host, host) {
        (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(ApiError::Forbidden("cross-site request refused".into())),
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The signed-in user of a web UI request. Unsafe methods are CSRF-checked.
pub struct UiUser {
    pub user: User,
    pub token_hash: String,
    pub csrf_token: String,
}

impl FromRequestParts<AppState> for UiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || ApiError::Unauthorized("Not signed in".into());
        let token = cookie_value(&parts.headers, SESSION_COOKIE)
            .filter(|token| !token.is_empty() && token.len() <= 128)
            .ok_or_else(unauthorized)?
            .to_owned();
        let csrf = csrf_token(&token);
        if is_unsafe(&parts.method) {
            check_origin(&parts.headers)?;
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .map(|value| value.as_bytes())
                .unwrap_or_default();
            if !constant_time_eq(sent, csrf.as_bytes()) {
                return Err(ApiError::Forbidden("missing or invalid CSRF token".into()));
            }
        }
        let hash = token_hash(&token);
        let session = state
            .stores
            .accounts
            .find_ui_session(&hash, now_micros())
            .await?
            .ok_or_else(unauthorized)?;
        let user = state
            .stores
            .accounts
            .get_user(&session.user_id)
            .await?
            .ok_or_else(unauthorized)?;
        Ok(UiUser {
            user,
            token_hash: hash,
            csrf_token: csrf,
        })
    }
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Owner => 3,
        Role::Admin => 2,
        Role::Member => 1,
        Role::Viewer => 0,
    }
}

/// The user's role in the project's organization, at least `minimum`. A project the user
/// cannot see is "not found" (its existence is not revealed); too low a role is 403.
pub async fn require_project_role(
    state: &AppState,
    user: &UiUser,
    project: &ProjectId,
    minimum: Role,
) -> Result<Role, ApiError> {
    let role = state
        .stores
        .accounts
        .project_role(project, &user.user.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
    if rank(role) < rank(minimum) {
        return Err(ApiError::Forbidden(format!(
            "this needs the {} role or higher",
            minimum.as_str()
        )));
    }
    Ok(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_differently_from_csrf() {
        let (first, second) = (new_token(), new_token());
        assert_ne!(first, second);
        assert_eq!(first.len(), 43);
        assert_ne!(token_hash(&first), csrf_token(&first));
    }

    #[test]
    fn origin_must_match_host() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:3000"));
        assert!(check_origin(&headers).is_ok());
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:3000"));
        assert!(check_origin(&headers).is_ok());
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(check_origin(&headers).is_err());
        headers.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(check_origin(&headers).is_err());
    }

    #[test]
    fn finds_a_cookie_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; glassbox_session=tok; b=2"),
        );
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }
}
