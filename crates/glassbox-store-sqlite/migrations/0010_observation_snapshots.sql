-- An observation written from an OTLP span alone (a snapshot event) is kept as its row,
-- without logging the event: `snapshot_sequence` is that event's arrival sequence, and
-- NULL when the observation's events are in `ingest_events` (see src/snapshots.rs).
ALTER TABLE observations ADD COLUMN snapshot_sequence INTEGER;
