-- worker-002-fencing.sql - a worker's own database, version 2: the
-- worker's incarnation, and runs that end 'lost' (issue 3, membership
-- and fencing).
--
-- Applied by db_open() inside one BEGIN IMMEDIATE transaction that also
-- sets PRAGMA user_version = 2, on top of worker-001-init.sql (never edit
-- that file: databases in the field are at version 1).  Only
-- worker/wstore.c speaks to these tables.
--
-- Incarnation: gossip (SWIM) and the scheduler tell a restarted worker
-- from its earlier life by its incarnation, which must be strictly above
-- every one this worker used before.  The wall clock alone does not
-- promise that (it can be set back), so the last one is kept here and the
-- next is max(wall clock ms, last + 1), committed before the worker sends
-- anything under it.
--
-- 'lost': when the scheduler fenced this node, a run it still holds is
-- killed and reported as lost (LEASE_LOST).  Version 1 allowed only the
-- ends a worker decided itself, and SQLite cannot change a CHECK in
-- place, so wruns is rebuilt with the same columns, indexes and trigger
-- (the standard rebuild: new table, copy, drop, rename).

CREATE TABLE worker_identity (
	id               INTEGER PRIMARY KEY CHECK (id = 1),  -- one row
	incarnation      INTEGER NOT NULL CHECK (incarnation > 0)
);

CREATE TRIGGER worker_identity_never_decreases
BEFORE UPDATE OF incarnation ON worker_identity
WHEN NEW.incarnation <= OLD.incarnation
BEGIN
	SELECT RAISE(ABORT, 'worker_identity.incarnation must increase');
END;

CREATE TABLE wruns_v2 (
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
	                                  'cancelled', 'lost')),
	exit_code        INTEGER NOT NULL DEFAULT -1,   -- -1: none
	signal           INTEGER NOT NULL DEFAULT 0,    -- 0: none
	cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
	tail             TEXT    NOT NULL DEFAULT '',
	error            TEXT    NOT NULL DEFAULT '',
	log_path         TEXT    NOT NULL DEFAULT '',
	-- A run reported as ended carries its result.
	CHECK (phase NOT IN ('ended', 'done') OR end_state IS NOT NULL)
);

INSERT INTO wruns_v2 (run_id, token, task, command, attempt, scheduled_for, timeout_ms,
                      reason, phase, pid, proc_start, accepted_ms, started_ms,
                      finished_ms, closed_ms, end_state, exit_code, signal,
                      cancel_requested, tail, error, log_path)
	SELECT run_id, token, task, command, attempt, scheduled_for, timeout_ms,
	       reason, phase, pid, proc_start, accepted_ms, started_ms,
	       finished_ms, closed_ms, end_state, exit_code, signal,
	       cancel_requested, tail, error, log_path
	FROM wruns;

-- Dropping the table drops its indexes and trigger; they are recreated
-- below exactly as version 1 had them.
DROP TABLE wruns;
ALTER TABLE wruns_v2 RENAME TO wruns;

CREATE UNIQUE INDEX wruns_one_live ON wruns(task)
	WHERE phase IN ('accepted', 'running');

CREATE INDEX wruns_live ON wruns(accepted_ms, run_id)
	WHERE phase IN ('accepted', 'running', 'ended');

CREATE INDEX wruns_tombstones ON wruns(closed_ms)
	WHERE phase IN ('rejected', 'done');

CREATE TRIGGER wruns_tombstone_is_final
BEFORE UPDATE OF phase ON wruns
WHEN OLD.phase IN ('rejected', 'done') AND NEW.phase IS NOT OLD.phase
BEGIN
	SELECT RAISE(ABORT, 'a rejected or done run is final');
END;
