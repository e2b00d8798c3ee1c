-- The trace list filtered by user or session orders by (timestamp desc, id desc). The
-- version-1 indexes lacked the id, so SQLite served such lists from traces_by_time and
-- filtered while scanning: for a rare user or a session that meant the whole project
-- (89 ms for one session at 125k traces). These indexes satisfy filter and order.
DROP INDEX traces_by_user;
DROP INDEX traces_by_session;
CREATE INDEX traces_by_user ON traces (project_id, user_id, timestamp DESC, id DESC);
CREATE INDEX traces_by_session ON traces (project_id, session_id, timestamp DESC, id DESC);
