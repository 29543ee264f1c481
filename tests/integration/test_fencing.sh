#!/bin/bash
# Fence-confirmed reassignment with real processes (issue 3): schedd and
# five workers on loopback, gossip with the LAN defaults, the fence hook
# fence-local-worker behind a wrapper that records every call and can be
# told to fail.  Every task takes a `flock -n` on its own file for its
# whole life and records a violation if the lock is held: a second copy
# of a task anywhere fails the test.
#  (a) SIGKILL of the workerd running a task: gossip declares it dead, the
#      hook is called with NODE ADDRESS INCARNATION and kills the leftover
#      task processes, the run becomes lost and its retry starts on another
#      worker with a higher token;
#  (b) SIGSTOP of a worker running a task, shorter than the suspicion
#      timeout: no fence request, the run goes on where it was;
#  (c) a failing hook: attempts are recorded with their output and
#      retried, the run stays fencing, the task cannot run anywhere; after
#      the operator isolated the node (here: fence-local-worker by hand)
#      `schedctl fence confirm` frees it and the retry starts elsewhere;
#  (d) storm: three of five workers stopped at once: fencing pauses, the
#      hook is not called; the workers come back (SIGCONT) and the fences
#      are called off, the runs finish where they ran;
#  (e) drain: `schedctl drain NODE --wait` reports progress until the node
#      holds no run, and no new run goes to a drained node;
#  (f) a fenced node that comes back: a worker paused for 3 s is declared
#      dead, the (failing) hook cannot reach it, the operator confirms (and
#      the task has no retry, so nothing else runs it); on SIGCONT the
#      worker learns the run is lost (LEASE lost), kills it at once and
#      reports it lost; the run stays lost, nothing resumes.  The hook is
#      slow here: the confirmation interrupts it (recorded, reaped);
#  (g) idle members storm: the pause lifts by itself when they come back;
#  (h) after a scheduler restart, a worker paused until it is declared dead
#      comes back as the same life: the fence is called off (the restarted
#      scheduler knew its incarnation) and its run goes on.
. "$(dirname "$0")/lib.sh"
unique_sleeps
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

write_config
cat >"$T/hook" <<HOOK
#!/bin/sh
echo "\$(date +%s.%N) \$*" >> $T/hook.calls
if [ -f $T/hook-fail ]; then echo "power switch unreachable"; exit 1; fi
if [ -f $T/hook-slow ]; then echo "waiting for the power switch"; exec sleep 30; fi
exec $ROOT/fence/fence-local-worker "\$@"
HOOK
chmod +x "$T/hook"
export SCHED_FENCE_CLUSTER="$T/" SCHED_FENCE_TIMEOUT=5

# task NAME SECONDS: a guarded task (manual runs only) sleeping SECONDS.
task() {
	cat >>"$T/tasks/t.conf" <<CONF
[task $1]
command = flock -n -E 99 $T/$1.lock sh -c 'echo "start \$SCHED_RUN_ID \$SCHED_FENCE_TOKEN \$SCHED_NODE" >> $T/$1.runs; sleep $2'; rc=\$?; [ \$rc -eq 99 ] && echo "violation $1 \$SCHED_RUN_ID" >> $T/violations; exit \$rc
schedule = @yearly
overlap = skip
catch_up = none
retries = 2
retry_backoff = 1s

CONF
}
task a "60.${U}1"
task b "60.${U}2"
task c "60.${U}3"
for n in 1 2 3 4 5 6; do task "s$n" "6.${U}$n"; done
task d1 "3.${U}7"
task d2 "60.${U}8"
cat >>"$T/tasks/t.conf" <<CONF
[task f]
command = sleep 60.${U}9
schedule = @yearly
overlap = skip

CONF

start_schedd --fence-hook "$T/hook" --set scheduler.fence_backoff_max=2s
for n in 1 2 3 4 5; do start_worker "$n" --slots 2; done
wait_for 20 "five workers alive" workers_alive 5

no_violation() { [ ! -s "$T/violations" ] || fail "overlap detected by flock: $(cat "$T/violations")"; }
node_of() { field "$1" node; }
pid_of() { eval "echo \$W${1#w}_PID"; }
fence_json() { ctl --json fence list >"$T/fences.json" || fail "fence list"; }
hook_calls() { [ -f "$T/hook.calls" ] && wc -l <"$T/hook.calls" || echo 0; }
# sched_is PYEXPR: true when the expression over s (status' "scheduler") is.
sched_is() { [ "$(ctl --json status | json "(lambda s: $1)(j['scheduler'])")" = True ]; }

# ---- (a) SIGKILL -> hook -> replacement with a higher token ---------------
ra=$(trigger a) || fail "run a"
wait_for 10 "a running" run_in "$ra" running
va=$(node_of "$ra")
tok_a=$(field "$ra" token)
t0=$(date +%s.%N)
kill -KILL "$(pid_of "$va")"
wait_for 20 "run $ra lost" run_in "$ra" lost
wait_for 10 "a retried" sh -c "[ \$($BIN/schedctl -c $T/cluster.conf --json history a | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r[\"state\"]==\"running\"))') -eq 1 ]"
ctl --json history a >"$T/h.json"
jtrue "$T/h.json" "[r for r in j if r['state']=='running'][0]['token'] > $tok_a" "replacement token is higher"
jtrue "$T/h.json" "[r for r in j if r['state']=='running'][0]['node'] != '$va'" "replacement on another worker"
jtrue "$T/h.json" "[r for r in j if r['state']=='running'][0]['attempt'] == 2" "replacement is attempt 2"
grep -q " $va 127.0.0.1:" "$T/hook.calls" || fail "hook not called as HOOK $va ADDRESS INC: $(cat "$T/hook.calls")"
fence_json
jtrue "$T/fences.json" "any(f['node']=='$va' and f['state']=='confirmed' and f['confirmed_by']=='hook' and f['runs_lost']==1 for f in j['fences'])" "fence confirmed by the hook"
[ "$(pgrep -fc "^sleep 60\.${U}1$")" -eq 1 ] || fail "not exactly one copy of a runs: $(pgrep -fa "^sleep 60\.${U}1$")"
no_violation
pass "(a) SIGKILL of $va: fenced by the hook, run $ra lost, retry elsewhere with a higher token ($(python3 -c "import time; print(round(time.time()-$t0,1))")s)"
start_worker "${va#w}" --slots 2 # a restarted node rejoins with a new incarnation
wait_for 20 "five workers alive again" workers_alive 5
ctl cancel "$(ctl --json history a | json '[r["run_id"] for r in j if r["state"]=="running"][0]')" >/dev/null

# ---- (b) SIGSTOP shorter than the suspicion timeout: no fence -------------
rb=$(trigger b) || fail "run b"
wait_for 10 "b running" run_in "$rb" running
vb=$(node_of "$rb")
fence_json
before=$(json "len(j['fences'])" <"$T/fences.json")
for _ in 1 2 3; do
	kill -STOP "$(pid_of "$vb")"
	sleep 0.4
	kill -CONT "$(pid_of "$vb")"
	sleep 2
done
sleep 3
fence_json
after=$(json "len(j['fences'])" <"$T/fences.json")
[ "$after" = "$before" ] || fail "a 0.4 s pause led to a fence request: $(cat "$T/fences.json")"
run_in "$rb" running || fail "run $rb is $(field "$rb" state) after short pauses"
[ "$(node_of "$rb")" = "$vb" ] || fail "run $rb moved"
no_violation
pass "(b) three 0.4 s SIGSTOPs of $vb: no fence, run $rb still running there"
ctl cancel "$rb" >/dev/null

# ---- (c) a failing hook blocks the task until fence confirm ---------------
touch "$T/hook-fail"
rc_=$(trigger c) || fail "run c"
wait_for 10 "c running" run_in "$rc_" running
vc=$(node_of "$rc_")
calls0=$(hook_calls)
kill -KILL "$(pid_of "$vc")"
wait_for 20 "run $rc_ fencing" run_in "$rc_" fencing
wait_for 20 "two failed hook calls" sh -c "[ \$(wc -l < $T/hook.calls) -ge $((calls0 + 2)) ]"
fence_json
jtrue "$T/fences.json" "any(f['node']=='$vc' and f['state']=='open' and f['attempts']>=2 and 'exit 1' in f['last_error'] and 'power switch unreachable' in f['last_error'] for f in j['fences'])" "failed attempts recorded with their output"
fid=$(json "[f['id'] for f in j['fences'] if f['node']=='$vc' and f['state']=='open'][0]" <"$T/fences.json")
ctl fence show "$fid" >"$T/show.txt" || fail "fence show $fid"
[ "$(grep -c "power switch unreachable" "$T/show.txt")" -ge 2 ] || fail "fence show lacks the outputs: $(cat "$T/show.txt")"
ctl status >"$T/status.txt"
grep -q "NOT CONFIRMED" "$T/status.txt" || fail "status does not show the unconfirmed fence: $(cat "$T/status.txt")"
want 1 ctl run c # the task is blocked: overlap=skip refuses
run_in "$rc_" fencing || fail "run $rc_ left fencing without a confirmation"
procs "sleep 60\.${U}3" || fail "the test lost track of c's orphan"
# The operator makes sure the node is isolated, then vouches for it.
SCHED_FENCE_CLUSTER="$T/" "$ROOT/fence/fence-local-worker" "$vc" 127.0.0.1:1 0 >/dev/null 2>&1 ||
	fail "manual fence-local-worker"
rm -f "$T/hook-fail"
want 0 ctl fence confirm "$vc"
grep -q "confirmed isolated (by operator)" "$T/out" || fail "confirm output: $(cat "$T/out")"
run_in "$rc_" lost || fail "run $rc_ not lost after confirm"
wait_for 10 "c retried elsewhere" sh -c "$BIN/schedctl -c $T/cluster.conf --json history c | python3 -c 'import json,sys; sys.exit(0 if any(r[\"state\"]==\"running\" and r[\"node\"]!=\"$vc\" for r in json.load(sys.stdin)) else 1)'"
fence_json
jtrue "$T/fences.json" "any(f['node']=='$vc' and f['confirmed_by']=='operator' for f in j['fences'])" "recorded as the operator's confirmation"
no_violation
pass "(c) failing hook on $vc: attempts recorded, task blocked; fence confirm freed it"
start_worker "${vc#w}" --slots 2
wait_for 20 "five workers alive again" workers_alive 5
ctl cancel "$(ctl --json history c | json '[r["run_id"] for r in j if r["state"]=="running"][0]')" >/dev/null

# ---- (d) storm: three of five stopped at once -> fencing pauses -----------
wait_for 20 "no active runs" sh -c "[ \$($BIN/schedctl -c $T/cluster.conf --json status | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"runs\"]))') -eq 0 ]"
for n in 1 2 3 4 5 6; do trigger "s$n" >/dev/null || fail "run s$n"; done
wait_for 10 "six s-runs running" sh -c "[ \$($BIN/schedctl -c $T/cluster.conf --json status | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)[\"runs\"] if r[\"state\"]==\"running\"))') -eq 6 ]"
calls0=$(hook_calls)
stopped=""
for n in 1 2 3; do kill -STOP "$(pid_of "w$n")"; stopped="$stopped w$n"; done
wait_for 20 "fencing paused" sched_is "s['fencing_paused']"
sleep 2
[ "$(hook_calls)" = "$calls0" ] || fail "the hook was called during a storm: $(tail -3 "$T/hook.calls")"
ctl fence list >"$T/fl.txt"
grep -q "PAUSED" "$T/fl.txt" || fail "fence list does not say paused: $(cat "$T/fl.txt")"
for n in 1 2 3; do kill -CONT "$(pid_of "w$n")"; done
wait_for 30 "storm over" sched_is "not s['fencing_paused'] and s['fences_open'] == 0"
[ "$(hook_calls)" = "$calls0" ] || fail "the hook was called for the storm's nodes"
wait_for 30 "s-runs done" sh -c "[ \$($BIN/schedctl -c $T/cluster.conf --json status | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"runs\"]))') -eq 0 ]"
for n in 1 2 3 4 5 6; do
	st=$(ctl --json history "s$n" | json 'j[0]["state"]')
	[ "$st" = succeeded ] || fail "s$n ended $st after the storm"
done
no_violation
pass "(d) storm ($stopped stopped): fencing paused, no hook call; back: fences called off, runs succeeded"

# ---- (e) drain NODE --wait ---------------------------------------------------
r1=$(trigger d1) || fail "run d1"
wait_for 10 "d1 running" run_in "$r1" running
vd=$(node_of "$r1")
ctl drain "$vd" --wait >"$T/drain.out" 2>&1 || fail "drain --wait: $(cat "$T/drain.out")"
grep -q "draining $vd: 1 run(s) left" "$T/drain.out" || fail "no progress line: $(cat "$T/drain.out")"
grep -q "safe to stop" "$T/drain.out" || fail "no final line: $(cat "$T/drain.out")"
run_in "$r1" succeeded || fail "d1 did not finish during the drain"
r2=$(trigger d2) || fail "run d2"
wait_for 10 "d2 running" run_in "$r2" running
[ "$(node_of "$r2")" != "$vd" ] || fail "a run went to drained $vd"
ctl members >"$T/members.txt"
grep -q "drained" "$T/members.txt" || fail "members does not show the drain: $(cat "$T/members.txt")"
want 0 ctl undrain "$vd"
no_violation
pass "(e) drain $vd --wait: progress, then safe to stop; no new run went there"

# ---- (f) a fenced node comes back: it kills the run and reports it lost ------
touch "$T/hook-slow"
rf=$(trigger f) || fail "run f"
wait_for 10 "f running" run_in "$rf" running
vf=$(node_of "$rf")
kill -STOP "$(pid_of "$vf")"
wait_for 10 "run $rf fencing" run_in "$rf" fencing
wait_for 10 "the slow hook started" grep -q " $vf " "$T/hook.calls"
want 0 ctl fence confirm "$vf" # a wrong confirmation, on purpose: no retry exists
run_in "$rf" lost || fail "run $rf not lost after confirm"
wait_for 5 "the interrupted hook reaped" sh -c "! ps --ppid $SCHEDD_PID -o stat= | grep -q Z"
wait_for 5 "the interrupted hook is gone" no_procs "^sleep 30$"
fence_json
fid=$(json "[f['id'] for f in j['fences'] if f['node']=='$vf'][0]" <"$T/fences.json")
ctl fence show "$fid" | grep -q "interrupted" || fail "the interrupted hook call is not recorded: $(ctl fence show "$fid")"
procs "^sleep 60\.${U}9$" || fail "the paused node's task should still be there"
kill -CONT "$(pid_of "$vf")"
wait_for 10 "the fenced node killed its run" no_procs "^sleep 60\.${U}9$"
wait_for 10 "the fenced node reported the run lost" grep -q "fenced: the scheduler declared this node dead" "$T/$vf.log"
sleep 1
run_in "$rf" lost || fail "run $rf is $(field "$rf" state) after the node came back"
[ "$(ctl --json history f | json 'len(j)')" = 1 ] || fail "f ran again: $(ctl --json history f)"
rm -f "$T/hook-slow"
no_violation
pass "(f) fenced $vf came back: killed run $rf, reported it lost; it stays lost"
wait_for 20 "five workers alive again" workers_alive 5

# ---- (g) a storm of idle members lifts by itself ------------------------------
for n in 1 2 3; do kill -STOP "$(pid_of "w$n")"; done
wait_for 20 "fencing paused (idle storm)" sched_is "s['fencing_paused']"
for n in 1 2 3; do kill -CONT "$(pid_of "w$n")"; done
wait_for 20 "the idle storm lifted" sched_is "not s['fencing_paused']"
pass "(g) three idle workers stopped: fencing paused; back: the pause lifted by itself"

# ---- (h) scheduler restart, then a false suspicion: called off -----------------
kill -TERM "$SCHEDD_PID"
wait_for 10 "schedd stopped" sh -c "! kill -0 $SCHEDD_PID 2>/dev/null"
start_schedd --fence-hook "$T/hook" --set scheduler.fence_backoff_max=2s
wait_for 20 "five workers alive after the restart" workers_alive 5
touch "$T/hook-fail"
rh=$(trigger b) || fail "run b"
wait_for 10 "b running" run_in "$rh" running
vh=$(node_of "$rh")
kill -STOP "$(pid_of "$vh")"
wait_for 10 "run $rh fencing" run_in "$rh" fencing
kill -CONT "$(pid_of "$vh")"
wait_for 10 "run $rh running again" run_in "$rh" running
fence_json
jtrue "$T/fences.json" "any(f['node']=='$vh' and f['state']=='cancelled' and f['incarnation']>0 for f in j['fences'])" "the fence was called off, with the node's incarnation"
procs "^sleep 60\.${U}2$" || fail "b's process is gone"
rm -f "$T/hook-fail"
ctl cancel "$rh" >/dev/null
no_violation
pass "(h) after a scheduler restart, $vh paused and back: fence called off, run $rh went on"
