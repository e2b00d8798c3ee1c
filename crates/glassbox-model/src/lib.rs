//! Domain types and pure rules of glassbox: entities, timestamps, environment
//! normalisation, the merge of repeated ingestion events, usage and cost derivation,
//! score validation and the filter language of the read API.
//!
//! Invariant: this crate does no IO and knows nothing of HTTP, SQL or async runtimes.

pub mod entities;
pub mod environment;
pub mod filter;
pub mod ingest;
pub mod merge;
pub mod scores;
pub mod time;
pub mod usage;

pub use entities::*;
pub use time::Micros;
