#!/bin/bash
# bench/dispatch.sh [N] - what a run costs end to end, against a baseline
# measured in the same run.
#
#   sched:    `schedctl run TASK` -> scheduler commits the run, dispatches
#             it, the worker commits and fork/execs the task; measured from
#             just before schedctl starts to the first line of the task.
#   baseline: the same command started locally with `sh -c` (the bare cost
#             of a process start), measured the same way.
#
# Prints p50/p99 of both and their ratio.  Real processes on loopback; it
# bounds its own time and cleans up.  Numbers, not assertions: machines
# are shared and noisy.
set -u
N=${1:-40}
BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
D=$(mktemp -d /tmp/sched-bench.XXXXXX)
PORT=$((30000 + $$ % 2000 * 10))
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ "${KEEP:-0}" = 1 ] && echo "kept $D" >&2 || rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ -x "$BIN/schedd" ] || { echo "build first: make" >&2; exit 1; }

mkdir -p "$D/tasks"
cat >"$D/c.conf" <<CONF
[cluster]
key_file = $D/keys
scheduler = 127.0.0.1:$PORT
[scheduler]
db = $D/s.db
tasks_dir = $D/tasks
heartbeat = 500ms
[worker]
log_dir = $D/logs
slots = 4
CONF
cat >"$D/tasks/b.conf" <<CONF
[task probe]
command = date +%s%N >> $D/starts
schedule = 0 0 1 1 *
overlap = queue
CONF
"$BIN/schedctl" keygen --out "$D/keys" >/dev/null
"$BIN/schedd" -c "$D/c.conf" --set scheduler.log_level=warn 2>>"$D/log" &
pids+=($!)
for n in 1 2; do
	"$BIN/workerd" -c "$D/c.conf" --name "b$n" --listen "127.0.0.1:$((PORT + n))" \
		--db "$D/w$n.db" --set worker.log_level=warn 2>>"$D/log" &
	pids+=($!)
done
ready=0
for _ in $(seq 100); do
	if [ "$("$BIN/schedctl" -c "$D/c.conf" --json status 2>/dev/null | grep -c '"state": "alive"')" -ge 2 ]; then
		ready=1
		break
	fi
	sleep 0.1
done
[ $ready = 1 ] || { echo "cluster did not come up" >&2; cat "$D/log" >&2; exit 1; }

deadline=$(($(date +%s) + 120))
: >"$D/sched.txt"
: >"$D/starts"
for i in $(seq "$N"); do
	[ "$(date +%s)" -lt "$deadline" ] || break
	before=$(wc -l <"$D/starts" 2>/dev/null || echo 0)
	t0=$(date +%s%N)
	"$BIN/schedctl" -c "$D/c.conf" run probe >/dev/null || continue
	while [ "$(wc -l <"$D/starts" 2>/dev/null || echo 0)" -le "$before" ]; do sleep 0.002; done
	t1=$(tail -n 1 "$D/starts")
	echo $(((t1 - t0) / 1000)) >>"$D/sched.txt"
	# let the run end before the next one (overlap = queue would wait anyway)
	sleep 0.05
done
: >"$D/base.txt"
for i in $(seq "$N"); do
	t0=$(date +%s%N)
	t1=$(sh -c 'date +%s%N')
	echo $(((t1 - t0) / 1000)) >>"$D/base.txt"
done
python3 - "$D/sched.txt" "$D/base.txt" <<'PY'
import sys
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
s = [int(x) for x in open(sys.argv[1])]
b = [int(x) for x in open(sys.argv[2])]
if not s:
    sys.exit("no sched samples")
print(f"runs measured: sched {len(s)}, baseline {len(b)}")
print(f"sched (schedctl run -> task starts on a worker): p50 {pct(s,50)/1000:.1f} ms  p99 {pct(s,99)/1000:.1f} ms")
print(f"baseline (local sh -c start):                   p50 {pct(b,50)/1000:.1f} ms  p99 {pct(b,99)/1000:.1f} ms")
print(f"ratio sched/baseline: p50 {pct(s,50)/pct(b,50):.1f}x  p99 {pct(s,99)/pct(b,99):.1f}x")
PY
