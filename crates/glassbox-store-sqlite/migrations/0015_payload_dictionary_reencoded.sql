-- glassbox embedded schema, version 15: whether the parts a project stored without its
-- dictionary (before it was trained) have been re-encoded with it (issue 8; see
-- src/payload_dictionaries.rs). 0 until the background re-encoding has gone through the
-- project's parts once; a start with a dictionary at 0 resumes it (also for dictionaries
-- trained before this version).
ALTER TABLE payload_dictionaries ADD COLUMN reencoded INTEGER NOT NULL DEFAULT 0;
