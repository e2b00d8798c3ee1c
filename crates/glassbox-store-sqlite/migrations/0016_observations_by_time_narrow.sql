-- glassbox embedded schema, version 16: `observations_by_time` keys on the start time
-- alone (issue 8: bytes on disk per span). Its readers, the observation lists (page:
-- `start_time DESC, id DESC`; keyset: `start_time DESC, trace_id DESC, id DESC`), walk
-- it in start-time order and sort the rare rows with an equal start time by the rest
-- (SQLite's partial sort), so the same rows come in the same order; the index shrinks
-- from ~96 to ~31 bytes per observation (trace and observation ids were in every entry).
DROP INDEX observations_by_time;
CREATE INDEX observations_by_time ON observations (project_id, start_time DESC);
