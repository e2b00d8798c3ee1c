//! API key authentication as Langfuse does it: `Basic publicKey:secretKey` gives full
//! project access; `Bearer publicKey` gives the scores-only scope.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};

use glassbox_model::{AccessLevel, ProjectId};

use crate::AppState;
use crate::error::ApiError;

/// `sha256_hex(secret ‖ sha256_hex(salt))`, Langfuse's fast hash, so that keys from a
/// Langfuse database keep working. Secrets are random UUIDs: a fast hash is enough.
pub fn hash_secret_key(secret: &str, salt: &str) -> String {
    let salt_hash = hex::encode(Sha256::digest(salt.as_bytes()));
    let mut hasher = Sha256::new();
    hasher.update(secret.as_bytes());
    hasher.update(salt_hash.as_bytes());
    hex::encode(hasher.finalize())
}

/// The authenticated caller of a public API request.
#[derive(Debug, Clone)]
pub struct ApiAuth {
    pub project_id: ProjectId,
    pub access: AccessLevel,
}

impl ApiAuth {
    /// Every route but score creation needs full project access.
    pub fn require_project_access(&self) -> Result<(), ApiError> {
        match self.access {
            AccessLevel::Project => Ok(()),
            AccessLevel::Scores => Err(ApiError::Forbidden(
                "Access denied - insufficient permissions for this endpoint".to_owned(),
            )),
        }
    }
}

/// Full project access; Bearer keys are refused with 403.
pub struct ProjectAuth(pub ApiAuth);

/// The scheme and credentials of an `Authorization` value (HTTP header or gRPC metadata).
pub(crate) enum Authorization<'a> {
    /// `Basic base64(publicKey:secretKey)`: the base64 part.
    Basic(&'a str),
    /// `Bearer publicKey`: the public key.
    Bearer(&'a str),
}

/// Splits an `Authorization` value into scheme and credentials (case-insensitive scheme).
pub(crate) fn parse_authorization(header_value: &str) -> Result<Authorization<'_>, ApiError> {
    let header = header_value.trim();
    if header.len() > 4_096 {
        return Err(ApiError::Unauthorized(
            "Invalid authorization header".into(),
        ));
    }
    let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Ok(Authorization::Basic(value.trim())),
        "bearer" => Ok(Authorization::Bearer(value.trim())),
        _ => Err(ApiError::Unauthorized(
            "Invalid authorization header".into(),
        )),
    }
}

/// Full project access from the base64 part of `Basic base64(publicKey:secretKey)`: the
/// secret's hash finds the key. Shared by the HTTP routes and the OTLP/gRPC receiver.
pub(crate) async fn authenticate_basic(
    state: &AppState,
    encoded: &str,
) -> Result<ApiAuth, ApiError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::Unauthorized("Invalid authorization header".into()))?;
    let (public_key, secret_key) = decoded
        .split_once(':')
        .filter(|(public, secret)| !public.is_empty() && !secret.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("Invalid authorization header".into()))?;
    let hashed = hash_secret_key(secret_key, &state.config.salt);
    let key = state
        .stores
        .admin
        .find_api_key_by_secret_hash(&hashed)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("Invalid credentials".into()))?;
    if key.public_key != public_key {
        // Langfuse only warns here; the secret alone identifies the key.
        tracing::warn!(
            given = public_key,
            "public key does not match the secret key's"
        );
    }
    Ok(ApiAuth {
        project_id: key.project_id,
        access: AccessLevel::Project,
    })
}

/// The scores-only scope from `Bearer publicKey`.
async fn authenticate_bearer(state: &AppState, public_key: &str) -> Result<ApiAuth, ApiError> {
    let key = state
        .stores
        .admin
        .find_api_key_by_public_key(public_key)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("Invalid public key".into()))?;
    Ok(ApiAuth {
        project_id: key.project_id,
        access: AccessLevel::Scores,
    })
}

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("No authorization header".into()))?
            .to_str()
            .map_err(|_| ApiError::Unauthorized("Invalid authorization header".into()))?;
        match parse_authorization(header)? {
            Authorization::Basic(encoded) => authenticate_basic(state, encoded).await,
            Authorization::Bearer(public_key) => authenticate_bearer(state, public_key).await,
        }
    }
}

impl FromRequestParts<AppState> for ProjectAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = ApiAuth::from_request_parts(parts, state).await?;
        auth.require_project_access()?;
        Ok(ProjectAuth(auth))
    }
}

#[cfg(test)]
mod tests {
    use super::hash_secret_key;

    #[test]
    fn hash_is_langfuse_fast_hash() {
        // sha256("sk" + sha256_hex("")), computed independently.
        let expected = {
            use sha2::{Digest, Sha256};
            let salt = hex::encode(Sha256::digest(b""));
            hex::encode(Sha256::digest(format!("sk{salt}").as_bytes()))
        };
        assert_eq!(hash_secret_key("sk", ""), expected);
        assert_ne!(hash_secret_key("sk", "a"), hash_secret_key("sk", "b"));
    }
}
