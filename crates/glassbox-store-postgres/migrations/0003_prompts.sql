-- glassbox PostgreSQL schema (mirrors the embedded one), version 4: prompt management.
-- A prompt is every row of `prompts` sharing (project_id, name); each row is a version.
-- Content (prompt, config, type, commit message) never changes after insert; labels live
-- in prompt_labels, tags are shared by all versions of a name (kept equal on every row).

CREATE TABLE prompts (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('text', 'chat')),
    -- JSON: a string (text) or an array of messages and placeholders (chat).
    prompt TEXT NOT NULL,
    config TEXT NOT NULL,
    -- JSON array of strings.
    tags TEXT NOT NULL,
    commit_message TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX prompts_by_name_version ON prompts (project_id, name, version);

-- A label is on at most one version of a prompt: the primary key says so. `position`
-- orders the labels of one version (the order they were put on it).
CREATE TABLE prompt_labels (
    project_id TEXT NOT NULL,
    prompt_name TEXT NOT NULL,
    label TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (project_id, prompt_name, label),
    FOREIGN KEY (project_id, prompt_id) REFERENCES prompts (project_id, id) ON DELETE CASCADE
);
CREATE INDEX prompt_labels_by_version ON prompt_labels (project_id, prompt_id, position);

-- References of composed prompts (`@@@langfusePrompt:name=...|version=...@@@` or
-- `|label=...`), parsed from the content at insert: which versions depend on which.
CREATE TABLE prompt_dependencies (
    project_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    child_name TEXT NOT NULL,
    -- Exactly one of child_version and child_label is set.
    child_version BIGINT,
    child_label TEXT,
    FOREIGN KEY (project_id, parent_id) REFERENCES prompts (project_id, id) ON DELETE CASCADE
);
CREATE INDEX prompt_dependencies_by_child ON prompt_dependencies (project_id, child_name);
CREATE INDEX prompt_dependencies_by_parent ON prompt_dependencies (project_id, parent_id);

-- Labels that API keys may not add, move or delete (a project setting).
CREATE TABLE prompt_protected_labels (
    project_id TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, label)
);

-- The prompt link of generations: usage statistics per version (by prompt_id), and the
-- link of generations that named a version before it existed (by name and version).
CREATE INDEX observations_by_prompt ON observations (project_id, prompt_id)
    WHERE prompt_id IS NOT NULL;
CREATE INDEX observations_by_prompt_name ON observations (project_id, prompt_name, prompt_version)
    WHERE prompt_name IS NOT NULL;
