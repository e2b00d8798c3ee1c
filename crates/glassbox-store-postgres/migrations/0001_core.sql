-- glassbox PostgreSQL schema (mirrors the embedded one), version 1.
-- Times are UTC microseconds. JSON columns hold JSON text.
-- Every table that grows with traffic has project_id first in its primary key.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    retention_days BIGINT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- Secrets are stored only as hashes.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    public_key TEXT NOT NULL UNIQUE,
    hashed_secret_key TEXT NOT NULL UNIQUE,
    display_secret_key TEXT NOT NULL,
    note TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE organization_memberships (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

-- Every accepted ingestion event; the merged rows below are folds of these.
CREATE TABLE ingest_events (
    project_id TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    sequence BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (project_id, entity_kind, entity_id, event_id)
);

CREATE TABLE traces (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    name TEXT,
    user_id TEXT,
    session_id TEXT,
    release TEXT,
    version TEXT,
    environment TEXT NOT NULL,
    metadata TEXT NOT NULL,
    tags TEXT NOT NULL,
    public BIGINT NOT NULL,
    bookmarked BIGINT NOT NULL,
    input TEXT,
    output TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX traces_by_time ON traces (project_id, timestamp DESC, id DESC);
CREATE INDEX traces_by_user ON traces (project_id, user_id, timestamp DESC);
CREATE INDEX traces_by_session ON traces (project_id, session_id, timestamp);

CREATE TABLE observations (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    parent_observation_id TEXT,
    type TEXT NOT NULL,
    name TEXT,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    completion_start_time BIGINT,
    environment TEXT NOT NULL,
    metadata TEXT NOT NULL,
    level TEXT NOT NULL,
    status_message TEXT,
    version TEXT,
    input TEXT,
    output TEXT,
    model TEXT,
    internal_model_id TEXT,
    model_parameters TEXT,
    provided_usage_details TEXT NOT NULL,
    usage_details TEXT NOT NULL,
    provided_cost_details TEXT NOT NULL,
    cost_details TEXT NOT NULL,
    total_cost DOUBLE PRECISION,
    prompt_id TEXT,
    prompt_name TEXT,
    prompt_version BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX observations_by_trace ON observations (project_id, trace_id, start_time);
CREATE INDEX observations_by_time ON observations (project_id, start_time DESC, trace_id DESC, id DESC);

CREATE TABLE scores (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    name TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    string_value TEXT,
    data_type TEXT NOT NULL,
    source TEXT NOT NULL,
    comment TEXT,
    metadata TEXT NOT NULL,
    config_id TEXT,
    queue_id TEXT,
    author_user_id TEXT,
    execution_trace_id TEXT,
    trace_id TEXT,
    observation_id TEXT,
    session_id TEXT,
    dataset_run_id TEXT,
    environment TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX scores_by_time ON scores (project_id, timestamp DESC, id DESC);
CREATE INDEX scores_by_trace ON scores (project_id, trace_id);
CREATE INDEX scores_by_session ON scores (project_id, session_id);
CREATE INDEX scores_by_observation ON scores (project_id, observation_id);

CREATE TABLE sessions (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    environment TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX sessions_by_time ON sessions (project_id, created_at DESC);

CREATE TABLE score_configs (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    data_type TEXT NOT NULL,
    is_archived BIGINT NOT NULL,
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    categories TEXT,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);

-- The app's logical root under a framework span that was not exported
-- (OTLP `langfuse.internal.is_app_root`): a root for the v2 observations API.
ALTER TABLE observations ADD COLUMN is_app_root BIGINT NOT NULL DEFAULT 0;

-- Arrival order of ingestion events (ingest_events.sequence), shared by every process.
CREATE SEQUENCE ingest_event_sequence;
