#!/bin/bash
# Retries with real processes on loopback (docs/schedules.md "Retries"):
#  (a) another node: a task that fails its first attempt gets its retry on
#      the other worker (the task writes SCHED_ATTEMPT and SCHED_NODE);
#      three rounds, each attempt 1 then attempt 2 elsewhere;
#  (b) backoff grows: retries = 3, retry_backoff = 1s, retry_backoff_max =
#      3s; the waits recorded on the runs (not_before_ms - created_ms, not
#      wall-clock timing) are in [0.5, 1), [1, 2) and [1.5, 3) s, and every
#      attempt runs on another node than the one before;
#  (c) same overlap rule: while a retry waits for its backoff, `schedctl
#      run` of the task is refused (overlap = skip) and nothing is created;
#  (d) a restart keeps "another node first": w2 (two slots) holds a long
#      run, so the least loaded node is w1 and the first attempt fails
#      there; schedd is stopped while the retry waits and the new schedd
#      still sends the retry to w2, though w1 is less loaded;
#  (e) the schedule meets the same rule: a task firing every 2s whose
#      retry waits 10-20s gets skipped fire times ("already waiting"
#      behind the retry), never a second pending run.
#
# In (a) and (b) both workers are idle when a retry is dispatched, so
# without the avoid rule it would go where the failed attempt went (the
# first idle worker in the scheduler's list).
. "$(dirname "$0")/lib.sh"

unique_sleeps

SLOTS=1 write_config
NEVER='0 0 1 1 *'
cat >"$T/tasks/retries.conf" <<CONF
[task flaky]
command = echo "\$SCHED_ATTEMPT \$SCHED_NODE" >> $T/flaky.out; [ "\$SCHED_ATTEMPT" -ge 2 ]
schedule = $NEVER
retries = 1
retry_backoff = 1s

[task growing]
command = echo "\$SCHED_ATTEMPT \$SCHED_NODE" >> $T/growing.out; exit 1
schedule = $NEVER
retries = 3
retry_backoff = 1s
retry_backoff_max = 3s

[task patient]
command = echo "\$SCHED_ATTEMPT \$SCHED_NODE" >> $T/patient.out; [ "\$SCHED_ATTEMPT" -ge 2 ]
schedule = $NEVER
retries = 1
retry_backoff = 30s

[task restart]
command = echo "\$SCHED_ATTEMPT \$SCHED_NODE" >> $T/restart.out; [ "\$SCHED_ATTEMPT" -ge 2 ]
schedule = $NEVER
retries = 1
retry_backoff = 12s

[task hog]
command = sleep 120.${U}1
schedule = $NEVER
labels = big=1
CONF

start_schedd
start_worker 1
start_worker 2 --slots 2 --labels big=1
wait_for 20 "two workers alive" workers_alive 2

lines() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
idle() { [ "$(ctl --json tasks | json 'sum(1 for t in j if t["active_run_id"])')" = 0 ]; }

# (a)
for round in 1 2 3; do
	wait_for 20 "workers idle" idle
	trigger flaky >/dev/null || fail "run flaky"
	wait_for 30 "flaky round $round: two attempts" lines "$T/flaky.out" $((round * 2))
done
wait_for 20 "flaky settled" idle
python3 - "$T/flaky.out" <<'PY' || fail "flaky: $(cat "$T/flaky.out")"
import sys
rows = [l.split() for l in open(sys.argv[1])]
assert len(rows) == 6, rows
for k in range(0, 6, 2):
    (a1, n1), (a2, n2) = rows[k], rows[k + 1]
    assert (a1, a2) == ("1", "2"), rows
    assert n1 != n2, f"retry on the node of the failed attempt: {rows}"
PY
ctl --json history flaky >"$T/h.json" || fail "history flaky"
jtrue "$T/h.json" 'sorted(r["attempt"] for r in j) == [1, 1, 1, 2, 2, 2] and all(r["state"] == ("failed" if r["attempt"] == 1 else "succeeded") for r in j)' "flaky history"
want 0 ctl history flaky
grep -Eq '^[0-9]+ +succeeded +retry +2 ' "$T/out" || fail "attempt column: $(cat "$T/out")"
pass "(a) a failed attempt's retry ran on the other node, three times; attempts 1 and 2 in SCHED_ATTEMPT and history"

# (b)
trigger growing >/dev/null || fail "run growing"
wait_for 60 "growing: four attempts" lines "$T/growing.out" 4
wait_for 20 "growing settled" idle
ctl --json history growing >"$T/h.json" || fail "history growing"
python3 - "$T/h.json" "$T/growing.out" <<'PY' || fail "growing: $(cat "$T/h.json")"
import json, sys
h = sorted(json.load(open(sys.argv[1])), key=lambda r: r["run_id"])
assert [r["attempt"] for r in h] == [1, 2, 3, 4], h
assert all(r["state"] == "failed" for r in h), h
assert h[0]["not_before_ms"] == 0 and h[1]["reason"] == "retry", h
waits = [r["not_before_ms"] - r["created_ms"] for r in h[1:]]
bounds = [(500, 1000), (1000, 2000), (1500, 3000)]
for w, (lo, hi) in zip(waits, bounds):
    assert lo <= w < hi, f"waits {waits} not within {bounds}"
assert waits[1] >= waits[0], waits
nodes = [l.split()[1] for l in open(sys.argv[2])]
assert all(a != b for a, b in zip(nodes, nodes[1:])), nodes
print(f"ok: growing waits {waits} ms, nodes {nodes}")
PY
pass "(b) backoff 1s doubling, capped at 3s, with jitter; each attempt on another node"

# (c)
trigger patient >/dev/null || fail "run patient"
wait_for 30 "patient: first attempt failed" lines "$T/patient.out" 1
retry_pending() { ctl --json history patient | json 'any(r["state"] == "pending" and r["attempt"] == 2 for r in j) or exit(1)'; }
wait_for 20 "patient: retry pending" retry_pending
ctl --json history patient >"$T/before.json"
want 1 ctl run patient
grep -q "already has an unfinished run" "$T/err" || fail "refusal text: $(cat "$T/err")"
ctl --json history patient >"$T/after.json"
cmp -s "$T/before.json" "$T/after.json" || fail "a refused run changed the history"
pid=$(ctl --json history patient | json '[r["run_id"] for r in j if r["state"] == "pending"][0]')
want 0 ctl cancel "$pid"
pass "(c) a manual run is refused while a retry waits for its backoff (same overlap rule)"

# (d)
trigger hog >/dev/null || fail "run hog"
wait_for 20 "hog running" procs "sleep 120.${U}1"
trigger restart >/dev/null || fail "run restart"
wait_for 30 "restart: first attempt failed" lines "$T/restart.out" 1
rpending() { ctl --json history restart | json 'any(r["state"] == "pending" for r in j) or exit(1)'; }
wait_for 20 "restart: retry pending" rpending
kill -TERM "$SCHEDD_PID"
wait_for 10 "schedd exited" sh -c "! kill -0 $SCHEDD_PID 2>/dev/null"
start_schedd
wait_for 20 "two workers back" workers_alive 2
wait_for 40 "restart: second attempt" lines "$T/restart.out" 2
python3 - "$T/restart.out" <<'PY' || fail "restart: $(cat "$T/restart.out")"
import sys
rows = [l.split() for l in open(sys.argv[1])]
assert [r[0] for r in rows] == ["1", "2"], rows
assert rows[0][1] == "w1", f"the least loaded node was w1, not {rows[0][1]}"
assert rows[1][1] == "w2", f"after the restart the retry went back to {rows[1][1]}"
PY
ctl cancel "$(ctl --json tasks | json '[t["active_run_id"] for t in j if t["name"] == "hog"][0]')" >/dev/null
pass "(d) after a schedd restart the pending retry still went to the other node"

# (e)
cat >"$T/tasks/every.conf" <<CONF
[task every]
command = exit 1
schedule = every 2s
retries = 1
retry_backoff = 20s
CONF
want 0 ctl reload
skipped_behind_retry() {
	ctl --json history every --limit 50 >"$T/e.json" || return 1
	python3 - "$T/e.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
retry = [r for r in h if r["reason"] == "retry" and r["state"] == "pending"]
skips = [r for r in h if r["reason"] == "schedule" and r["state"] == "skipped"
         and retry and f"run {retry[0]['run_id']} " in (r["error"] or "")]
sys.exit(0 if len(skips) >= 2 else 1)
PY
}
wait_for 40 "fire times skipped behind the waiting retry" skipped_behind_retry
want 0 ctl pause every
jtrue "$T/e.json" 'sum(1 for r in j if r["state"] == "pending") == 1 and sum(1 for r in j if r["state"] in ("dispatched", "running")) <= 1' "one pending run at most"
pass "(e) scheduled fire times are skipped while a retry waits (same overlap rule)"
