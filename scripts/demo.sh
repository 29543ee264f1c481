#!/bin/bash
# demo.sh - a local cluster on loopback: one schedd and three workerd with
# the schedule files of examples/tasks (an hourly task and a report that
# waits for it, a task every 5 seconds, a long task that shows overlap
# protection, and one that resumes from its checkpoint).  Everything
# lives under var/demo; Ctrl-C stops every process cleanly: the workers
# drain first (running tasks finish, at most drain_timeout = 10s in
# examples/cluster.conf), leave the cluster, then the scheduler stops.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
make -j2 all >/dev/null
D=var/demo
CONF=examples/cluster.conf
mkdir -p "$D/logs"
[ -f "$D/sched.keys" ] || bin/schedctl -c "$CONF" keygen
pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping the demo cluster: workers drain (running tasks finish, up to 10 s)..."
	# Workers first, while the scheduler can still acknowledge their
	# reports; then the scheduler.
	for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
	kill -TERM "${pids[0]}" 2>/dev/null || true
	wait 2>/dev/null || true
	echo "stopped; history stays in $D/schedd.db (run the demo again to continue)"
	exit 0 # a signal handled here ends the demo, not just the current command
}
trap stop INT TERM EXIT

# setsid: Ctrl-C reaches this script only, which stops the daemons in order.
setsid bin/schedd -c "$CONF" >>"$D/schedd.log" 2>&1 &
pids+=($!)
for n in 1 2 3; do
	setsid bin/workerd -c "$CONF" --name "w$n" --listen "127.0.0.1:771$n" --db "$D/w$n.db" \
		--labels "zone=z$n" >>"$D/w$n.log" 2>&1 &
	pids+=($!)
done
for _ in $(seq 50); do
	bin/schedctl -c "$CONF" status >/dev/null 2>&1 && break
	sleep 0.1
done
if ! bin/schedctl -c "$CONF" status >/dev/null 2>&1; then
	echo "schedd did not start; its log says:" >&2
	tail -n 20 "$D/schedd.log" >&2
	exit 1
fi
cat <<MSG
sched demo: schedd on 127.0.0.1:7700, workers w1 w2 w3 (logs in $D/).
Try, in another terminal:
  bin/schedctl -c $CONF status                  # workers and running runs
  bin/schedctl -c $CONF tasks                   # tasks, next and last run
  bin/schedctl -c $CONF history long-report     # 'skipped' rows: overlap protection
  bin/schedctl -c $CONF run hourly-etl          # run the hourly task now
  bin/schedctl -c $CONF logs RUN_ID             # output of a run
  tail -f $D/schedd.log
Ctrl-C stops everything.
MSG
while sleep 10; do
	echo "---- $(date -u +%H:%M:%S) ----"
	bin/schedctl -c "$CONF" tasks || true
done
