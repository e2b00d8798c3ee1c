-- glassbox embedded schema, version 21: `observations_by_model` without the `id` column
-- (issue 8: bytes on disk per span; 16 bytes per generation). Its one ordered reader,
-- the cost recompute (`model = ?` in (start_time, id) order), gets rows of equal
-- start_time from the index and orders just those by id.
DROP INDEX observations_by_model;
CREATE INDEX observations_by_model ON observations (project_id, model, start_time)
    WHERE model IS NOT NULL;
