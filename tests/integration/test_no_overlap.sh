#!/bin/bash
# The safety invariant with real processes: schedd and three workers; a
# task due every second whose command takes longer than a second and
# holds `flock -n` on a per-task file, recording a violation if the lock
# is already held.  For at least 20 seconds a worker is SIGKILLed (and
# later restarted) and the scheduler is SIGKILLed and restarted.
# Asserts zero violations, no two recorded intervals overlapping, and
# that in the end every run row is terminal (or skipped).
. "$(dirname "$0")/lib.sh"

write_config
cat >"$T/tasks/t.conf" <<CONF
[task guarded]
command = flock -n -E 99 $T/guarded.lock sh -c 'echo "start \$SCHED_RUN_ID \$SCHED_FENCE_TOKEN \$(date +%s.%N)" >> $T/intervals; sleep 1.5; echo "end \$SCHED_RUN_ID \$(date +%s.%N)" >> $T/intervals'; rc=\$?; [ \$rc -eq 99 ] && echo "violation \$SCHED_RUN_ID" >> $T/violations; exit \$rc
schedule = every 1s
overlap = skip
catch_up = latest
CONF

start_schedd
for n in 1 2 3; do start_worker $n; done
wait_for 10 "three workers alive" workers_alive 3

sleep 5
# Kill the worker that is running the task right now (if any), else w1.
victim=$(ctl --json status | json '[r["node"] for r in j["runs"] if r["state"]=="running"] or ["w1"]' | tr -d "[]'" | cut -d, -f1)
eval "vpid=\$W${victim#w}_PID"
kill -KILL "$vpid"
pass "SIGKILLed worker $victim"
sleep 4
kill -KILL "$SCHEDD_PID"
pass "SIGKILLed schedd"
sleep 1
start_schedd
pass "restarted schedd"
sleep 3
start_worker "${victim#w}"
pass "restarted worker $victim"
sleep 8
kill -KILL "$SCHEDD_PID"
sleep 0.5
start_schedd
pass "SIGKILLed and restarted schedd again"
sleep 4

# Stop scheduling and let everything finish.
ctl pause guarded >/dev/null || fail "pause"
wait_for 20 "every run of guarded finished" \
	sh -c "$BIN/schedctl -c $T/cluster.conf --json history guarded --limit 1000 | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if all(r[\"state\"] in (\"succeeded\",\"failed\",\"timed_out\",\"cancelled\",\"skipped\",\"lost\") for r in j) else 1)'"

[ -s "$T/violations" ] && fail "overlap detected by flock: $(cat "$T/violations")"
pass "flock saw no second copy"

ctl --json history guarded --limit 1000 >"$T/history.json"
python3 - "$T/intervals" "$T/history.json" <<'PY' || fail "interval check"
import json, sys
starts, ends = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "start": starts[f[1]] = (float(f[3]), int(f[2]))
    elif f[0] == "end": ends[f[1]] = float(f[2])
hist = {str(r["run_id"]): r for r in json.load(open(sys.argv[2]))}
iv = sorted((s, ends.get(r, float("inf")), r, tok) for r, (s, tok) in starts.items())
for a, b in zip(iv, iv[1:]):
    if b[0] < a[1]:
        sys.exit(f"runs {a[2]} and {b[2]} overlap: {a} {b}")
toks = [t for _, _, _, t in iv]
if toks != sorted(toks) or len(set(toks)) != len(toks):
    sys.exit(f"tokens not strictly increasing in start order: {toks}")
for r in starts:
    if r not in hist:
        sys.exit(f"executed run {r} has no history row")
ran = sum(1 for r in hist.values() if r["state"] == "succeeded")
if ran < 5:
    sys.exit(f"only {ran} successful runs in ~25 s")
print(f"ok: {len(starts)} executions, {ran} succeeded, {sum(1 for r in hist.values() if r['state']=='skipped')} skipped, no overlap, tokens increasing")
PY
