#!/bin/bash
# `schedctl trigger TASK` with real processes (schedd + two workers):
#   (a) bad arguments exit 2 with the usage; an unknown task exits 1 and
#       names it (table and --json)
#   (b) no debounce: one trigger -> one run at once, reason trigger,
#       triggers 1 (history table and --json)
#   (c) debounce 3s, before a run: three triggers in one window -> one
#       run with triggers 3, created when the window closed
#   (d) during a run: a window closing while the run is active queues
#       exactly one follow-up behind it; a trigger while the follow-up
#       waits joins it (count grows); nothing is skipped or doubled
#   (e) after the runs: a trigger opens a new window -> a new run
#   (f) schedd SIGKILLed with open windows, restarted after one of them
#       ended: both windows still become runs with their counts
#   (g) a paused task: the trigger is recorded, its run waits until resume
# Runs of "gate" wait for a file per run id, so the test (not a clock)
# decides when a run ends.
. "$(dirname "$0")/lib.sh"

has() { grep -Eq -- "$2" "$1" || fail "$3: no line matching /$2/ in: $(head -c 1500 "$1")"; }
# trig TASK: `schedctl --json trigger TASK` into $T/tr.json (must exit 0).
trig() { want 0 ctl --json trigger "$1"; cp "$T/out" "$T/tr.json"; }
tr_get() { json "$1" <"$T/tr.json"; }
hist() { ctl --json history "$1" --limit 100; }
# run_with TASK PYCOND: a run of TASK (as r) satisfies PYCOND.
run_with() { hist "$1" | json "any($2 for r in j)" | grep -q True; }
nruns() { hist "$1" | json 'len(j)'; }

GATE="i=0; while [ ! -e $T/go-\$SCHED_RUN_ID ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done"

write_config
cat >"$T/tasks/t.conf" <<CONF
[task now]
command = echo "now \$SCHED_RUN_ID"
schedule = @yearly

[task gate]
command = echo "start \$SCHED_RUN_ID" >>$T/gate.runs; $GATE; echo "end \$SCHED_RUN_ID" >>$T/gate.runs
schedule = @yearly
overlap = skip
debounce = 3s

[task short]
command = echo "short \$SCHED_RUN_ID" >>$T/short.runs
schedule = @yearly
debounce = 2s

[task long]
command = echo "long \$SCHED_RUN_ID" >>$T/long.runs
schedule = @yearly
debounce = 6s
CONF

start_schedd
start_worker 1
start_worker 2
wait_for 10 "two workers alive" workers_alive 2

# ---- (a) bad arguments, unknown task ----------------------------------------
for args in "" "now extra" "--bogus"; do
	# shellcheck disable=SC2086
	want 2 ctl trigger $args
	grep -q "usage: schedctl trigger TASK" "$T/out" "$T/err" ||
		fail "'trigger $args' did not print the usage: $(cat "$T/out" "$T/err")"
done
want 1 ctl trigger nosuch
grep -q "unknown task 'nosuch'" "$T/out" "$T/err" || fail "unknown task not named: $(cat "$T/out" "$T/err")"
want 1 ctl --json trigger nosuch
jtrue "$T/err" 'j["ok"] is False and "nosuch" in j["message"]' "unknown task --json (on stderr, exit 1)"
[ "$(nruns now)" -eq 0 ] || fail "a refused trigger created a run"
pass "(a) bad arguments exit 2 with the usage; unknown task exits 1 naming it"

# ---- (b) no debounce: a run at once -------------------------------------
trig now
jtrue "$T/tr.json" 'j["ok"] and j["outcome"] == "created" and j["count"] == 1 and j["run_id"] > 0 and j["waits_for_run_id"] is None and j["window_closes_at"] is None' "trigger now --json"
rn=$(tr_get 'j["run_id"]')
wait_for 20 "run $rn of now succeeded" run_in "$rn" succeeded
hist now >"$T/h.json"
jtrue "$T/h.json" "len(j) == 1 and j[0]['run_id'] == $rn and j[0]['reason'] == 'trigger' and j[0]['triggers'] == 1" "now: one trigger run"
want 0 ctl history now
has "$T/out" '^RUN +STATE +REASON +ATTEMPT +TOKEN +NODE +SCHEDULED +STARTED +FINISHED +EXIT +TRIGGERS' "history header"
has "$T/out" "^$rn +succeeded +trigger +1 +[0-9]+ +w[12] .* 0 +1 *\$" "history row with 1 trigger"
[ "$(field "$rn" output_tail)" = "now $rn" ] || fail "now printed '$(field "$rn" output_tail)'"
pass "(b) no debounce: run $rn created at once, reason trigger, 1 trigger"

# ---- (c) debounce: three triggers, one window, one run -------------------
trig gate
jtrue "$T/tr.json" 'j["outcome"] == "opened_window" and j["count"] == 1 and j["run_id"] is None and j["window_closes_ms"] > 0' "first trigger opens a window"
closes=$(tr_get 'j["window_closes_ms"]')
for n in 2 3; do
	trig gate
	jtrue "$T/tr.json" "j['outcome'] == 'joined_window' and j['count'] == $n and j['window_closes_ms'] == $closes" "trigger $n joins the window"
done
wait_for 30 "the window became a run" run_with gate 'r["triggers"] == 3'
hist gate >"$T/h.json"
jtrue "$T/h.json" "len(j) == 1 and j[0]['reason'] == 'trigger' and j[0]['triggers'] == 3 and ts(j[0]['created_at']) >= $closes // 1000" "one run with 3 triggers, created when the window closed"
r1=$(json 'j[0]["run_id"]' <"$T/h.json")
wait_for 20 "run $r1 running" run_in "$r1" running
pass "(c) three triggers in one 3s window -> run $r1 with triggers 3"

# ---- (d) during the run: exactly one follow-up --------------------------
trig gate
jtrue "$T/tr.json" 'j["outcome"] == "opened_window" and j["count"] == 1' "trigger during the run opens a window"
trig gate
jtrue "$T/tr.json" 'j["outcome"] == "joined_window" and j["count"] == 2' "second trigger during the run joins it"
wait_for 30 "the follow-up was queued" run_with gate "r['run_id'] > $r1 and r['state'] == 'pending'"
f=$(hist gate | json "[r['run_id'] for r in j if r['run_id'] > $r1][0]")
run_in "$r1" running || fail "run $r1 is no longer running: the window did not close during it"
[ "$(field "$f" triggers)" = 2 ] || fail "follow-up $f has $(field "$f" triggers) triggers, want 2"
trig gate
jtrue "$T/tr.json" "j['outcome'] == 'joined_run' and j['run_id'] == $f and j['count'] == 3 and j['waits_for_run_id'] == $r1" "trigger while the follow-up waits joins it"
trig gate
jtrue "$T/tr.json" "j['outcome'] == 'joined_run' and j['run_id'] == $f and j['count'] == 4" "and the next one too"
[ "$(nruns gate)" -eq 2 ] || fail "gate has $(nruns gate) runs, want 2: $(hist gate)"
run_in "$f" pending || fail "follow-up $f started while $r1 runs"
touch "$T/go-$r1"
wait_for 20 "run $r1 succeeded" run_in "$r1" succeeded
wait_for 20 "follow-up $f running" run_in "$f" running
touch "$T/go-$f"
wait_for 20 "follow-up $f succeeded" run_in "$f" succeeded
hist gate >"$T/h.json"
jtrue "$T/h.json" "[(r['run_id'], r['state'], r['triggers']) for r in j] == [($f, 'succeeded', 4), ($r1, 'succeeded', 3)]" "gate history: two runs, no skipped rows"
[ "$(cat "$T/gate.runs")" = "$(printf 'start %s\nend %s\nstart %s\nend %s' "$r1" "$r1" "$f" "$f")" ] ||
	fail "gate executions overlapped or repeated: $(tr '\n' ' ' <"$T/gate.runs")"
pass "(d) triggers during run $r1 -> exactly one follow-up $f (4 triggers), after it, never beside it"

# ---- (e) after the runs: a new window ------------------------------------
trig gate
jtrue "$T/tr.json" 'j["outcome"] == "opened_window" and j["count"] == 1' "trigger after the runs opens a new window"
wait_for 30 "a third run" run_with gate "r['run_id'] > $f and r['triggers'] == 1"
r3=$(hist gate | json "[r['run_id'] for r in j if r['run_id'] > $f][0]")
touch "$T/go-$r3"
wait_for 20 "run $r3 succeeded" run_in "$r3" succeeded
[ "$(nruns gate)" -eq 3 ] || fail "gate has $(nruns gate) runs, want 3"
pass "(e) a trigger after the runs opened a new window -> run $r3"

# ---- (f) schedd killed with open windows ---------------------------------
trig short
trig short
s_closes=$(tr_get 'j["window_closes_ms"]')
trig long
l_closes=$(tr_get 'j["window_closes_ms"]')
kill -KILL "$SCHEDD_PID"
wait_for 10 "schedd gone" sh -c "! kill -0 $SCHEDD_PID 2>/dev/null"
# Down until short's window has ended (long's has 4 s more).
wait_for 20 "short's window end passed" python3 -c "import time, sys; sys.exit(0 if time.time() * 1000 > $s_closes + 200 else 1)"
start_schedd
wait_for 30 "short's window became a run" run_with short 'r["state"] == "succeeded" and r["triggers"] == 2'
wait_for 30 "long's window became a run" run_with long 'r["state"] == "succeeded" and r["triggers"] == 1'
hist short >"$T/h.json"
jtrue "$T/h.json" "len(j) == 1 and j[0]['reason'] == 'trigger' and ts(j[0]['created_at']) >= $s_closes // 1000" "short: one run after the restart"
hist long >"$T/h.json"
jtrue "$T/h.json" "len(j) == 1 and ts(j[0]['created_at']) >= $l_closes // 1000" "long: one run, not before its window closed"
[ "$(wc -l <"$T/short.runs")" -eq 1 ] && [ "$(wc -l <"$T/long.runs")" -eq 1 ] ||
	fail "executions: short $(cat "$T/short.runs") long $(cat "$T/long.runs")"
pass "(f) schedd SIGKILLed with two open windows: both became runs after the restart"

# ---- (g) paused task ------------------------------------------------------
want 0 ctl pause now
trig now
jtrue "$T/tr.json" 'j["outcome"] == "created" and j["paused"] is True and "paused" in j["message"]' "trigger of a paused task"
rp=$(tr_get 'j["run_id"]')
run_in "$rp" pending || fail "paused task's run $rp is $(field "$rp" state)"
want 0 ctl resume now
wait_for 20 "run $rp of now succeeded after resume" run_in "$rp" succeeded
pass "(g) paused task: trigger recorded as run $rp, which ran after resume"
