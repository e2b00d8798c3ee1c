-- glassbox embedded schema, version 1.
-- Times are UTC microseconds. JSON columns hold JSON text.
-- Every table that grows with traffic has project_id first in its primary key.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    retention_days INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);

-- Secrets are stored only as hashes.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    public_key TEXT NOT NULL UNIQUE,
    hashed_secret_key TEXT NOT NULL UNIQUE,
    display_secret_key TEXT NOT NULL,
    note TEXT,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
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
    timestamp INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (project_id, entity_kind, entity_id, event_id)
) WITHOUT ROWID;

CREATE TABLE traces (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    name TEXT,
    user_id TEXT,
    session_id TEXT,
    release TEXT,
    version TEXT,
    environment TEXT NOT NULL,
    metadata TEXT NOT NULL,
    tags TEXT NOT NULL,
    public INTEGER NOT NULL,
    bookmarked INTEGER NOT NULL,
    input TEXT,
    output TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
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
    start_time INTEGER NOT NULL,
    end_time INTEGER,
    completion_start_time INTEGER,
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
    total_cost REAL,
    prompt_id TEXT,
    prompt_name TEXT,
    prompt_version INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX observations_by_trace ON observations (project_id, trace_id, start_time);
CREATE INDEX observations_by_time ON observations (project_id, start_time DESC, trace_id DESC, id DESC);

CREATE TABLE scores (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
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
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX scores_by_time ON scores (project_id, timestamp DESC, id DESC);
CREATE INDEX scores_by_trace ON scores (project_id, trace_id);
CREATE INDEX scores_by_session ON scores (project_id, session_id);

CREATE TABLE sessions (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    environment TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX sessions_by_time ON sessions (project_id, created_at DESC);

CREATE TABLE score_configs (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    data_type TEXT NOT NULL,
    is_archived INTEGER NOT NULL,
    min_value REAL,
    max_value REAL,
    categories TEXT,
    description TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
);
