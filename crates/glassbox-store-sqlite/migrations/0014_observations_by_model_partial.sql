-- glassbox embedded schema, version 14: `observations_by_model` keeps only observations
-- with a model (issue 8). Its readers (the cost recompute: `model = ?`, `DISTINCT model
-- ... WHERE model IS NOT NULL`) never look for NULL, and most observations (spans,
-- events, tools) have none: the index and the pages each commit rewrites in it shrink
-- by that share.
DROP INDEX observations_by_model;
CREATE INDEX observations_by_model ON observations (project_id, model, start_time, id)
    WHERE model IS NOT NULL;
