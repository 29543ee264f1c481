#!/bin/bash
# Stopping a worker with SIGTERM drains it (worker.drain_timeout), with real
# processes on loopback:
#  (a) drain_timeout 30s, a ~3 s task running: the task is not killed and
#      ends succeeded on the draining worker; the worker advertises no slots,
#      so a run triggered during the drain runs on the other worker; once its
#      end is acknowledged the draining worker leaves the cluster and exits
#      by itself, well before the deadline;
#  (b) drain_timeout 1s, a 60 s task: at the deadline the task is stopped,
#      the run ends failed with "workerd stopped: drain deadline reached",
#      and the worker exits;
#  (c) drain_timeout 30s, a 60 s task, a second SIGTERM: the drain is cut
#      short at once (the run fails, naming the second signal);
#  (d) the scheduler stopped (SIGSTOP) during a drain: the task still ends
#      succeeded, but nobody acknowledges its end, so kill_grace + 5 s after
#      the task ended the worker exits WITHOUT leaving the cluster, saying
#      why, with the end kept in its database for the next start.
# Only what schedd does today is relied on (runs, reports, acks, slots in
# status); nothing depends on the scheduler reacting to the gossip leave.
. "$(dirname "$0")/lib.sh"

unique_sleeps
dead() { ! kill -0 "$1" 2>/dev/null; }
worker_alive() { [ "$(ctl --json status | json "[w['state'] for w in j['workers'] if w['name']=='$1'][0]")" = alive ]; }
slots_of() { ctl --json status | json "[w['slots'] for w in j['workers'] if w['name']=='$1'][0]"; }
# elapsed T0: seconds since T0 (a `date +%s.%N`), one decimal.
elapsed() { python3 -c "import time; print(round(time.time() - $1, 1))"; }
# within X LO HI: LO <= X <= HI.
within() { python3 -c "import sys; sys.exit(0 if $2 <= $1 <= $3 else 1)"; }
ENDED="succeeded failed timed_out cancelled lost"

write_config
NEVER='0 0 1 1 *' # far away: only `schedctl run` starts these tasks
cat >"$T/tasks/drain.conf" <<CONF
[task slow]
command = echo "start \$SCHED_NODE" >> $T/slow.runs; sleep 3.${U}1; echo "end \$SCHED_NODE" >> $T/slow.runs
schedule = $NEVER
labels = pool=d

[task quick]
command = echo "ran on \$SCHED_NODE" >> $T/quick.runs
schedule = $NEVER
labels = pool=d

[task long]
command = sleep 60.${U}2
schedule = $NEVER
labels = pool=e

[task longer]
command = sleep 60.${U}3
schedule = $NEVER
labels = pool=f

[task unheard]
command = sleep 1.${U}4
schedule = $NEVER
labels = pool=g
CONF

start_schedd

# ---- (a) the running task finishes; new work goes elsewhere ----------------
start_worker 1 --labels pool=d --set worker.drain_timeout=30s
wait_for 10 "w1 alive" worker_alive w1
S="sleep 3\.${U}1([^0-9]|$)"
rs=$(trigger slow) || fail "schedctl run slow"
wait_for 5 "slow running on w1" eval 'run_in $rs running && procs "$S"'
[ "$(field "$rs" node)" = w1 ] || fail "slow runs on $(field "$rs" node), want w1"
start_worker 2 --labels pool=d
wait_for 10 "w2 alive" worker_alive w2
kill -TERM "$W1_PID"
t_term=$(date +%s.%N)
wait_for 5 "w1 advertises no slots" eval '[ "$(slots_of w1)" = 0 ]'
procs "$S" || fail "the drain killed slow's task"
grep -q "draining" "$T/w1.log" || fail "w1 does not say it is draining"
rq=$(trigger quick) || fail "schedctl run quick"
wait_for 10 "quick succeeded" run_in "$rq" succeeded
[ "$(field "$rq" node)" = w2 ] || fail "quick ran on $(field "$rq" node) during w1's drain"
[ "$(cat "$T/quick.runs")" = "ran on w2" ] || fail "quick executions: $(tr '\n' ' ' <"$T/quick.runs")"
pass "during w1's drain, run $rq went to w2"
wait_for 10 "slow ended" run_in "$rs" $ENDED
[ "$(field "$rs" state)" = succeeded ] ||
	fail "slow ended $(field "$rs" state) during the drain: $(field "$rs" error)"
[ "$(cat "$T/slow.runs")" = "$(printf 'start w1\nend w1')" ] ||
	fail "slow executions: $(tr '\n' ' ' <"$T/slow.runs")"
pass "slow (run $rs) finished succeeded on the draining w1"
wait_for 10 "w1 exits by itself" dead "$W1_PID"
took=$(elapsed "$t_term")
within "$took" 2.0 12.0 || fail "w1 exited ${took}s after SIGTERM; its task took ~3s, the deadline is 30s"
grep -q "left the cluster" "$T/w1.log" || fail "w1's log does not say it left the cluster"
grep -q "drain deadline reached" "$T/w1.log" && fail "w1 reached its deadline"
pass "w1 drained, left the cluster and exited ${took}s after SIGTERM"

# ---- (b) the deadline stops what still runs ----------------------------------
start_worker 3 --labels pool=e --set worker.drain_timeout=1s
wait_for 10 "w3 alive" worker_alive w3
L="sleep 60\.${U}2([^0-9]|$)"
rl=$(trigger long) || fail "schedctl run long"
wait_for 5 "long running on w3" eval 'run_in $rl running && procs "$L"'
kill -TERM "$W3_PID"
t_term=$(date +%s.%N)
wait_for 8 "long's task stopped" no_procs "$L"
took=$(elapsed "$t_term")
within "$took" 0.8 5.0 || fail "long's task stopped ${took}s after SIGTERM; drain_timeout is 1s"
wait_for 10 "long ended" run_in "$rl" $ENDED
[ "$(field "$rl" state)" = failed ] || fail "long ended $(field "$rl" state), want failed"
err=$(field "$rl" error)
[ "$err" = "workerd stopped: drain deadline reached" ] || fail "long's error: '$err'"
wait_for 10 "w3 exits" dead "$W3_PID"
grep -q "left the cluster" "$T/w3.log" || fail "w3's log does not say it left the cluster"
pass "at the 1s deadline w3 stopped long (run $rl: $err) and exited"

# ---- (c) a second signal cuts the drain short --------------------------------
start_worker 4 --labels pool=f --set worker.drain_timeout=30s
wait_for 10 "w4 alive" worker_alive w4
G="sleep 60\.${U}3([^0-9]|$)"
rg=$(trigger longer) || fail "schedctl run longer"
wait_for 5 "longer running on w4" eval 'run_in $rg running && procs "$G"'
kill -TERM "$W4_PID"
wait_for 5 "w4 advertises no slots" eval '[ "$(slots_of w4)" = 0 ]'
procs "$G" || fail "the first SIGTERM killed longer's task (drain_timeout is 30s)"
kill -TERM "$W4_PID"
t_term=$(date +%s.%N)
wait_for 5 "longer's task stopped" no_procs "$G"
took=$(elapsed "$t_term")
within "$took" 0.0 3.0 || fail "longer's task stopped ${took}s after the second SIGTERM"
wait_for 10 "longer ended" run_in "$rg" $ENDED
[ "$(field "$rg" state)" = failed ] || fail "longer ended $(field "$rg" state), want failed"
err=$(field "$rg" error)
case "$err" in "workerd stopped: "*second*) ;; *) fail "longer's error: '$err'" ;; esac
wait_for 10 "w4 exits" dead "$W4_PID"
pass "a second SIGTERM stopped longer at once (run $rg: $err); w4 exited"

# ---- (d) nobody acknowledges: exit without leaving ---------------------------
start_worker 5 --labels pool=g --set worker.drain_timeout=30s
wait_for 10 "w5 alive" worker_alive w5
H="sleep 1\.${U}4([^0-9]|$)"
ru=$(trigger unheard) || fail "schedctl run unheard"
wait_for 5 "unheard running on w5" eval 'run_in $ru running && procs "$H"'
kill -STOP "$SCHEDD_PID"
kill -TERM "$W5_PID"
wait_for 5 "unheard's task ended" no_procs "$H"
t_end=$(date +%s.%N)
wait_for 15 "w5 exits by itself" dead "$W5_PID"
took=$(elapsed "$t_end")
kill -CONT "$SCHEDD_PID"
# kill_grace is 2s: w5 waits 7 s for the acknowledgement.
within "$took" 6.0 9.0 || fail "w5 exited ${took}s after its task ended; it waits kill_grace + 5s"
grep -q "not leaving the cluster" "$T/w5.log" || fail "w5 does not say it did not leave"
grep -q "left the cluster" "$T/w5.log" && fail "w5 left the cluster with an unacknowledged end"
python3 - "$T/w5.db" "$ru" <<'PY' || fail "w5's database does not keep the unreported end"
import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute(
    "SELECT phase, end_state FROM wruns WHERE run_id = ?", (int(sys.argv[2]),)).fetchone()
sys.exit(0 if row == ("ended", "succeeded") else f"run {sys.argv[2]} in w5.db: {row}")
PY
pass "scheduler stopped: w5 exited ${took}s after its task, without leaving; the end (succeeded) waits in its database"
