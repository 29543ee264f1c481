#!/bin/bash
# `after` and `priority` with real processes on loopback (scheduler/sched_deps.c).
# Every task fires `every 30s`, so all of them fall due at the same instants;
# the test follows the first cycle they share (scheduled_for = C).
#  (a) a chain fa -> fb -> fc with a failure in the middle: fa succeeds, fb
#      fails (no retries), fc is skipped with "dependency fb failed (run N)"
#      and its command never runs;
#  (b) a happy chain ha -> hb -> hc on a worker with free slots runs in
#      order: each starts after the one it depends on ended (timestamps
#      written by the tasks themselves);
#  (c) priority order with one slot: on a worker with slots = 1, p-high
#      (priority 5), p-low (1), p-root (0, two tasks wait behind it:
#      p-d1 after p-root, p-d2 after p-d1) and p-plain (0, nothing waits)
#      start in the order p-high, p-low, p-root, p-d1, then p-plain after
#      p-d1 (the chain below p-d1 is longer than p-plain's);
#  (d) `schedctl tasks` says why a pending run has not started: a free slot,
#      a dependency, labels nobody carries, paused;
#  (e) waiting survives a restart of schedd: rb after ra, ra still running
#      (it waits for a flag file) while schedd restarts; rb still waits for
#      it afterwards and starts only after ra ended;
#  (f) a trigger joins a dependent's waiting run: tb after ta, ta running
#      (it waits for a flag file, then fails); `schedctl trigger tb` joins
#      tb's run of the cycle, which then runs at once and is not skipped
#      when ta fails (the acknowledged trigger is answered).
#
# Workers: w1 (role=chain, 5 slots) for a, b, e, f; w2 (pool=one, 1 slot) for c.
. "$(dirname "$0")/lib.sh"

write_config
EVERY='every 30s'
cat >"$T/tasks/deps.conf" <<CONF
[task fa]
command = echo "\$SCHED_SCHEDULED_FOR" >> $T/fa.ran
schedule = $EVERY
labels = role=chain

[task fb]
command = echo "\$SCHED_SCHEDULED_FOR" >> $T/fb.ran; exit 1
schedule = $EVERY
after = fa
labels = role=chain

[task fc]
command = echo "\$SCHED_SCHEDULED_FOR" >> $T/fc.ran
schedule = $EVERY
after = fb
labels = role=chain

[task ha]
command = echo "\$SCHED_SCHEDULED_FOR ha start \$(date +%s.%N)" >> $T/chain.log; sleep 1; echo "\$SCHED_SCHEDULED_FOR ha end \$(date +%s.%N)" >> $T/chain.log
schedule = $EVERY
labels = role=chain

[task hb]
command = echo "\$SCHED_SCHEDULED_FOR hb start \$(date +%s.%N)" >> $T/chain.log; sleep 1; echo "\$SCHED_SCHEDULED_FOR hb end \$(date +%s.%N)" >> $T/chain.log
schedule = $EVERY
after = ha
labels = role=chain

[task hc]
command = echo "\$SCHED_SCHEDULED_FOR hc start \$(date +%s.%N)" >> $T/chain.log
schedule = $EVERY
after = hb
labels = role=chain
CONF
# One slot: each start is logged, then the task holds the slot a while.
for spec in p-high:5 p-low:1 p-root:0 p-plain:0; do
	name=${spec%%:*}
	cat >>"$T/tasks/deps.conf" <<CONF

[task $name]
command = echo "\$SCHED_SCHEDULED_FOR $name" >> $T/order.log; sleep 2.5
schedule = $EVERY
priority = ${spec#*:}
labels = pool=one
CONF
done
cat >>"$T/tasks/deps.conf" <<CONF

[task p-d1]
command = echo "\$SCHED_SCHEDULED_FOR p-d1" >> $T/order.log; sleep 2.5
schedule = $EVERY
after = p-root
labels = pool=one

[task p-d2]
command = echo "\$SCHED_SCHEDULED_FOR p-d2" >> $T/order.log; sleep 2.5
schedule = $EVERY
after = p-d1
labels = pool=one

[task ra]
command = for i in \$(seq 300); do [ -f $T/ra.go ] && break; sleep 0.2; done; echo "\$SCHED_SCHEDULED_FOR ra end \$(date +%s.%N)" >> $T/restart.log
schedule = $EVERY
labels = role=chain

[task rb]
command = echo "\$SCHED_SCHEDULED_FOR rb start \$(date +%s.%N)" >> $T/restart.log
schedule = $EVERY
after = ra
labels = role=chain

[task ta]
command = for i in \$(seq 300); do [ -f $T/ta.go ] && break; sleep 0.2; done; exit 1
schedule = $EVERY
labels = role=chain

[task tb]
command = echo "\$SCHED_SCHEDULED_FOR" >> $T/tb.ran
schedule = $EVERY
after = ta
labels = role=chain

[task nolabel]
command = true
schedule = 0 0 1 1 *
labels = zone=nowhere

[task held]
command = true
schedule = 0 0 1 1 *
labels = role=chain
CONF

start_schedd
start_worker 1 --labels role=chain --slots 5
start_worker 2 --labels pool=one --slots 1
wait_for 15 "two workers alive" workers_alive 2

# (d), the parts that need no cycle: labels nobody carries, paused.
want 0 ctl run nolabel
want 0 ctl pause held
want 0 ctl run held
tasks_say() { # TASK PYEXPR over w (its waiting text)
	ctl --json tasks | python3 -c '
import json, sys
t = [x for x in json.load(sys.stdin) if x["name"] == sys.argv[1]][0]
w = t["waiting"] or ""
sys.exit(0 if t["pending_run_id"] > 0 and eval(sys.argv[2]) else 1)' "$1" "$2"
}
wait_for 10 "nolabel waits for its labels" tasks_say nolabel '"no alive worker carries zone=nowhere" in w'
wait_for 10 "held waits: paused" tasks_say held 'w == "paused"'
ctl tasks >"$T/tasks.txt" || fail "schedctl tasks"
grep -q "WAITING" "$T/tasks.txt" || fail "no WAITING column: $(cat "$T/tasks.txt")"
grep -E "^held .*paused *$" "$T/tasks.txt" >/dev/null || fail "held: $(cat "$T/tasks.txt")"
pass "schedctl tasks: a pending run waits for labels nobody carries, or because its task is paused"

# The first shared cycle: C is fa's first scheduled_for (RFC 3339).
first_cycle() { ctl --json history fa | json 'j[-1]["scheduled_for"]'; }
wait_for 40 "the first cycle fires" first_cycle
C=$(first_cycle)

# (d) while others hold the only slot: p-plain waits for a slot, p-d1 for p-root.
wait_for 15 "p-plain waits for a free slot" tasks_say p-plain 'w == "waiting for a free slot"'
wait_for 15 "p-d1 waits for p-root" tasks_say p-d1 'w.startswith("waiting for p-root (run ")'
pass "schedctl tasks: a ready run waits for a free slot, a dependent run names its dependency"

# cycle_run TASK: that task's newest run of cycle C, as JSON, in $T/run.json.
cycle_run() {
	ctl --json history "$1" >"$T/hist.json" || return 1
	python3 - "$T/hist.json" "$C" >"$T/run.json" <<'PY'
import json, sys
runs = [r for r in json.load(open(sys.argv[1])) if r["scheduled_for"] == sys.argv[2]]
if not runs:
    sys.exit(1)
print(json.dumps(runs[0]))
PY
}
cycle_ended() { # TASK
	cycle_run "$1" && python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["state"] not in ("pending","dispatched","running") else 1)' "$T/run.json"
}

# (f) a trigger joins tb's run while it waits for the running ta.
wait_for 15 "tb waits for the running ta" tasks_say tb 'w.startswith("waiting for ta (run ") and w.endswith(" running)")'
cycle_run tb
TB_RUN=$(json 'j["run_id"]' <"$T/run.json")
want 0 ctl trigger tb
grep -q "joined run $TB_RUN" "$T/out" || fail "trigger did not join run $TB_RUN: $(cat "$T/out")"
wait_for 15 "tb's triggered run of the cycle ends" cycle_ended tb
cycle_run tb
jtrue "$T/run.json" 'j["state"] == "succeeded" and j["triggers"] == 1' "tb ran for its trigger"
grep -qx "$C" "$T/tb.ran" || fail "tb did not run in cycle $C"
cycle_run ta
jtrue "$T/run.json" 'j["state"] == "running"' "ta still running when tb ran"
touch "$T/ta.go"
wait_for 15 "ta's run of the cycle ends" cycle_ended ta
cycle_run ta
jtrue "$T/run.json" 'j["state"] == "failed"' "ta failed"
cycle_run tb
jtrue "$T/run.json" "j['run_id'] == $TB_RUN and j['state'] == 'succeeded'" "tb's run stays succeeded"
pass "a trigger that joined a dependent's waiting run makes it run at once; the dependency's failure skips nothing"

# (a) the failure in the middle.
wait_for 30 "fc's run of the cycle ends" cycle_ended fc
cycle_run fc
jtrue "$T/run.json" 'j["state"] == "skipped"' "fc is skipped"
cycle_run fb
FB_RUN=$(json 'j["run_id"]' <"$T/run.json")
jtrue "$T/run.json" 'j["state"] == "failed"' "fb failed"
cycle_run fc
jtrue "$T/run.json" "j['error'] == 'dependency fb failed (run $FB_RUN)'" "fc says why"
cycle_run fa
jtrue "$T/run.json" 'j["state"] == "succeeded"' "fa succeeded"
grep -qx "$C" "$T/fa.ran" || fail "fa did not run in cycle $C"
grep -qx "$C" "$T/fb.ran" || fail "fb did not run in cycle $C"
if grep -qx "$C" "$T/fc.ran" 2>/dev/null; then fail "fc ran although fb failed"; fi
pass "chain fa -> fb -> fc: fb failed, fc skipped with the reason and never executed"

# (b) the happy chain, in order.
wait_for 30 "hc's run of the cycle ends" cycle_ended hc
for t in ha hb hc; do
	cycle_run $t
	jtrue "$T/run.json" 'j["state"] == "succeeded"' "$t succeeded"
done
python3 - "$T/chain.log" "$C" <<'PY' || fail "chain out of order: $(cat "$T/chain.log")"
import sys
ev = {}
for line in open(sys.argv[1]):
    cyc, task, what, at = line.split()
    if cyc == sys.argv[2]:
        ev[(task, what)] = float(at)
assert ev[("hb", "start")] >= ev[("ha", "end")], "hb started before ha ended"
assert ev[("hc", "start")] >= ev[("hb", "end")], "hc started before hb ended"
PY
pass "chain ha -> hb -> hc ran in order (each started after the previous ended)"

# (c) the start order on the single slot.
wait_for 40 "p-d2's run of the cycle ends" cycle_ended p-d2
wait_for 20 "p-plain's run of the cycle ends" cycle_ended p-plain
ORDER=$(awk -v c="$C" '$1 == c {print $2}' "$T/order.log" | tr '\n' ' ')
python3 - "$ORDER" <<'PY' || fail "start order on one slot: $ORDER"
import sys
o = sys.argv[1].split()
assert sorted(o) == sorted(["p-high", "p-low", "p-root", "p-plain", "p-d1", "p-d2"]), o
assert o[:4] == ["p-high", "p-low", "p-root", "p-d1"], o
assert o.index("p-plain") > o.index("p-d1"), o
PY
pass "one slot: priority first, then the run others wait for, then the rest ($ORDER)"

# (e) restart schedd while rb waits for the running ra.
wait_for 10 "rb waits for the running ra" tasks_say rb 'w.startswith("waiting for ra (run ") and w.endswith(" running)")'
kill -TERM "$SCHEDD_PID"
wait_for 15 "schedd exited" sh -c "! kill -0 $SCHEDD_PID 2>/dev/null"
start_schedd
wait_for 15 "two workers alive again" workers_alive 2
wait_for 10 "after the restart rb still waits for ra" tasks_say rb 'w.startswith("waiting for ra (run ")'
cycle_run rb
jtrue "$T/run.json" 'j["state"] == "pending"' "rb still pending after the restart"
touch "$T/ra.go"
wait_for 30 "rb's run of the cycle ends" cycle_ended rb
cycle_run rb
jtrue "$T/run.json" 'j["state"] == "succeeded"' "rb succeeded"
cycle_run ra
jtrue "$T/run.json" 'j["state"] == "succeeded"' "ra succeeded"
python3 - "$T/restart.log" "$C" <<'PY' || fail "rb did not wait for ra: $(cat "$T/restart.log")"
import sys
ev = {}
for line in open(sys.argv[1]):
    cyc, task, what, at = line.split()
    if cyc == sys.argv[2]:
        ev[(task, what)] = float(at)
assert ev[("rb", "start")] >= ev[("ra", "end")], "rb started before ra ended"
PY
pass "a dependent run keeps waiting across a schedd restart and starts after its dependency ended"
