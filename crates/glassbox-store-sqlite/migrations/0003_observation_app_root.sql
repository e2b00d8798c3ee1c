-- The app's logical root under a framework span that was not exported
-- (OTLP `langfuse.internal.is_app_root`): a root for the v2 observations API.
ALTER TABLE observations ADD COLUMN is_app_root INTEGER NOT NULL DEFAULT 0;
