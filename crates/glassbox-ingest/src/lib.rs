//! Langfuse batch ingestion, the pure part: decode the `{batch, metadata}` envelope,
//! validate every event on its own, and normalise the valid ones into
//! [`IngestEvent`]s for the store. One bad event never affects the others.
//!
//! Invariant: no IO. The HTTP layer reads the body; the store applies the events.

mod body;
pub mod otlp;

use serde_json::Value;

use glassbox_model::AccessLevel;
use glassbox_model::ingest::IngestEvent;
use glassbox_model::time::parse_iso_with_offset;

pub use body::{BodyError, normalize_body};

/// Longest accepted id (event, trace, observation, score), as in Langfuse.
pub const MAX_ID_CHARS: usize = 800;
/// Most events accepted in one batch.
pub const MAX_BATCH_EVENTS: usize = 10_000;

/// A per-event failure, reported in the 207 `errors` list.
#[derive(Debug, Clone, PartialEq)]
pub struct EventError {
    pub id: String,
    pub status: u16,
    pub message: String,
    pub error: String,
}

impl EventError {
    fn invalid(id: &str, error: impl Into<String>) -> Self {
        EventError {
            id: id.to_owned(),
            status: 400,
            message: "Invalid request data".to_owned(),
            error: error.into(),
        }
    }
}

/// The outcome of validating one batch.
#[derive(Debug, Default)]
pub struct ValidatedBatch {
    /// Valid events, to be applied (and then reported as successes unless the store
    /// rejects them, e.g. a score that breaks its config).
    pub events: Vec<IngestEvent>,
    /// Envelope ids that succeed without being stored (events without a body id).
    pub accepted_without_effect: Vec<String>,
    pub errors: Vec<EventError>,
}

/// Why a whole request is rejected before any event is looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeError(pub String);

/// Validates a decoded request body. `access` decides which event types are allowed.
pub fn validate_batch(body: &Value, access: AccessLevel) -> Result<ValidatedBatch, EnvelopeError> {
    let batch = body
        .as_object()
        .and_then(|object| object.get("batch"))
        .and_then(Value::as_array)
        .ok_or_else(|| EnvelopeError("body must be an object with a `batch` array".to_owned()))?;
    if batch.len() > MAX_BATCH_EVENTS {
        return Err(EnvelopeError(format!(
            "a batch may hold at most {MAX_BATCH_EVENTS} events"
        )));
    }
    let mut result = ValidatedBatch::default();
    for raw in batch {
        match validate_event(raw, access) {
            Ok(Outcome::Event(event)) => result.events.push(event),
            Ok(Outcome::NoEffect(id)) => result.accepted_without_effect.push(id),
            Ok(Outcome::Ignored) => {}
            Err(error) => result.errors.push(error),
        }
    }
    Ok(result)
}

enum Outcome {
    Event(IngestEvent),
    NoEffect(String),
    Ignored,
}

fn validate_event(raw: &Value, access: AccessLevel) -> Result<Outcome, EventError> {
    let Some(envelope) = raw.as_object() else {
        return Err(EventError::invalid("unknown", "event must be an object"));
    };
    let id = match envelope.get("id") {
        Some(Value::String(id)) if valid_id(id) => id.clone(),
        Some(Value::String(_)) => {
            return Err(EventError::invalid(
                "unknown",
                format!("id: must be 1 to {MAX_ID_CHARS} characters without carriage returns"),
            ));
        }
        _ => return Err(EventError::invalid("unknown", "id: a string is required")),
    };
    let event_type = envelope
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| EventError::invalid(&id, "type: a string is required"))?;
    if event_type == "sdk-log" {
        return Ok(Outcome::Ignored);
    }
    let timestamp = envelope
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(parse_iso_with_offset)
        .ok_or_else(|| {
            EventError::invalid(
                &id,
                "timestamp: an ISO-8601 datetime with an offset is required",
            )
        })?;
    let body = envelope
        .get("body")
        .and_then(Value::as_object)
        .ok_or_else(|| EventError::invalid(&id, "body: an object is required"))?;
    if access == AccessLevel::Scores && event_type != "score-create" {
        return Err(EventError {
            id,
            status: 401,
            message: "Authentication error".to_owned(),
            error: "Access Scope Denied".to_owned(),
        });
    }
    let normalized = normalize_body(event_type, body).map_err(|error| match error {
        BodyError::Invalid(text) => EventError::invalid(&id, text),
    })?;
    match normalized {
        Some((kind, entity_id, body)) => Ok(Outcome::Event(IngestEvent {
            event_id: id,
            event_type: event_type.to_owned(),
            timestamp,
            kind,
            entity_id,
            body,
            snapshot: false,
        })),
        None => Ok(Outcome::NoEffect(id)),
    }
}

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_ID_CHARS && !id.contains('\r')
}

#[cfg(test)]
mod tests;
