#!/bin/bash
# A worker only runs what is meant for it, and cleans up after itself:
#  (a) a DISPATCH retransmitted to an address that now belongs to another
#      worker is dropped there (it names its worker); the dead worker is
#      fenced (no hook), and when it restarts on its own database (HELLO
#      names the fenced life as its previous one) the fence is called off
#      without an operator and the run goes ahead there, exactly once;
#  (b) per-run log files older than worker.log_retention are deleted.
. "$(dirname "$0")/lib.sh"

NODE_TIMEOUT=4s write_config
cat >"$T/tasks/t.conf" <<CONF
[task once]
command = echo "ran on \$SCHED_NODE" >> $T/ran
schedule = 0 0 1 1 *
retries = 1
retry_backoff = 1s
CONF

# (b) an old and a fresh log file, before the worker starts.
mkdir -p "$T/logs/old-task"
echo old >"$T/logs/old-task/1.log"
touch -d '3 days ago' "$T/logs/old-task/1.log"
echo fresh >"$T/logs/old-task/2.log"

start_schedd
start_worker 1 --set worker.log_retention=1d
wait_for 10 "w1 alive" workers_alive 1
wait_for 10 "the 3-day-old log is deleted" test ! -e "$T/logs/old-task/1.log"
[ -e "$T/logs/old-task/2.log" ] || fail "a fresh log file was deleted"
pass "log retention: the old log is gone, the fresh one stays"

# (a) w1 stops answering; a run is dispatched to it (still counted alive).
kill -STOP "$W1_PID"
run_id=$(ctl --json run once | json 'j["run_id"]') || fail "run once"
wait_for 5 "run $run_id dispatched to w1" sh -c \
	"$BIN/schedctl -c $T/cluster.conf --json status | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if any(r[\"run_id\"]==$run_id and r[\"node\"]==\"w1\" for r in j[\"runs\"]) else 1)'"
kill -KILL "$W1_PID"
# Another worker takes w1's address; the dispatch retransmissions reach it.
"$BIN/workerd" -c "$T/cluster.conf" --name intruder --listen "127.0.0.1:$((BASE_PORT + 1))" \
	--db "$T/intruder.db" --log-level debug >>"$T/intruder.log" 2>&1 &
INTRUDER=$!
PIDS="$PIDS $INTRUDER"
disown $INTRUDER
wait_for 15 "the intruder drops the dispatch meant for w1" \
	grep -q "is for worker 'w1', not us; dropped" "$T/intruder.log"
sleep 1
[ -e "$T/ran" ] && fail "the run executed on the wrong worker: $(cat "$T/ran")"
pass "a dispatch for w1 arriving at another worker is dropped there"
kill -TERM "$INTRUDER"
wait_for 10 "intruder stopped" sh -c "! kill -0 $INTRUDER 2>/dev/null"

# w1 was fenced while down (no hook: the request stays open).
wait_for 10 "run $run_id fencing" run_in "$run_id" fencing
# w1 comes back on its own database: the fence is called off by itself.
start_worker 1
wait_for 20 "run $run_id ran on w1" grep -q "ran on w1" "$T/ran"
wait_for 10 "run $run_id succeeded" sh -c \
	"$BIN/schedctl -c $T/cluster.conf --json history once | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j[0][\"run_id\"]==$run_id and j[0][\"state\"]==\"succeeded\" and j[0][\"node\"]==\"w1\" else 1)'"
sleep 1
[ "$(wc -l <"$T/ran")" -eq 1 ] || fail "ran more than once: $(cat "$T/ran")"
ctl --json fence list >"$T/fl.json"
jtrue "$T/fl.json" "j['fences'][0]['state']=='cancelled' and 'own database' in j['fences'][0]['note']" "the fence was called off for the restart"
want 1 "$BIN/workerd" -c "$T/cluster.conf" --name w1 --listen "127.0.0.1:$((BASE_PORT + 7))" \
	--db "$T/w1.db"
grep -q "in use by another workerd" "$T/err" || fail "second workerd on one database: $(cat "$T/err")"
pass "run $run_id: fence called off when w1 restarted on its own database; ran once, on w1; a second workerd on that database is refused"
