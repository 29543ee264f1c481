-- sched-001-init.sql - the scheduler's database, version 1.
--
-- Applied by db_open() inside one BEGIN IMMEDIATE transaction that also
-- sets PRAGMA user_version = 1.  Only scheduler/store*.c speaks to it.
--
-- The one hard promise of sched (a task never runs twice at the same
-- time) is enforced here, not only in C: runs_one_active below makes a
-- second run of a task in an active state impossible whatever a code
-- path tries, and runs_one_pending keeps "at most one waits".  The
-- triggers are a second, cheap wall: terminal rows never change state
-- again, runs follow the state machine of common/runstate.h, and fencing
-- tokens only grow.
--
-- Conventions: times ending in _ms are milliseconds since the Unix epoch
-- (UTC), 0 meaning "not yet"; *_s and scheduled_for are Unix seconds.
-- Enumerations are stored as their stable lower-case names.

-- Task definitions as loaded from the schedule files, plus the mutable
-- per-task state that must survive reloads and restarts.  A task that
-- disappears from the files is marked removed, never deleted: its runs
-- are history and its last_token must keep growing if it comes back.
CREATE TABLE tasks (
	id               INTEGER PRIMARY KEY,
	name             TEXT    NOT NULL UNIQUE,
	command          TEXT    NOT NULL,
	schedule         TEXT    NOT NULL,
	timezone         TEXT    NOT NULL DEFAULT 'UTC',
	timeout_ms       INTEGER NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),
	overlap          TEXT    NOT NULL DEFAULT 'skip'
	                         CHECK (overlap IN ('skip', 'queue')),
	catch_up         TEXT    NOT NULL DEFAULT 'latest'
	                         CHECK (catch_up IN ('none', 'latest', 'all')),
	retries          INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0),
	retry_backoff_ms INTEGER NOT NULL DEFAULT 10000 CHECK (retry_backoff_ms >= 0),
	priority         INTEGER NOT NULL DEFAULT 0,
	labels           TEXT    NOT NULL DEFAULT '',   -- normalized "k=v,k=v"
	after_tasks      TEXT    NOT NULL DEFAULT '',   -- normalized "a,b"
	debounce_ms      INTEGER NOT NULL DEFAULT 0 CHECK (debounce_ms >= 0),
	source_file      TEXT    NOT NULL DEFAULT '',
	source_line      INTEGER NOT NULL DEFAULT 0,
	paused           INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
	removed          INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
	cursor_s         INTEGER NOT NULL DEFAULT 0,    -- last fire time accounted for
	last_token       INTEGER NOT NULL DEFAULT 0 CHECK (last_token >= 0),
	created_ms       INTEGER NOT NULL,
	updated_ms       INTEGER NOT NULL
);

-- Fencing tokens (DESIGN rule 5) are strictly increasing per task: the
-- store raises last_token and gives the new value to the new run.
CREATE TRIGGER tasks_token_never_decreases
BEFORE UPDATE OF last_token ON tasks
WHEN NEW.last_token < OLD.last_token
BEGIN
	SELECT RAISE(ABORT, 'tasks.last_token may not decrease');
END;

-- One row per execution attempt.  AUTOINCREMENT: a run id is never
-- reused, even after retention deletes the newest rows, because workers
-- keep tombstones keyed by run id.
CREATE TABLE runs (
	run_id           INTEGER PRIMARY KEY AUTOINCREMENT,
	task_id          INTEGER NOT NULL REFERENCES tasks(id),
	token            INTEGER NOT NULL CHECK (token >= 0),
	reason           TEXT    NOT NULL
	                         CHECK (reason IN ('schedule', 'manual', 'retry', 'catch_up')),
	state            TEXT    NOT NULL
	                         CHECK (state IN ('pending', 'dispatched', 'running',
	                                          'succeeded', 'failed', 'timed_out',
	                                          'cancelled', 'skipped', 'fencing', 'lost')),
	attempt          INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
	node             TEXT    NOT NULL DEFAULT '',   -- '' until dispatched
	scheduled_for    INTEGER NOT NULL,
	created_ms       INTEGER NOT NULL,
	dispatched_ms    INTEGER NOT NULL DEFAULT 0,
	started_ms       INTEGER NOT NULL DEFAULT 0,
	finished_ms      INTEGER NOT NULL DEFAULT 0,
	not_before_ms    INTEGER NOT NULL DEFAULT 0,    -- retry backoff: not dispatched before
	exit_code        INTEGER NOT NULL DEFAULT -1,   -- -1: none
	signal           INTEGER NOT NULL DEFAULT 0,    -- 0: none
	cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
	output_tail      TEXT    NOT NULL DEFAULT '',
	error            TEXT    NOT NULL DEFAULT '',
	log_path         TEXT    NOT NULL DEFAULT '',
	-- Only skipped rows lack a token: they can never execute.
	CHECK (token > 0 OR state = 'skipped'),
	-- A run that may be executing is always somewhere.
	CHECK (node <> '' OR state NOT IN ('dispatched', 'running', 'fencing'))
);

-- THE invariant (DESIGN rule 1): at most one run of a task that may be
-- executing.  The WHERE text is repeated verbatim by the store's queries
-- so that the planner can use these partial indexes.
CREATE UNIQUE INDEX runs_one_active ON runs(task_id)
	WHERE state IN ('dispatched', 'running', 'fencing');

-- overlap = queue: at most one run waits.
CREATE UNIQUE INDEX runs_one_pending ON runs(task_id)
	WHERE state = 'pending';

-- A token names one execution: never two runs of a task with the same one.
CREATE UNIQUE INDEX runs_token ON runs(task_id, token) WHERE token > 0;

-- History of a task, newest first; also the task's last run.
CREATE INDEX runs_history ON runs(task_id, run_id DESC);

-- Work not finished yet, scanned at start and by `schedctl status`.
CREATE INDEX runs_unfinished ON runs(run_id)
	WHERE state IN ('pending', 'dispatched', 'running', 'fencing');

-- A run's task and token never change: a token names one execution.
-- The one exception: a dispatch the worker refused ("never started, never
-- will") sends the run back to pending with the task's next token.
CREATE TRIGGER runs_identity_is_fixed
BEFORE UPDATE OF task_id, token ON runs
WHEN NEW.task_id IS NOT OLD.task_id OR (NEW.token IS NOT OLD.token AND NOT (
	OLD.state = 'dispatched' AND NEW.state = 'pending' AND NEW.token > OLD.token AND
	NEW.token = (SELECT last_token FROM tasks WHERE id = NEW.task_id)))
BEGIN
	SELECT RAISE(ABORT, 'runs.task_id and runs.token are immutable');
END;

-- A new executable run carries the task's newest token (the store raises
-- tasks.last_token first), so tokens of a task strictly increase.
CREATE TRIGGER runs_token_is_newest
BEFORE INSERT ON runs
WHEN NEW.token > 0 AND
     NEW.token IS NOT (SELECT last_token FROM tasks WHERE id = NEW.task_id)
BEGIN
	SELECT RAISE(ABORT, 'runs.token must be the task''s new last_token');
END;

-- The run state machine (common/runstate.h, DESIGN "Run states"):
--   pending    -> dispatched | skipped | cancelled
--   dispatched -> running | pending (worker: never started) | fencing |
--                 succeeded | failed | timed_out | cancelled
--   running    -> fencing | succeeded | failed | timed_out | cancelled
--   fencing    -> lost | pending (worker: never started) | succeeded |
--                 failed | timed_out | cancelled | dispatched | running
--                 (the last two: fencing called off, the node is back)
-- Terminal rows are history and never change state again.
CREATE TRIGGER runs_state_machine
BEFORE UPDATE OF state ON runs
WHEN NEW.state IS NOT OLD.state AND NOT (
	(OLD.state = 'pending' AND NEW.state IN ('dispatched', 'skipped', 'cancelled')) OR
	(OLD.state = 'dispatched' AND NEW.state IN ('running', 'pending', 'fencing',
		'succeeded', 'failed', 'timed_out', 'cancelled')) OR
	(OLD.state = 'running' AND NEW.state IN ('fencing',
		'succeeded', 'failed', 'timed_out', 'cancelled')) OR
	(OLD.state = 'fencing' AND NEW.state IN ('lost', 'pending', 'dispatched', 'running',
		'succeeded', 'failed', 'timed_out', 'cancelled')))
BEGIN
	SELECT RAISE(ABORT, 'invalid run state transition');
END;

-- Workers as last heard from (HELLO / heartbeat).
CREATE TABLE nodes (
	name             TEXT    PRIMARY KEY,
	addr             TEXT    NOT NULL,              -- "ip:port"
	slots            INTEGER NOT NULL CHECK (slots >= 0),
	labels           TEXT    NOT NULL DEFAULT '',
	first_seen_ms    INTEGER NOT NULL,
	last_hello_ms    INTEGER NOT NULL
);

-- Append-only event log for operators (reloads, skips, dispatches, fences).
-- task and node are names, not keys: an event outlives what it mentions.
CREATE TABLE events (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms            INTEGER NOT NULL,
	kind             TEXT    NOT NULL,
	task             TEXT,
	run_id           INTEGER,
	node             TEXT,
	message          TEXT    NOT NULL DEFAULT ''
);
