-- glassbox PostgreSQL schema (mirrors the embedded one): datasets, versioned dataset items, dataset runs
-- (experiments) and run items. JSON columns hold JSON text; NULL is JSON null.

CREATE TABLE datasets (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    metadata TEXT,
    input_schema TEXT,
    expected_output_schema TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);
CREATE INDEX datasets_by_time ON datasets (project_id, created_at DESC, id);

-- One row per version of an item: valid from valid_from until valid_to (NULL: the
-- current version). A delete closes the current version and adds a tombstone
-- (is_deleted = 1). Every version of an id has the same dataset_id.
CREATE TABLE dataset_items (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_to BIGINT,
    dataset_id TEXT NOT NULL,
    is_deleted BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    input TEXT,
    expected_output TEXT,
    metadata TEXT,
    source_trace_id TEXT,
    source_observation_id TEXT,
    -- When the first version was written.
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id, valid_from)
);
CREATE INDEX dataset_items_by_dataset ON dataset_items (project_id, dataset_id, created_at DESC, id);
-- At most one current version per item, whatever process writes it.
CREATE UNIQUE INDEX dataset_items_current ON dataset_items (project_id, id) WHERE valid_to IS NULL;

-- dataset_id NULL: an experiment on local data (OTLP only). Names are unique per dataset.
CREATE TABLE dataset_runs (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    dataset_id TEXT,
    name TEXT NOT NULL,
    description TEXT,
    metadata TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX dataset_runs_by_name ON dataset_runs (project_id, dataset_id, name);
CREATE INDEX dataset_runs_by_time ON dataset_runs (project_id, dataset_id, created_at DESC, id);

-- One row per (run, dataset item, trace): the REST path and the OTLP path meet here.
CREATE TABLE dataset_run_items (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    dataset_item_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    observation_id TEXT,
    dataset_item_version BIGINT,
    expected_output TEXT,
    item_metadata TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX dataset_run_items_by_key ON dataset_run_items (project_id, run_id, dataset_item_id, trace_id);
CREATE INDEX dataset_run_items_by_run ON dataset_run_items (project_id, run_id, created_at DESC, id);
CREATE INDEX dataset_run_items_by_item ON dataset_run_items (project_id, dataset_item_id);
