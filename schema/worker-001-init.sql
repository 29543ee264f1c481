-- worker-001-init.sql - a worker's own database, version 1.
--
-- Applied by db_open() inside one BEGIN IMMEDIATE transaction that also
-- sets PRAGMA user_version = 1.  Only worker/wstore.c speaks to it.
--
-- Write-ahead (DESIGN rule 2): a run is a row here, phase 'accepted',
-- before its process is forked; its end is 'ended' before it is
-- reported; it becomes a 'done' tombstone only once the scheduler
-- acknowledged the end.  A 'rejected' tombstone records "never started,
-- and never will": a retransmitted dispatch of that run id finds it and
-- is refused, so the scheduler may safely hand the run to someone else.
--
-- Conventions: *_ms are milliseconds since the Unix epoch, 0 meaning
-- "not yet"; scheduled_for is Unix seconds.

CREATE TABLE wruns (
	run_id           INTEGER PRIMARY KEY,           -- the scheduler's run id
	token            INTEGER NOT NULL CHECK (token >= 0),
	task             TEXT    NOT NULL,
	command          TEXT    NOT NULL DEFAULT '',
	attempt          INTEGER NOT NULL DEFAULT 1,
	scheduled_for    INTEGER NOT NULL DEFAULT 0,
	timeout_ms       INTEGER NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),
	reason           TEXT    NOT NULL DEFAULT 'schedule'
	                         CHECK (reason IN ('schedule', 'manual', 'retry', 'catch_up')),
	phase            TEXT    NOT NULL
	                         CHECK (phase IN ('accepted', 'running', 'ended',
	                                          'rejected', 'done')),
	pid              INTEGER NOT NULL DEFAULT 0,    -- process and group id
	proc_start       INTEGER NOT NULL DEFAULT 0,    -- /proc/PID/stat starttime
	accepted_ms      INTEGER NOT NULL DEFAULT 0,
	started_ms       INTEGER NOT NULL DEFAULT 0,
	finished_ms      INTEGER NOT NULL DEFAULT 0,
	closed_ms        INTEGER NOT NULL DEFAULT 0,    -- became a tombstone (purge age)
	end_state        TEXT    CHECK (end_state IS NULL OR end_state IN
	                                 ('succeeded', 'failed', 'timed_out',
	                                  'cancelled')),
	exit_code        INTEGER NOT NULL DEFAULT -1,   -- -1: none
	signal           INTEGER NOT NULL DEFAULT 0,    -- 0: none
	cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
	tail             TEXT    NOT NULL DEFAULT '',
	error            TEXT    NOT NULL DEFAULT '',
	log_path         TEXT    NOT NULL DEFAULT '',
	-- A run reported as ended carries its result.
	CHECK (phase NOT IN ('ended', 'done') OR end_state IS NOT NULL)
);

-- This worker never holds two live executions of one task: a second wall
-- behind the scheduler's runs_one_active.  ('ended' rows are finished
-- processes waiting for an acknowledgement, so they do not count.)
CREATE UNIQUE INDEX wruns_one_live ON wruns(task)
	WHERE phase IN ('accepted', 'running');

-- Runs to reconcile at start and to keep reporting.
CREATE INDEX wruns_live ON wruns(accepted_ms, run_id)
	WHERE phase IN ('accepted', 'running', 'ended');

-- Tombstones by age, for wstore_purge().
CREATE INDEX wruns_tombstones ON wruns(closed_ms)
	WHERE phase IN ('rejected', 'done');

-- A tombstone is final: it never becomes live again.
CREATE TRIGGER wruns_tombstone_is_final
BEFORE UPDATE OF phase ON wruns
WHEN OLD.phase IN ('rejected', 'done') AND NEW.phase IS NOT OLD.phase
BEGIN
	SELECT RAISE(ABORT, 'a rejected or done run is final');
END;

-- The highest fencing token seen per task (accepted or rejected).  Never
-- purged: a dispatch carrying a lower or equal token is refused forever.
CREATE TABLE task_tokens (
	task             TEXT    PRIMARY KEY,
	max_token        INTEGER NOT NULL CHECK (max_token >= 0)
);

CREATE TRIGGER task_tokens_never_decrease
BEFORE UPDATE OF max_token ON task_tokens
WHEN NEW.max_token < OLD.max_token
BEGIN
	SELECT RAISE(ABORT, 'task_tokens.max_token may not decrease');
END;
