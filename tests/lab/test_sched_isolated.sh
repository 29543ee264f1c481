#!/bin/bash
# test_sched_isolated.sh - regression test (found by `make chaos SEED=1`):
# the scheduler is cut off from every worker for longer than a lease, then
# healed.  Workers see each other, so they keep their runs (rule 6).  At
# the heal the scheduler's stale death claims reach the workers (they must
# not read them as their own isolation and kill), and the scheduler may
# declare a worker dead and answer HOLD before the worker's refutation
# arrives (the worker must give it the moment to call that off).  Asserts:
# the run on w1 is never killed, nothing was fenced for good, it succeeds.
# Needs root and nftables; exit 77 when it cannot run here.
set -u
. "$(dirname "$0")/labtest.sh"
fail_w1() { fail "$1" schedd.log w1.log; }

LAB_LEASE=3s lab_up 4 >/dev/null || fail_w1 "lab_up"
mkdir -p "$LAB_DIR/tasks"
cat >"$LAB_DIR/tasks/t.conf" <<CONF
[task long]
command = sleep 18
schedule = @yearly
labels = host=w1
CONF
LAB_LEASE=3s lab_config >/dev/null || fail_w1 "lab_config"
lab_start_schedd >/dev/null || fail_w1 "schedd"
lab_start_worker 1 --labels host=w1 >/dev/null || fail_w1 "w1"
lab_start_worker 2 >/dev/null || fail_w1 "w2"
lab_start_worker 3 >/dev/null || fail_w1 "w3"
for w in w1 w2 w3; do lab_wait 20 "$w alive" lab_member_is "$w" alive >/dev/null || fail_w1 "$w not alive"; done
rid=$(lab_ctl --json run long | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])') || fail_w1 "run long"
state() { lab_ctl --json logs "$rid" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
is_state() { [ "$(state)" = "$1" ]; }
lab_wait 10 "long running" is_state running >/dev/null || fail_w1 "run $rid is $(state)"
echo "ok: run $rid running on w1 (lease 3s)"

lab_isolate 0 >/dev/null
sleep 7
lab_heal >/dev/null
ended() { case "$(state)" in succeeded | failed | timed_out | cancelled | lost) return 0 ;; esac; return 1; }
lab_wait 30 "run $rid ended" ended >/dev/null 2>&1
[ "$(state)" = succeeded ] || fail_w1 "run $rid ended $(state): $(lab_ctl --json logs "$rid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["error"])')"
echo "ok: scheduler isolated 7 s (> lease) and healed: run $rid kept running and succeeded"
