-- sched-002-fencing.sql - the scheduler's database, version 2: fencing
-- (DESIGN rule 4, issue 3 "Fencing").
--
-- Applied by db_open() inside one BEGIN IMMEDIATE transaction that also
-- sets PRAGMA user_version = 2, on top of sched-001-init.sql (never edit
-- that file: databases in the field are at version 1).  Only
-- scheduler/store*.c speaks to these tables (store_fence.c).
--
-- What fencing means here: a node that gossip declared dead while it
-- held active runs gets one open fence request.  Its dispatched and
-- running runs move to 'fencing' (still active: runs_one_active keeps
-- counting them, so the task cannot run elsewhere).  Only a confirmation
-- (the hook exited 0, or an operator vouched) moves them to 'lost', which
-- is terminal and frees the task.  A request called off because the node
-- came back with the same incarnation puts its runs back where they were.
--
-- The walls below make the database refuse what would break that:
-- entering 'fencing' without an open request of the run's node, reaching
-- 'lost' without a confirmed one, and leaving 'fencing' for
-- dispatched/running other than by a cancelled request restoring the
-- exact state the run had.

-- One row per decision to fence a node.  open -> confirmed | cancelled;
-- closed rows are history.  attempts/next_attempt_ms/last_error follow
-- the hook calls (fence_attempts has every call); paused_by_storm is set
-- while the storm guard (DESIGN rule 7) holds the hook back.
CREATE TABLE fence_requests (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	node             TEXT    NOT NULL CHECK (node <> ''),
	address          TEXT    NOT NULL DEFAULT '',   -- "ip:port", as given to the hook
	incarnation      INTEGER NOT NULL DEFAULT 0,    -- the node's incarnation when declared dead
	reason           TEXT    NOT NULL DEFAULT '',
	state            TEXT    NOT NULL DEFAULT 'open'
	                         CHECK (state IN ('open', 'confirmed', 'cancelled')),
	confirmed_by     TEXT    CHECK (confirmed_by IN ('hook', 'operator')),
	created_ms       INTEGER NOT NULL,
	updated_ms       INTEGER NOT NULL,
	closed_ms        INTEGER NOT NULL DEFAULT 0,    -- 0 while open
	attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_ms  INTEGER NOT NULL DEFAULT 0,    -- when to call the hook again
	last_error       TEXT    NOT NULL DEFAULT '',   -- '' after a hook exit 0
	paused_by_storm  INTEGER NOT NULL DEFAULT 0 CHECK (paused_by_storm IN (0, 1)),
	note             TEXT    NOT NULL DEFAULT '',   -- how it was closed
	-- confirmed_by says who confirmed, so it is there exactly when confirmed.
	CHECK ((state = 'confirmed') = (confirmed_by IS NOT NULL)),
	CHECK ((state = 'open') = (closed_ms = 0))
);

-- At most one open request per node: opening is idempotent.
CREATE UNIQUE INDEX fence_one_open ON fence_requests(node) WHERE state = 'open';

-- A request's subject never changes, and it is closed once.
CREATE TRIGGER fence_requests_identity_is_fixed
BEFORE UPDATE OF node, incarnation ON fence_requests
WHEN NEW.node IS NOT OLD.node OR NEW.incarnation IS NOT OLD.incarnation
BEGIN
	SELECT RAISE(ABORT, 'fence_requests.node and incarnation are immutable');
END;

CREATE TRIGGER fence_requests_state_machine
BEFORE UPDATE OF state, confirmed_by ON fence_requests
WHEN (NEW.state IS NOT OLD.state OR NEW.confirmed_by IS NOT OLD.confirmed_by) AND
     NOT (OLD.state = 'open' AND NEW.state IN ('confirmed', 'cancelled'))
BEGIN
	SELECT RAISE(ABORT, 'invalid fence request transition');
END;

-- Every call of the fence hook, with its outcome and the end of its
-- output (DESIGN "Fence hook": every call is recorded with its output).
CREATE TABLE fence_attempts (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	request_id       INTEGER NOT NULL REFERENCES fence_requests(id),
	started_ms       INTEGER NOT NULL,
	finished_ms      INTEGER NOT NULL,
	exit_code        INTEGER NOT NULL DEFAULT -1,   -- -1: none (signal, timeout)
	signal           INTEGER NOT NULL DEFAULT 0,    -- 0: none
	timed_out        INTEGER NOT NULL DEFAULT 0 CHECK (timed_out IN (0, 1)),
	output_tail      TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX fence_attempts_of ON fence_attempts(request_id, id);

-- The state a run had when its node's fence began, so that a cancelled
-- fence can restore it, and the request that fenced it.  Both are set
-- when a run enters 'fencing', cleared when it goes back to pending,
-- dispatched or running, and kept on terminal rows as history (a lost
-- run names the fence that declared it lost).
ALTER TABLE runs ADD COLUMN fenced_from TEXT
	CHECK (fenced_from IN ('dispatched', 'running'));
ALTER TABLE runs ADD COLUMN fence_id INTEGER REFERENCES fence_requests(id);

CREATE INDEX runs_fence ON runs(fence_id) WHERE fence_id IS NOT NULL;

-- Version 1 allowed a new token only for dispatched -> pending (the
-- worker refused the dispatch).  A worker can just as well answer "never
-- started, never will" while its run is being fenced (it was alive after
-- all): fencing -> pending with the task's next token is the same move.
DROP TRIGGER runs_identity_is_fixed;
CREATE TRIGGER runs_identity_is_fixed
BEFORE UPDATE OF task_id, token ON runs
WHEN NEW.task_id IS NOT OLD.task_id OR (NEW.token IS NOT OLD.token AND NOT (
	OLD.state IN ('dispatched', 'fencing') AND NEW.state = 'pending' AND
	NEW.token > OLD.token AND
	NEW.token = (SELECT last_token FROM tasks WHERE id = NEW.task_id)))
BEGIN
	SELECT RAISE(ABORT, 'runs.task_id and runs.token are immutable');
END;

-- Into 'fencing' only under an open request for the run's own node,
-- remembering the exact state it leaves.
CREATE TRIGGER runs_fencing_needs_open_fence
BEFORE UPDATE OF state ON runs
WHEN NEW.state = 'fencing' AND OLD.state IS NOT 'fencing' AND (
	NEW.fenced_from IS NOT OLD.state OR
	NOT EXISTS (SELECT 1 FROM fence_requests f
	            WHERE f.id = NEW.fence_id AND f.node = NEW.node AND f.state = 'open'))
BEGIN
	SELECT RAISE(ABORT, 'a run enters fencing only under an open fence request of its node');
END;

-- Into 'lost' only when the request that fenced it is confirmed (DESIGN
-- rule 4: never on a timeout alone).
CREATE TRIGGER runs_lost_needs_confirmed_fence
BEFORE UPDATE OF state ON runs
WHEN NEW.state = 'lost' AND OLD.state IS NOT 'lost' AND NOT EXISTS (
	SELECT 1 FROM fence_requests f
	WHERE f.id = OLD.fence_id AND f.node = OLD.node AND f.state = 'confirmed')
BEGIN
	SELECT RAISE(ABORT, 'a run becomes lost only when its node''s fence is confirmed');
END;

-- Back from 'fencing' to dispatched/running only when the fence was
-- called off, and only to the state the run had.
CREATE TRIGGER runs_unfence_restores
BEFORE UPDATE OF state ON runs
WHEN OLD.state = 'fencing' AND NEW.state IN ('dispatched', 'running') AND (
	NEW.state IS NOT OLD.fenced_from OR NOT EXISTS (
		SELECT 1 FROM fence_requests f
		WHERE f.id = OLD.fence_id AND f.state = 'cancelled'))
BEGIN
	SELECT RAISE(ABORT, 'a fencing run resumes only its own state, after a cancelled fence');
END;

-- A run that leaves 'fencing' alive (restored, or sent back to pending by
-- its worker) forgets the fence; a terminal one keeps it as history.
CREATE TRIGGER runs_unfenced_forget
AFTER UPDATE OF state ON runs
WHEN OLD.state = 'fencing' AND NEW.state IN ('pending', 'dispatched', 'running')
BEGIN
	UPDATE runs SET fenced_from = NULL, fence_id = NULL WHERE run_id = NEW.run_id;
END;
