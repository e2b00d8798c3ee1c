//! Cheap writer-thread profile: nanoseconds spent per phase of the write path, summed
//! over commits and logged (tracing `warn`, target `glassbox::profile`) every
//! [`REPORT_EVERY`] commits. Off unless the store was opened with
//! [`crate::OpenOptions::profile_writer`] (glassbox-server sets it from
//! `GLASSBOX_PROFILE_WRITER=1`); when off, each probe costs one relaxed load of a flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Commits between two reports.
const REPORT_EVERY: u64 = 25;

#[derive(Clone, Copy)]
pub(crate) enum Phase {
    /// `BEGIN`, savepoints and their release.
    Transaction,
    /// Appending events to the event log.
    Log,
    /// Loading an entity's logged events (and decoding their bodies).
    Load,
    /// Folding events into the entity (`glassbox_model::merge`).
    Fold,
    /// Prompt linking of observations.
    Prompt,
    /// Pricing and metrics rollups.
    Derived,
    /// Writing the entity rows (and their payloads).
    Upsert,
    /// `COMMIT`: WAL append and fsync.
    Commit,
    /// fsync of the WAL before commits are answered (on the syncer thread, beside the
    /// writer: not part of the writer's time).
    Sync,
}

const PHASES: [(&str, Phase); 9] = [
    ("transaction", Phase::Transaction),
    ("log", Phase::Log),
    ("load", Phase::Load),
    ("fold", Phase::Fold),
    ("prompt", Phase::Prompt),
    ("derived", Phase::Derived),
    ("upsert", Phase::Upsert),
    ("commit", Phase::Commit),
    ("sync", Phase::Sync),
];

static NANOS: [AtomicU64; 9] = [const { AtomicU64::new(0) }; 9];
static COMMITS: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static EVENTS: AtomicU64 = AtomicU64::new(0);
static WALL: AtomicU64 = AtomicU64::new(0);

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns profiling on for the process (a store opened with `profile_writer`).
pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Runs `work`, adding its duration to `phase` when profiling is on.
pub(crate) fn time<T>(phase: Phase, work: impl FnOnce() -> T) -> T {
    if !enabled() {
        return work();
    }
    let start = Instant::now();
    let result = work();
    NANOS[phase as usize].fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    result
}

/// Counts ingested events (the unit of the per-event figures).
pub(crate) fn events(count: usize) {
    if enabled() {
        EVENTS.fetch_add(count as u64, Ordering::Relaxed);
    }
}

/// Called once per commit group with its size and total writer time.
pub(crate) fn committed(requests: usize, wall: std::time::Duration) {
    if !enabled() {
        return;
    }
    REQUESTS.fetch_add(requests as u64, Ordering::Relaxed);
    WALL.fetch_add(wall.as_nanos() as u64, Ordering::Relaxed);
    let commits = COMMITS.fetch_add(1, Ordering::Relaxed) + 1;
    if commits.is_multiple_of(REPORT_EVERY) {
        tracing::warn!(target: "glassbox::profile", "{}", report());
    }
}

/// One line: totals so far, per phase in ms and µs per event.
pub(crate) fn report() -> String {
    let events = EVENTS.load(Ordering::Relaxed).max(1);
    let wall = WALL.load(Ordering::Relaxed);
    let mut line = format!(
        "writer profile: commits={} requests={} events={} wall_ms={} us_per_event={:.1}",
        COMMITS.load(Ordering::Relaxed),
        REQUESTS.load(Ordering::Relaxed),
        events,
        wall / 1_000_000,
        wall as f64 / 1_000.0 / events as f64
    );
    line.push_str(&format!(
        " rollup_writes={}",
        crate::deferred_rollups::writes()
    ));
    let (logical, unique, stored) = crate::payloads::counters();
    line.push_str(&format!(
        " payload_bytes: referenced={logical} unique={unique} stored={stored} dedup={:.2} compression={:.2}",
        logical as f64 / unique.max(1) as f64,
        unique as f64 / stored.max(1) as f64
    ));
    for (name, phase) in PHASES {
        let nanos = NANOS[phase as usize].load(Ordering::Relaxed);
        line.push_str(&format!(
            " {name}_ms={} ({:.1} us/ev)",
            nanos / 1_000_000,
            nanos as f64 / 1_000.0 / events as f64
        ));
    }
    line
}
