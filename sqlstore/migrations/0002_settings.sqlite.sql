-- Region-level records that belong to no workspace: peer regions, pairs
-- (keyed by workspace id), replication state. Values are JSON text.
CREATE TABLE settings (
	key        TEXT NOT NULL PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
