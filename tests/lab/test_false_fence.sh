#!/bin/bash
# test_false_fence.sh - regression test (found with the lab): a member cut
# off from everyone declares the others dead; when it heals it spreads
# those claims, and the scheduler must not fence a worker it still hears.
# Four hosts (schedd on h0, w1..w3); w1 runs a long task; w2 is isolated
# for 8 s, then healed.  The storm guard is narrowed (1 s window) so that
# it cannot hide the mistake.  Asserts: no fence request for w1, the lab's
# hook never ran, w1's run is still running on w1, its task process alive.
# Needs root and nftables; exit 77 when it cannot run here.
set -u
. "$(dirname "$0")/labtest.sh"

lab_up 4 >/dev/null || fail "lab_up"
mkdir -p "$LAB_DIR/tasks"
cat >"$LAB_DIR/tasks/t.conf" <<CONF
[task long]
command = sleep 300
schedule = @yearly
labels = host=w1
CONF
lab_config >/dev/null || fail "lab_config"
lab_start_schedd --set scheduler.fence_storm_window=1s >/dev/null || fail "schedd"
lab_start_worker 1 --labels host=w1 >/dev/null || fail "w1"
lab_start_worker 2 >/dev/null || fail "w2"
lab_start_worker 3 >/dev/null || fail "w3"
for w in w1 w2 w3; do lab_wait 20 "$w alive" lab_member_is "$w" alive >/dev/null || fail "$w not alive"; done
rid=$(lab_ctl --json run long | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])') || fail "run long"
state() { lab_ctl --json logs "$rid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
lab_wait 10 "long running" sh -c "[ \"\$(lab_ctl --json logs $rid 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = running ]" >/dev/null 2>&1 ||
	[ "$(state)" = running ] || fail "run $rid is $(state)"
echo "ok: run $rid running on w1"

lab_isolate 2 >/dev/null
sleep 8
lab_heal >/dev/null
sleep 6
fences=$(lab_ctl --json fence list | python3 -c 'import json,sys; print(sum(1 for f in json.load(sys.stdin)["fences"] if f["node"] == "w1"))')
[ "$fences" = 0 ] || fail "w1 was fenced after w2 healed: $(lab_ctl fence list)"
if [ -s "$LAB_DIR/fence.log" ] && grep -q "w1" "$LAB_DIR/fence.log"; then
	fail "the hook ran for w1: $(cat "$LAB_DIR/fence.log")"
fi
[ "$(state)" = running ] || fail "run $rid is $(state) after the heal"
echo "ok: w2 isolated 8 s and healed: w1 not fenced, run $rid still running"
