-- glassbox PostgreSQL schema (mirrors the embedded one), version 5: comments, annotation queues (items, locks,
-- assignments), and the order of the score config list.
-- Ties in list orders compare ids bytewise (COLLATE "C", as SQLite compares text); the
-- indexes use the same collation so that they serve those orders.

CREATE INDEX score_configs_by_time ON score_configs (project_id, created_at DESC, id COLLATE "C");

CREATE TABLE comments (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    -- TRACE, OBSERVATION, SESSION or PROMPT.
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    content TEXT NOT NULL,
    author_user_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX comments_by_time ON comments (project_id, created_at DESC, id COLLATE "C" DESC);
CREATE INDEX comments_by_object ON comments
    (project_id, object_type, object_id, created_at DESC, id COLLATE "C" DESC);

CREATE TABLE annotation_queues (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    -- JSON array of score config ids.
    score_config_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);
CREATE INDEX annotation_queues_by_time ON annotation_queues
    (project_id, created_at DESC, id COLLATE "C" DESC);

-- Item ids are unique per project; every query also names the queue.
CREATE TABLE annotation_queue_items (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    -- TRACE, OBSERVATION or SESSION.
    object_type TEXT NOT NULL,
    -- PENDING or COMPLETED.
    status TEXT NOT NULL,
    -- The last soft lock (it may have expired): who, since and until when.
    locked_by_user_id TEXT,
    locked_at BIGINT,
    lock_expires_at BIGINT,
    annotator_user_id TEXT,
    completed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX annotation_queue_items_by_time
    ON annotation_queue_items (project_id, queue_id, created_at DESC, id COLLATE "C" DESC);
CREATE INDEX annotation_queue_items_by_status
    ON annotation_queue_items (project_id, queue_id, status, created_at, id COLLATE "C");
CREATE INDEX annotation_queue_items_by_object
    ON annotation_queue_items (project_id, queue_id, object_type, object_id);

CREATE TABLE annotation_queue_assignments (
    project_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, queue_id, user_id)
);
