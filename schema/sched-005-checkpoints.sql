-- sched-005-checkpoints.sql - the scheduler's database: task checkpoints
-- (issue 5, "Checkpoints and resume"; docs/operations.md "Checkpoints").
--
-- At most one checkpoint per task: the last one a run of the task shipped
-- while its token was the task's current token (no run of the task had
-- gone out with a newer one) and the run was active on the node that
-- shipped it.  The next run of the task
-- starts with it.  Only scheduler/store_ckpt.c writes this table.
--
-- seq: the shipping run's version of its content (it grows within a run),
-- so a late copy of an older content of the same run never replaces a
-- newer one.  hash: BLAKE2b-128 of data, as carried by DISPATCH.
CREATE TABLE checkpoints (
	task_id    INTEGER PRIMARY KEY REFERENCES tasks(id),
	token      INTEGER NOT NULL CHECK (token > 0),
	run_id     INTEGER NOT NULL CHECK (run_id > 0),
	seq        INTEGER NOT NULL CHECK (seq >= 0),
	size       INTEGER NOT NULL CHECK (size >= 0),
	hash       BLOB    NOT NULL CHECK (length(hash) = 16),
	data       BLOB    NOT NULL CHECK (length(data) = size),
	updated_ms INTEGER NOT NULL
);

-- A checkpoint is only ever replaced by one of the same or a newer token:
-- an older run (a fenced node that came back) cannot go back in time.
CREATE TRIGGER checkpoints_token_never_decreases
BEFORE UPDATE OF token ON checkpoints
WHEN NEW.token < OLD.token
BEGIN
	SELECT RAISE(ABORT, 'checkpoints.token may not decrease');
END;
