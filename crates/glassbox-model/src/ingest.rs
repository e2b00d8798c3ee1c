//! Validated ingestion events, as the write path hands them to the store.

use crate::{JsonObject, Micros};

/// The entity an event writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Trace,
    Observation,
    Score,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Trace => "trace",
            EntityKind::Observation => "observation",
            EntityKind::Score => "score",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "trace" => EntityKind::Trace,
            "observation" => EntityKind::Observation,
            "score" => EntityKind::Score,
            _ => return None,
        })
    }
}

/// One validated event. `body` is normalised: wire (camelCase) keys, timestamps as
/// microseconds, environment normalised, usage and cost maps in their canonical shape.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestEvent {
    /// The envelope id: the idempotency key of the event.
    pub event_id: String,
    /// The wire type, e.g. `span-update`; `*-create` sorts before others on equal timestamps.
    pub event_type: String,
    /// The envelope timestamp: orders the merge.
    pub timestamp: Micros,
    pub kind: EntityKind,
    pub entity_id: String,
    pub body: JsonObject,
    /// The body is the complete state of its entity (an OTLP span): a re-sent snapshot
    /// replaces itself. Stores may keep such an entity as its row alone, without logging
    /// the event, as long as later events merge as if it had been logged.
    pub snapshot: bool,
}

/// The event id of the observation event of an OTLP span (its snapshot).
pub fn otlp_observation_event_id(trace_id: &str, span_id: &str) -> String {
    format!("otel:{trace_id}:{span_id}")
}

/// An event as kept in the event log: the order it arrived in and when.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub event: IngestEvent,
    pub received_at: Micros,
    pub sequence: i64,
}

impl LoggedEvent {
    /// The merge order: envelope timestamp, then creates before updates, then arrival.
    pub fn merge_order_key(&self) -> (Micros, u8, i64) {
        let is_create = self.event.event_type.ends_with("-create");
        (self.event.timestamp, u8::from(!is_create), self.sequence)
    }
}
