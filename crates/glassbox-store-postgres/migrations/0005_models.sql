-- glassbox PostgreSQL schema (mirrors the embedded one), version 6: model prices, cost recompute jobs, and the
-- derived tables of the metrics engine (one narrow fact row per observation, daily
-- rollups). Built-in model definitions ship in the binary and are not stored.

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

-- One recompute of inferred costs after a model was created or deleted; processed in
-- batches through the writer. `patterns`: the match patterns whose observations are
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
CREATE INDEX model_recompute_jobs_open ON model_recompute_jobs (status, created_at);

CREATE INDEX observations_by_model ON observations (project_id, model, start_time, id);

-- One row per observation with what metrics group and measure by, the trace's fields
-- copied in (kept in step when the trace changes). Replaced, never added to, when the
-- observation is re-folded.
CREATE TABLE observation_facts (
    project_id TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT,
    environment TEXT NOT NULL,
    level TEXT NOT NULL,
    version TEXT,
    model TEXT,
    prompt_name TEXT,
    prompt_version BIGINT,
    parent_observation_id TEXT,
    is_root BIGINT NOT NULL,
    end_time BIGINT,
    completion_start_time BIGINT,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    input_cost DOUBLE PRECISION NOT NULL,
    output_cost DOUBLE PRECISION NOT NULL,
    total_cost DOUBLE PRECISION,
    user_id TEXT,
    session_id TEXT,
    trace_name TEXT,
    trace_release TEXT,
    trace_version TEXT,
    trace_tags TEXT NOT NULL,
    PRIMARY KEY (project_id, start_time, id)
);
CREATE INDEX observation_facts_by_trace ON observation_facts (project_id, trace_id);

-- Rollups of observation_facts: one cell per (bucket, dimension values), `key` = the
-- dimension values as a JSON array. Counts and sums only (subtracting a replaced
-- observation is exact), plus a mergeable latency sketch (log buckets, 1 % accuracy).
CREATE TABLE rollup_observations_daily (
    project_id TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    key TEXT NOT NULL,
    environment TEXT,
    type TEXT,
    name TEXT,
    model TEXT,
    level TEXT,
    rows BIGINT NOT NULL,
    latency_n BIGINT NOT NULL,
    latency_sum DOUBLE PRECISION NOT NULL,
    ttft_n BIGINT NOT NULL,
    ttft_sum DOUBLE PRECISION NOT NULL,
    input_tokens DOUBLE PRECISION NOT NULL,
    output_tokens DOUBLE PRECISION NOT NULL,
    total_tokens DOUBLE PRECISION NOT NULL,
    input_cost DOUBLE PRECISION NOT NULL,
    output_cost DOUBLE PRECISION NOT NULL,
    total_cost_n BIGINT NOT NULL,
    total_cost DOUBLE PRECISION NOT NULL,
    latency_sketch BYTEA NOT NULL,
    PRIMARY KEY (project_id, bucket, key)
);

CREATE TABLE rollup_users_daily (
    project_id TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    key TEXT NOT NULL,
    environment TEXT,
    user_id TEXT,
    rows BIGINT NOT NULL,
    latency_n BIGINT NOT NULL,
    latency_sum DOUBLE PRECISION NOT NULL,
    ttft_n BIGINT NOT NULL,
    ttft_sum DOUBLE PRECISION NOT NULL,
    input_tokens DOUBLE PRECISION NOT NULL,
    output_tokens DOUBLE PRECISION NOT NULL,
    total_tokens DOUBLE PRECISION NOT NULL,
    input_cost DOUBLE PRECISION NOT NULL,
    output_cost DOUBLE PRECISION NOT NULL,
    total_cost_n BIGINT NOT NULL,
    total_cost DOUBLE PRECISION NOT NULL,
    latency_sketch BYTEA NOT NULL,
    PRIMARY KEY (project_id, bucket, key)
);

