-- Browser sessions of the web UI. The cookie holds a random token; only its SHA-256
-- (hex) is stored, so a copy of the database does not let anyone sign in.
CREATE TABLE ui_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_at);
CREATE INDEX organization_memberships_by_user ON organization_memberships (user_id, org_id);
-- Emails are stored lowercased; this index makes a sign-up race of one email between
-- processes end in one user (INSERT ... ON CONFLICT on it).
CREATE UNIQUE INDEX users_by_lower_email ON users (lower(email));
CREATE INDEX projects_by_org ON projects (org_id);
