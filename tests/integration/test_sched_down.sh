#!/bin/bash
# DESIGN rule 6 with real processes: a scheduler that is down for everyone
# must not make healthy workers kill their tasks, even past the lease
# (LEASE=3s here).  Three workers, a task running on each:
#  (a) schedd SIGTERMed (it leaves the cluster) for 7 s, then restarted:
#      every task keeps running past its lease and ends succeeded, once;
#  (a2) the same with a restart a little shorter than the lease (2.4, 2.8 s): the
#      scheduler is back in gossip just as the leases run out, and it gets
#      the moment it needs to renew them (no self-fencing then);
#  (b) schedd SIGSTOPped for 7 s (gossip declares it dead everywhere),
#      then SIGCONTed: the same;
# and, for contrast,
#  (c) one worker cut off alone (SIGSTOP of the scheduler AND the other two
#      workers): it sees nobody, so it self-fences at the end of the lease.
. "$(dirname "$0")/lib.sh"
unique_sleeps

LEASE=3s HEARTBEAT=500ms write_config
for n in 1 2 3; do
	cat >>"$T/tasks/t.conf" <<CONF
[task a$n]
command = flock -n -E 99 $T/a$n.lock sh -c 'echo "start \$SCHED_RUN_ID" >> $T/a$n.runs; sleep 12.${U}$n'; rc=\$?; [ \$rc -eq 99 ] && echo "violation a$n" >> $T/violations; exit \$rc
schedule = @yearly
overlap = skip
labels = slot=$n

CONF
done
start_schedd
for n in 1 2 3; do start_worker "$n" --labels "slot=$n"; done
wait_for 20 "three workers alive" workers_alive 3

start_all() {
	for n in 1 2 3; do
		eval "r$n=\$(trigger a$n)" || fail "run a$n"
	done
	for n in 1 2 3; do
		eval "wait_for 10 \"a$n running\" run_in \$r$n running"
	done
}
all_running() { for n in 1 2 3; do procs "^sleep 12\.${U}$n$" || return 1; done; }
all_succeeded() {
	for n in 1 2 3; do
		eval "wait_for 25 \"a$n ended\" run_in \$r$n succeeded failed timed_out cancelled lost"
		eval "st=\$(field \$r$n state)"
		[ "$st" = succeeded ] || fail "a$n ended $st: $(eval "field \$r$n error")"
	done
	[ ! -s "$T/violations" ] || fail "overlap: $(cat "$T/violations")"
}

# ---- (a) schedd stopped with SIGTERM: it leaves; tasks go on -----------------
start_all
kill -TERM "$SCHEDD_PID"
wait_for 10 "schedd exited" sh -c "! kill -0 $SCHEDD_PID 2>/dev/null"
sleep 7
all_running || fail "a task died while the scheduler was down for everyone (lease 3s)"
grep -q "kept running" "$T"/w1.log || fail "w1 does not say why it keeps its run"
start_schedd
all_succeeded
pass "(a) schedd down (SIGTERM) 7 s > lease: tasks kept running and succeeded"

for delay in 2.4 2.8; do
	start_all
	kill -TERM "$SCHEDD_PID"
	wait_for 10 "schedd exited" sh -c "! kill -0 $SCHEDD_PID 2>/dev/null"
	sleep "$delay"
	start_schedd
	all_succeeded
	pass "(a2) schedd restarted after ${delay}s (lease 3s): tasks kept running and succeeded"
done

# ---- (b) schedd paused: dead in gossip everywhere; tasks go on ---------------
start_all
kill -STOP "$SCHEDD_PID"
sleep 7
all_running || fail "a task died while the scheduler was paused (dead for everyone)"
kill -CONT "$SCHEDD_PID"
all_succeeded
[ "$(ctl --json fence list | json 'len(j["fences"])')" = 0 ] || fail "the pause led to a fence"
pass "(b) schedd paused 7 s > lease: tasks kept running and succeeded; no fence"

# ---- (c) a worker alone: it self-fences --------------------------------------
r1=$(trigger a1) || fail "run a1"
wait_for 10 "a1 running" run_in "$r1" running
kill -STOP "$SCHEDD_PID" "$W2_PID" "$W3_PID"
wait_for 12 "w1 self-fenced its task" no_procs "^sleep 12\.${U}1$"
kill -CONT "$SCHEDD_PID" "$W2_PID" "$W3_PID"
wait_for 20 "a1 ended" run_in "$r1" failed succeeded lost
[ "$(field "$r1" state)" = failed ] || fail "a1 ended $(field "$r1" state)"
case "$(field "$r1" error)" in *self-fenced*) ;; *) fail "a1 error: $(field "$r1" error)" ;; esac
pass "(c) w1 cut off from everyone: self-fenced at the end of its lease"
