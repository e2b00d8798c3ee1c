-- glassbox PostgreSQL schema (mirrors the embedded one), version 6: model prices and cost
-- recompute jobs. Built-in model definitions ship in the binary and are not stored.
-- (Metrics are computed from the base tables on PostgreSQL: no fact or rollup tables.)

CREATE TABLE models (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    model_name TEXT NOT NULL,
    match_pattern TEXT NOT NULL,
    start_date BIGINT,
    unit TEXT,
    tokenizer_id TEXT,
    tokenizer_config TEXT,
    -- JSON array of tiers in the wire form (ids, conditions, prices).
    pricing_tiers TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX models_identity
    ON models (project_id, model_name, COALESCE(start_date, -1), COALESCE(unit, ''));

-- One recompute of inferred costs after a model was created, replaced or deleted;
-- claimed by one process at a time (FOR UPDATE SKIP LOCKED) and processed in batches, one
-- transaction each. `patterns`: the match patterns whose observations are
-- recomputed; `model_strings`: the observed model strings they match (set on start);
-- `cursor`: [index into model_strings, start_time, id] of the last processed row.
CREATE TABLE model_recompute_jobs (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    patterns TEXT NOT NULL,
    status TEXT NOT NULL,
    model_strings TEXT,
    cursor TEXT,
    total BIGINT NOT NULL DEFAULT 0,
    processed BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX model_recompute_jobs_by_model ON model_recompute_jobs (project_id, model_id, created_at);
-- The workers' claim: the oldest open job.
CREATE INDEX model_recompute_jobs_open ON model_recompute_jobs (created_at, id)
    WHERE status IN ('queued', 'running');

CREATE INDEX observations_by_model ON observations (project_id, model, start_time, id);
