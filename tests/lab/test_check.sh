#!/bin/bash
# test_check.sh - the lab checker end to end, with real processes on loopback
# (no root, no namespaces): schedd and two workers run a task every second
# whose command is sched-interval around `sleep 0.5`.  Midway, the worker
# running it is SIGKILLed (the fence hook, fence-local-worker, confirms it
# dead: the run is lost and its retry runs on the other worker; the worker
# is restarted) and one sched-interval is SIGKILLed alone (no END record:
# the checker must bound it by the next START).
# Then the task is quiesced (pause, wait, cancel what waits), the history
# collected with `check.py collect`, and:
#   - check.py passes on what really happened;
#   - it fails (a) when an execution by hand with its own lock directory
#     overlapped the scheduled ones (an overlap the lock could not see);
#   - it fails (a) on the VIOLATION records left when a by-hand execution
#     holds the task's lock while the scheduler starts runs.
#
#   BIN=bin LAB=build/lab bash tests/lab/test_check.sh     (make lab-check)
. "$(dirname "$0")/../integration/lib.sh"
: "${LAB:?LAB must point at the built lab helpers (build/lab)}"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHECK=("python3" "$HERE/check.py")
SI=$LAB/sched-interval
[ -x "$SI" ] || fail "$SI is not built (make lab)"

LEASE=5s HEARTBEAT=500ms write_config
mkdir -p "$T/locks" "$T/otherlocks"
cat >"$T/tasks/lab.conf" <<CONF
[task tick]
command = $SI $T/iv.\$SCHED_NODE.log $T/locks -- sleep 0.5
schedule = every 1s
retries = 1
retry_backoff = 1s
CONF

# ---- helpers -------------------------------------------------------------

logs() { ls "$T"/iv.*.log 2>/dev/null; }
starts() { cat "$T"/iv.*.log 2>/dev/null | grep -c '^START'; }
# at_least N: N executions started so far
at_least() { [ "$(starts)" -ge "$1" ]; }
# runs TASK PYEXPR: run ids of TASK's history rows r for which PYEXPR holds
# (fails when schedctl does, so that a wait never mistakes an error for "none")
runs() {
	local h
	h=$(ctl --json history "$1" --limit 100000) || return 1
	printf '%s' "$h" | json "' '.join(str(r['run_id']) for r in j if $2)"
}
none_in() { # TASK STATES...: no run of TASK in any of STATES
	local task=$1 ids
	shift
	ids=$(runs "$task" "r['state'] in '$*'.split()") || return 1
	[ -z "$ids" ]
}
no_active() { none_in "$1" dispatched running fencing; }
all_terminal() { none_in "$1" pending dispatched running fencing; }
# an execution in flight: "PID RUN NODE" of a START without END whose process lives
in_flight() {
	python3 - "$T" <<'PY'
import glob, os, sys
sys.path.insert(0, os.environ["HERE"])
import check
ivs, _, _ = check.read_intervals(sorted(glob.glob(sys.argv[1] + "/iv.*.log")))
for iv in ivs:
    if iv.end is None and os.path.exists(f"/proc/{iv.f['pid']}"):
        print(iv.f["pid"], iv.f["run"], iv.f["node"])
        break
PY
}
export HERE

# quiesce TASK: no new runs, the active one ends, a waiting one is cancelled
quiesce() {
	ctl pause "$1" >/dev/null || fail "pause $1"
	wait_for 30 "no active run of $1" no_active "$1"
	for id in $(runs "$1" "r['state'] == 'pending'"); do ctl cancel "$id" >/dev/null; done
	wait_for 10 "every run of $1 terminal" all_terminal "$1"
}
collect() {
	"${CHECK[@]}" collect --schedctl "$BIN/schedctl -c $T/cluster.conf" \
		--events-db "$T/schedd.db" --out "$T/history.json" >/dev/null ||
		fail "check.py collect"
}
# by_hand LOG LOCKDIR SECONDS: the task's command run by hand, in the background
by_hand() {
	SCHED_TASK=tick SCHED_RUN_ID=999999 SCHED_FENCE_TOKEN=999999 SCHED_ATTEMPT=1 \
		SCHED_NODE=by-hand "$SI" "$1" "$2" -- sleep "$3" &
	HAND_PID=$!
}

# ---- a short cluster run with a worker and a task killed -------------------

export SCHED_FENCE_CLUSTER="$T/" SCHED_FENCE_TIMEOUT=5
start_schedd --fence-hook "$ROOT/fence/fence-local-worker"
start_worker 1
start_worker 2
wait_for 10 "two workers alive" workers_alive 2
wait_for 10 "three executions" at_least 3
pass "cluster runs tick every second"

# An execution by hand under another lock directory: overlaps scheduled ones
# without either seeing a lock (kept out of the logs checked for PASS).
by_hand "$T/byhand-nolock.log" "$T/otherlocks" 1.5
wait "$HAND_PID" || fail "by-hand execution (own lock) exited $?"

# SIGKILL the worker of an execution in flight: the run is fenced, lost,
# and retried elsewhere; then the worker comes back.  (If the run ended
# before the kill took, it is not lost: try again.)
lost=""
for _ in 1 2 3; do
	wait_for 5 "an execution in flight" eval '[ -n "$(in_flight)" ]'
	read -r _ vrun victim < <(in_flight)
	[ -n "${vrun:-}" ] || continue # it ended meanwhile
	eval "vpid=\$W${victim#w}_PID"
	kill -KILL "$vpid"
	wait_for 15 "run $vrun of the killed worker ended" eval \
		'[ -n "$(runs tick "r[\"run_id\"] == $vrun and r[\"state\"] in (\"succeeded\", \"lost\")")" ]'
	start_worker "${victim#w}"
	wait_for 10 "two workers alive again" workers_alive 2
	if [ -n "$(runs tick "r['run_id'] == $vrun and r['state'] == 'lost'")" ]; then
		lost=$vrun
		break
	fi
done
[ -n "$lost" ] || fail "no run was lost by SIGKILLing its worker (3 tries)"
before=$(starts)
wait_for 10 "two executions after the restart" at_least $((before + 2))
pass "worker $victim SIGKILLed, fenced and restarted; run $lost lost"

# SIGKILL one sched-interval alone: its sleep finishes, no END is written.
killed=""
for _ in 1 2 3 4 5; do
	wait_for 5 "an execution in flight" eval '[ -n "$(in_flight)" ]'
	read -r kpid krun _ < <(in_flight)
	[ -n "${kpid:-}" ] || continue
	kill -KILL "$kpid" 2>/dev/null
	wait_for 5 "sched-interval $kpid gone" eval '! kill -0 $kpid 2>/dev/null'
	if ! grep -q "^END .* pid=$kpid " $(logs); then killed=$krun; break; fi
done
[ -n "$killed" ] || fail "could not SIGKILL a sched-interval before its END (5 tries)"
before=$(starts)
wait_for 10 "two executions after the kill" at_least $((before + 2))
pass "sched-interval of run $killed SIGKILLed: no END record"

quiesce tick
collect

# ---- the checker on what happened: PASS --------------------------------------

# shellcheck disable=SC2046
want 0 "${CHECK[@]}" --history "$T/history.json" --intervals $(logs) --lockdir "$T/locks" \
	--report "$T/report.json"
cp "$T/out" "$T/check.out"
for p in records '(a)' '(b)' '(c)' '(d)'; do
	grep -q "^PASS $p " "$T/check.out" || fail "property $p did not pass: $(cat "$T/check.out")"
done
grep -q "^RESULT: PASS" "$T/check.out" || fail "no RESULT: PASS line"
jtrue "$T/report.json" 'j["summary"]["executions"] >= 8 and j["summary"]["violations"] == 0' \
	"enough executions, no violation"
jtrue "$T/report.json" "any(i['run'] == '$killed' and i['bound_kind'] == 'next START' for i in j['intervals'])" \
	"the killed execution is bounded by the next START"
jtrue "$T/report.json" "j['summary']['lost_runs_retried'] >= 1 and j['summary']['runs_by_state'].get('failed', 0) >= 1 and j['summary']['retries'] >= 2" \
	"the lost run and the killed execution were retried"
jtrue "$T/history.json" "any(e['kind'] == 'task_added' for e in j['events'])" "events collected"
pass "check.py: PASS ($(grep '^summary' "$T/check.out"))"

# ---- broken: an overlap that no lock saw ----------------------------------

# shellcheck disable=SC2046
want 1 "${CHECK[@]}" --history "$T/history.json" --intervals $(logs) "$T/byhand-nolock.log"
grep -q "^FAIL (a) " "$T/out" || fail "an overlap did not fail (a): $(cat "$T/out")"
grep -q "overlap: " "$T/out" || fail "the overlap is not named: $(cat "$T/out")"
grep -q "locked different files" "$T/out" || fail "the foreign lock is not named: $(cat "$T/out")"
grep -q "no run row for the execution run 999999" "$T/out" || fail "(c) missed the by-hand run"
pass "check.py: FAIL on an overlap by hand under another lock"

# ---- broken: the command run by hand while the scheduler runs the task ----

ctl resume tick >/dev/null || fail "resume"
by_hand "$T/byhand.log" "$T/locks" 2.5
wait_for 10 "a VIOLATION record" eval 'grep -q "^VIOLATION" $(logs) "$T/byhand.log" 2>/dev/null'
wait "$HAND_PID"
quiesce tick
collect
# shellcheck disable=SC2046
want 1 "${CHECK[@]}" --history "$T/history.json" --intervals $(logs) "$T/byhand.log"
grep -q "^FAIL (a) " "$T/out" || fail "a violation did not fail (a): $(cat "$T/out")"
grep -q "VIOLATION at " "$T/out" || fail "the violation is not reported: $(cat "$T/out")"
pass "check.py: FAIL on a by-hand run concurrent with the scheduled ones"
