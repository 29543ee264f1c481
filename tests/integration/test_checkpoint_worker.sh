#!/bin/bash
# The worker's side of checkpoints in trouble (issue 5 review).  First
# what a task may leave at its checkpoint path: the path belongs to the
# task, so anything can be there, and none of it may block workerd (a blocked worker stops heartbeating, is fenced and its run
# retried elsewhere while it still runs) or fail later runs.  One worker,
# one task, each run told what to do by $T/mode:
#  (a) a FIFO at the path and at path.part: the run ends normally (its
#      error says the file is a FIFO), no fence, and the next run fetches
#      the stored checkpoint through them and starts with it;
#  (b) a directory at the path: said so, then moved aside when the next
#      run starts, with a stored checkpoint and without one;
#  (c) a symbolic link at the path: not followed, said so once in the log;
#  (d) a fetch that outlives the run's lease: the scheduler is stopped
#      while the worker fetches; the run ends at its lease's end without
#      starting (not at the 30 s no-progress bound, and never starts once
#      the scheduler answers again);
#  (e) a final checkpoint the scheduler never settles holds the end for a
#      lease (at least 30 s) of the scheduler answering, not forever.
. "$(dirname "$0")/lib.sh"

LEASE=4s write_config
cat >"$T/m.sh" <<'SH'
#!/bin/sh
f=$SCHED_CHECKPOINT_FILE
if [ -f "$f" ] && [ ! -L "$f" ]; then c=$(head -1 "$f"); else c=none; fi
echo "$SCHED_RUN_ID $c" >>"$CK_DIR/m.seen"
case $(cat "$CK_DIR/mode") in
write) echo "v$SCHED_RUN_ID" >"$f.tmp" && mv "$f.tmp" "$f" ;;
fifo) rm -f "$f" "$f.part" && mkfifo "$f" "$f.part" && sleep 3 ;;
dir) rm -f "$f" && mkdir "$f" && touch "$f/x" ;;
link) rm -f "$f" && echo secret >"$CK_DIR/secret" && ln -s "$CK_DIR/secret" "$f" && sleep 2 ;;
esac
SH
chmod +x "$T/m.sh"
export CK_DIR="$T"
printf '[task m]\ncommand = %s\nschedule = @yearly\ncatch_up = none\n' "$T/m.sh" >"$T/tasks/t.conf"

start_schedd
start_worker 1
wait_for 20 "the worker alive" workers_alive 1

seen_of() { awk -v r="$1" '$1 == r { print $2 }' "$T/m.seen"; }
stored() { ctl --json checkpoint m | json 'j["text"] or ""'; }
# go MODE: run m once in MODE, wait for its end; prints the run id.
go() {
	echo "$1" >"$T/mode"
	local r
	r=$(trigger m) || fail "run m ($1)"
	wait_for 20 "run $r ($1) ended" run_in "$r" succeeded failed cancelled timed_out lost
	echo "$r"
}
ok() { run_in "$1" succeeded || fail "run $1: $(field "$1" state): $(field "$1" error)"; }

# ---- (a) FIFOs ----------------------------------------------------------------
r1=$(go write)
ok "$r1"
[ "$(stored)" = "v$r1" ] || fail "run $r1's checkpoint not stored: $(stored)"
r2=$(go fifo)
ok "$r2"
field "$r2" error | grep -q "checkpoint file is a FIFO, not a regular file; not shipped" ||
	fail "run $r2's error does not name the FIFO: $(field "$r2" error)"
[ "$(stored)" = "v$r1" ] || fail "the stored checkpoint changed: $(stored)"
! grep -qE "member w1 .*-> (suspect|dead)" "$T/schedd.log" || fail "w1 was suspected while its run had a FIFO"
[ "$(grep -c "its checkpoint file is a FIFO" "$T/w1.log")" = 1 ] || fail "the FIFO is not logged once"
# The next run fetches (its dispatch names run r1's checkpoint, the file is
# a FIFO) through path.part, a FIFO too.
r3=$(go write)
ok "$r3"
[ "$(seen_of "$r3")" = "v$r1" ] || fail "run $r3 did not start with run $r1's checkpoint: $(cat "$T/m.seen")"
pass "(a) a FIFO at the path: run $r2 ended normally, no fence; run $r3 started with the stored checkpoint"

# ---- (b) a directory ------------------------------------------------------------
r4=$(go dir)
ok "$r4"
field "$r4" error | grep -q "checkpoint file is a directory" ||
	fail "run $r4's error does not name the directory: $(field "$r4" error)"
r5=$(go write)
ok "$r5"
[ "$(seen_of "$r5")" = "v$r3" ] || fail "run $r5 did not start with run $r3's checkpoint: $(cat "$T/m.seen")"
grep -q "a directory was at .*/checkpoint; moved aside" "$T/w1.log" || fail "the move aside is not logged"
want 0 ctl checkpoint m --clear
r6=$(go dir)
ok "$r6"
r7=$(go write) # its dispatch names no checkpoint: the directory must go
ok "$r7"
[ "$(seen_of "$r7")" = none ] || fail "run $r7 started with a checkpoint: $(cat "$T/m.seen")"
[ "$(stored)" = "v$r7" ] || fail "run $r7's checkpoint not stored: $(stored)"
pass "(b) a directory at the path: said so (run $r4), moved aside for runs $r5 and $r7"

# ---- (c) a symbolic link -----------------------------------------------------------
r8=$(go link)
ok "$r8"
field "$r8" error | grep -q "checkpoint file is a symbolic link" ||
	fail "run $r8's error does not name the link: $(field "$r8" error)"
[ "$(stored)" = "v$r7" ] || fail "the link was followed: $(stored)"
[ "$(grep -c "run $r8 of m: its checkpoint file is a symbolic link" "$T/w1.log")" = 1 ] ||
	fail "the link is not logged once"
pass "(c) a symbolic link at the path: not followed, said so once"

# ---- (d) a fetch outlives the lease ----------------------------------------------
# w1 paused: the DISPATCH waits in its socket; schedd paused next, before it
# suspects w1: w1 accepts the run and asks for its checkpoint, unanswered.
rm -f "$T/logs/m/checkpoint" # so that w1 must fetch the stored one
kill -STOP "$W1_PID"
echo write >"$T/mode"
r9=$(trigger m) || fail "run m (fetch)"
wait_for 5 "run $r9 dispatched" run_in "$r9" dispatched
sleep 0.3
kill -STOP "$SCHEDD_PID"
kill -CONT "$W1_PID"
wait_for 15 "run $r9 ended on w1" grep -q "run $r9 of m ended" "$T/w1.log"
kill -CONT "$SCHEDD_PID"
grep -q "run $r9 of m ended: failed .*not started: its lease ended while it fetched its checkpoint" "$T/w1.log" ||
	fail "run $r9 did not end at its lease's end: $(grep "run $r9 " "$T/w1.log")"
wait_for 20 "run $r9 failed at the scheduler" run_in "$r9" failed
! grep -q "run $r9 of m started" "$T/w1.log" || fail "run $r9 started after its lease ended"
[ -z "$(seen_of "$r9")" ] || fail "run $r9's process ran"
pass "(d) a fetch that outlived its lease: run $r9 ended without starting, reported"

# ---- (e) a final checkpoint the scheduler never settles ---------------------------
# Every store of a checkpoint fails (a trigger in schedd's database), the rest
# works: the whole upload stays unanswered while leases are renewed.  The
# run's ENDED waits for it a lease (at least 30 s) of the scheduler
# answering, then goes with a note.
sqlite3 "$T/schedd.db" "CREATE TRIGGER no_ckpt_i BEFORE INSERT ON checkpoints BEGIN SELECT RAISE(ABORT, 'test'); END;
CREATE TRIGGER no_ckpt_u BEFORE UPDATE ON checkpoints BEGIN SELECT RAISE(ABORT, 'test'); END;" ||
	fail "cannot add the triggers"
echo write >"$T/mode"
t0=$(date +%s)
r10=$(trigger m) || fail "run m (unsettled)"
wait_for 60 "run $r10 reported" run_in "$r10" succeeded failed
t1=$(date +%s)
ok "$r10"
field "$r10" error | grep -q "checkpoint not acknowledged by the scheduler" ||
	fail "run $r10's error does not say its checkpoint was not acknowledged: $(field "$r10" error)"
grep -q "run $r10 of m: the scheduler did not settle its final checkpoint" "$T/w1.log" ||
	fail "the give-up is not logged"
[ $((t1 - t0)) -ge 25 ] || fail "run $r10 was reported after $((t1 - t0)) s, before its checkpoint's bound"
pass "(e) an unsettled final checkpoint held run $r10's end $((t1 - t0)) s, then it went with a note"
