-- glassbox embedded schema, version 13: the metrics measures of an observation live in
-- its own row (issue 8). The numbers metrics sum and cannot cheaply take from the usage
-- and cost JSON maps are columns of `observations`, written with the row; the metrics
-- engine reads dimensions from the observation and its trace (joined), so the fact row
-- per observation (`observation_facts`, a copy of both) goes. Rollups stay.

ALTER TABLE observations ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE observations ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE observations ADD COLUMN total_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE observations ADD COLUMN input_cost REAL NOT NULL DEFAULT 0;
ALTER TABLE observations ADD COLUMN output_cost REAL NOT NULL DEFAULT 0;

UPDATE observations
SET input_tokens = f.input_tokens, output_tokens = f.output_tokens, total_tokens = f.total_tokens,
    input_cost = f.input_cost, output_cost = f.output_cost
FROM observation_facts f
WHERE f.project_id = observations.project_id AND f.start_time = observations.start_time
    AND f.id = observations.id;

-- Rows without a fact (rollups not built yet): the next start computes their measures
-- along with the rollups (derived::rebuild_if_needed).
INSERT OR REPLACE INTO derived_state (name, value)
    SELECT 'rebuild_metrics', 1 FROM observations o
    WHERE NOT EXISTS (SELECT 1 FROM observation_facts f WHERE f.project_id = o.project_id
        AND f.start_time = o.start_time AND f.id = o.id)
    LIMIT 1;

DROP INDEX observation_facts_by_trace;
DROP TABLE observation_facts;
