-- glassbox embedded schema, version 19: latency sketches of the rollup cells in their
-- compact form (issue 8: bytes on disk per span; `LogSketch::to_bytes`), varints where
-- each bucket took 12 bytes. The cells are derived data: they are emptied here and
-- rebuilt from the observation rows at the next start (derived::rebuild_if_needed), so
-- no cell in the old form is ever read.
DELETE FROM rollup_observations_daily;
DELETE FROM rollup_users_daily;
INSERT OR REPLACE INTO derived_state (name, value)
    SELECT 'rebuild_metrics', 1 WHERE EXISTS (SELECT 1 FROM observations);
