//! Domain types and pure rules of glassbox: entities, timestamps, environment
//! normalisation, the merge of repeated ingestion events, usage and cost derivation,
//! score validation, the filter language of the read API, and prompt management rules.
//!
//! Invariant: this crate does no IO and knows nothing of HTTP, SQL or async runtimes.

pub mod annotations;
pub mod comments;
pub mod datasets;
pub mod entities;
pub mod environment;
pub mod filter;
pub mod ingest;
pub mod merge;
pub mod metrics;
pub mod models;
pub mod pricing;
pub mod prompts;
pub mod score_configs;
pub mod scores;
pub mod time;
pub mod tokenize;
pub mod trace_events;
pub mod usage;

pub use entities::*;
pub use time::Micros;
