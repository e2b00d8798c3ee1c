//! Reading JSON request bodies with a size limit, gzip decoding, and Langfuse's errors.

use std::io::Read;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use serde_json::Value;

use crate::error::ApiError;

/// Reads the whole body (decompressing gzip), refusing more than `limit` bytes before or
/// after decompression, and parses it as JSON.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = read_bytes(headers, body, limit).await?;
    parse_json(&bytes)
}

/// [`read_json`] for a body that must be a JSON object.
pub async fn read_json_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    match read_json(headers, body, limit).await? {
        Value::Object(object) => Ok(object),
        _ => Err(crate::error::invalid("the body must be a JSON object")),
    }
}

/// Parses a JSON body; an empty or malformed body is a 400 with Langfuse's error body.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::InvalidRequest(
            "Invalid request data: the body is empty".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|error| {
        ApiError::InvalidRequest(format!(
            "Invalid request data: the body is not valid JSON: {error}"
        ))
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the request body exceeds the limit of {limit} bytes"
    ))
}

pub async fn read_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let raw = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let text = error.to_string();
        if text.contains("length limit")
            || std::error::Error::source(&error)
                .is_some_and(|s| s.to_string().contains("length limit"))
        {
            too_large(limit)
        } else {
            ApiError::InvalidRequest(format!("reading the body failed: {text}"))
        }
    })?;
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match encoding.as_str() {
        "" | "identity" => Ok(raw.to_vec()),
        "gzip" | "x-gzip" => {
            let raw = raw.to_vec();
            // Decompression is CPU work: keep it off the reactor.
            tokio::task::spawn_blocking(move || {
                let mut decoded = Vec::new();
                flate2::read::GzDecoder::new(raw.as_slice())
                    .take(limit as u64 + 1)
                    .read_to_end(&mut decoded)
                    .map_err(|error| {
                        ApiError::InvalidRequest(format!(
                            "the gzip body could not be decoded: {error}"
                        ))
                    })?;
                if decoded.len() > limit {
                    return Err(too_large(limit));
                }
                Ok(decoded)
            })
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))?
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported content-encoding `{other}`; use gzip or none"
        ))),
    }
}
