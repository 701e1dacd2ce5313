-- When a plugin version stopped serving on a daemon: its file was replaced by another
-- version or removed. NULL while it serves (or for a load that failed).
ALTER TABLE plugins ADD COLUMN retired_at INTEGER;
