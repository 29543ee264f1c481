-- sched-004-triggers.sql - the scheduler's database: triggers and
-- debounce (issue 5, "Triggers and debounce").
--
-- Applied by db_open() inside one BEGIN IMMEDIATE transaction that also
-- sets PRAGMA user_version, on top of the earlier files (never edit
-- those: databases in the field are at their versions).  Only
-- scheduler/store*.c speaks to these tables (store_trigger.c).
--
-- `schedctl trigger TASK` asks for a run now.  A trigger acknowledged to
-- its caller is committed here first, in one of three forms:
--   a run with reason 'trigger' (no debounce, or a debounce window
--     closed), whose `triggers` column counts the triggers it answers;
--   a trigger added to the task's pending run (runs.triggers + 1): a run
--     that has not started yet answers every trigger that came before it;
--   an open debounce window (trigger_windows): the first trigger opened
--     it, later ones joined it (count), and when closes_ms has passed the
--     scheduler turns it into a run (or adds it to the pending run) in the
--     transaction that deletes it.  The window is a row, so it survives a
--     scheduler restart: at start, a window whose end has passed closes
--     at once.
--
-- 'trigger' is a new run reason, and SQLite cannot change a CHECK in
-- place, so runs is rebuilt with the same columns (plus triggers) and
-- exactly the indexes and triggers it had after version 3 (the standard
-- rebuild: new table, copy, drop, rename; see worker-002-fencing.sql).

-- One open debounce window per task at most (the primary key).
CREATE TABLE trigger_windows (
	task_id          INTEGER PRIMARY KEY REFERENCES tasks(id),
	opened_ms        INTEGER NOT NULL,              -- the first trigger
	closes_ms        INTEGER NOT NULL,              -- opened_ms + debounce
	last_ms          INTEGER NOT NULL,              -- the latest trigger
	count            INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
	CHECK (closes_ms >= opened_ms AND last_ms >= opened_ms)
);

CREATE TABLE runs_v4 (
	run_id           INTEGER PRIMARY KEY AUTOINCREMENT,
	task_id          INTEGER NOT NULL REFERENCES tasks(id),
	token            INTEGER NOT NULL CHECK (token >= 0),
	reason           TEXT    NOT NULL
	                         CHECK (reason IN ('schedule', 'manual', 'retry', 'catch_up',
	                                           'trigger')),
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
	fenced_from      TEXT    CHECK (fenced_from IN ('dispatched', 'running')),
	fence_id         INTEGER REFERENCES fence_requests(id),
	-- How many `schedctl trigger` requests this run answers (0: none).
	triggers         INTEGER NOT NULL DEFAULT 0 CHECK (triggers >= 0),
	-- Only skipped rows lack a token: they can never execute.
	CHECK (token > 0 OR state = 'skipped'),
	-- A run that may be executing is always somewhere.
	CHECK (node <> '' OR state NOT IN ('dispatched', 'running', 'fencing'))
);

INSERT INTO runs_v4 (run_id, task_id, token, reason, state, attempt, node, scheduled_for,
                     created_ms, dispatched_ms, started_ms, finished_ms, not_before_ms,
                     exit_code, signal, cancel_requested, output_tail, error, log_path,
                     fenced_from, fence_id)
	SELECT run_id, task_id, token, reason, state, attempt, node, scheduled_for,
	       created_ms, dispatched_ms, started_ms, finished_ms, not_before_ms,
	       exit_code, signal, cancel_requested, output_tail, error, log_path,
	       fenced_from, fence_id
	FROM runs;

-- AUTOINCREMENT's memory: a run id is never reused (workers keep
-- tombstones by run id), even one above every row left, so the counter
-- of runs moves over to the new table before the old one is dropped.
DELETE FROM sqlite_sequence WHERE name = 'runs_v4';
INSERT INTO sqlite_sequence (name, seq)
	SELECT 'runs_v4', seq FROM sqlite_sequence WHERE name = 'runs';

-- Dropping the table drops its indexes and triggers; they are recreated
-- below exactly as versions 1 and 2 left them (tests/unit/test_store_trigger.c
-- compares their text with a version 3 database).
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;

CREATE UNIQUE INDEX runs_one_active ON runs(task_id)
	WHERE state IN ('dispatched', 'running', 'fencing');

CREATE UNIQUE INDEX runs_one_pending ON runs(task_id)
	WHERE state = 'pending';

CREATE UNIQUE INDEX runs_token ON runs(task_id, token) WHERE token > 0;

CREATE INDEX runs_history ON runs(task_id, run_id DESC);

CREATE INDEX runs_unfinished ON runs(run_id)
	WHERE state IN ('pending', 'dispatched', 'running', 'fencing');

CREATE INDEX runs_fence ON runs(fence_id) WHERE fence_id IS NOT NULL;

CREATE TRIGGER runs_identity_is_fixed
BEFORE UPDATE OF task_id, token ON runs
WHEN NEW.task_id IS NOT OLD.task_id OR (NEW.token IS NOT OLD.token AND NOT (
	OLD.state IN ('dispatched', 'fencing') AND NEW.state = 'pending' AND
	NEW.token > OLD.token AND
	NEW.token = (SELECT last_token FROM tasks WHERE id = NEW.task_id)))
BEGIN
	SELECT RAISE(ABORT, 'runs.task_id and runs.token are immutable');
END;

CREATE TRIGGER runs_token_is_newest
BEFORE INSERT ON runs
WHEN NEW.token > 0 AND
     NEW.token IS NOT (SELECT last_token FROM tasks WHERE id = NEW.task_id)
BEGIN
	SELECT RAISE(ABORT, 'runs.token must be the task''s new last_token');
END;

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

CREATE TRIGGER runs_fencing_needs_open_fence
BEFORE UPDATE OF state ON runs
WHEN NEW.state = 'fencing' AND OLD.state IS NOT 'fencing' AND (
	NEW.fenced_from IS NOT OLD.state OR
	NOT EXISTS (SELECT 1 FROM fence_requests f
	            WHERE f.id = NEW.fence_id AND f.node = NEW.node AND f.state = 'open'))
BEGIN
	SELECT RAISE(ABORT, 'a run enters fencing only under an open fence request of its node');
END;

CREATE TRIGGER runs_lost_needs_confirmed_fence
BEFORE UPDATE OF state ON runs
WHEN NEW.state = 'lost' AND OLD.state IS NOT 'lost' AND NOT EXISTS (
	SELECT 1 FROM fence_requests f
	WHERE f.id = OLD.fence_id AND f.node = OLD.node AND f.state = 'confirmed')
BEGIN
	SELECT RAISE(ABORT, 'a run becomes lost only when its node''s fence is confirmed');
END;

CREATE TRIGGER runs_unfence_restores
BEFORE UPDATE OF state ON runs
WHEN OLD.state = 'fencing' AND NEW.state IN ('dispatched', 'running') AND (
	NEW.state IS NOT OLD.fenced_from OR NOT EXISTS (
		SELECT 1 FROM fence_requests f
		WHERE f.id = OLD.fence_id AND f.state = 'cancelled'))
BEGIN
	SELECT RAISE(ABORT, 'a fencing run resumes only its own state, after a cancelled fence');
END;

CREATE TRIGGER runs_unfenced_forget
AFTER UPDATE OF state ON runs
WHEN OLD.state = 'fencing' AND NEW.state IN ('pending', 'dispatched', 'running')
BEGIN
	UPDATE runs SET fenced_from = NULL, fence_id = NULL WHERE run_id = NEW.run_id;
END;
