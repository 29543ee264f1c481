-- sched-003-nodes.sql - the scheduler's database, version 3: what the
-- scheduler must remember about nodes across its restarts (issue 3).
--
-- drained_ms: `schedctl drain NODE` sets it; no new run is dispatched to a
-- drained node, whatever it advertises, across scheduler restarts, until
-- `schedctl undrain NODE` clears it (0).  A node's HELLO never touches it.
--
-- incarnation: the node's process incarnation as of its last HELLO, so
-- that a fence opened right after a scheduler restart names the life it
-- fences, and a node that comes back as that same life can be told from
-- one that restarted.
ALTER TABLE nodes ADD COLUMN drained_ms INTEGER NOT NULL DEFAULT 0
	CHECK (drained_ms >= 0);
ALTER TABLE nodes ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;
