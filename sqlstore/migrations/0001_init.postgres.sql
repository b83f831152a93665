-- The initial schema. Times are TEXT in UTC with microseconds
-- (2006-01-02T15:04:05.000000Z), JSON documents are TEXT as given.
-- 0001_init.sqlite.sql is the same schema without COLLATE "C", which SQLite
-- does not need: its TEXT sorts by bytes already. Keep the two in step.

CREATE TABLE workspaces (
	id           TEXT NOT NULL PRIMARY KEY,
	name         TEXT COLLATE "C" NOT NULL UNIQUE,
	display_name TEXT NOT NULL DEFAULT '',
	description  TEXT NOT NULL DEFAULT '',
	tags         TEXT,
	region       TEXT NOT NULL DEFAULT '',
	resources    TEXT,
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	deleted_at   TEXT,
	purge_at     TEXT
);

CREATE TABLE resources (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	kind         TEXT COLLATE "C" NOT NULL,
	name         TEXT COLLATE "C" NOT NULL,
	version      TEXT COLLATE "C" NOT NULL DEFAULT '',
	spec         TEXT,
	blobs        TEXT,
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	PRIMARY KEY (workspace_id, kind, name, version)
);

CREATE TABLE tokens (
	id           TEXT NOT NULL PRIMARY KEY,
	name         TEXT COLLATE "C" NOT NULL UNIQUE,
	workspace_id TEXT REFERENCES workspaces (id),
	hash         TEXT NOT NULL UNIQUE,
	created_at   TEXT NOT NULL
);

CREATE INDEX tokens_workspace_id ON tokens (workspace_id);

-- The last seq handed out per workspace. AppendChange increments it with
-- an upsert, which row-locks it until commit, so seqs are gapless.
CREATE TABLE change_seqs (
	workspace_id TEXT NOT NULL PRIMARY KEY REFERENCES workspaces (id),
	last_seq     BIGINT NOT NULL
);

CREATE TABLE changes (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	seq          BIGINT NOT NULL,
	kind         TEXT COLLATE "C" NOT NULL,
	name         TEXT COLLATE "C" NOT NULL,
	version      TEXT COLLATE "C" NOT NULL DEFAULT '',
	op           TEXT NOT NULL,
	origin       TEXT NOT NULL DEFAULT '',
	epoch        BIGINT NOT NULL DEFAULT 0,
	time         TEXT NOT NULL,
	body         TEXT,
	PRIMARY KEY (workspace_id, seq)
);
