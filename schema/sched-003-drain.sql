-- sched-003-drain.sql - the scheduler's database, version 3: drained
-- nodes (issue 3 "Graceful leave and drain").
--
-- `schedctl drain NODE` sets drained_ms; no new run is dispatched to a
-- drained node, whatever it advertises, across scheduler restarts, until
-- `schedctl undrain NODE` clears it (0).  A node's HELLO never touches it.
ALTER TABLE nodes ADD COLUMN drained_ms INTEGER NOT NULL DEFAULT 0
	CHECK (drained_ms >= 0);
