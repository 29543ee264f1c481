#!/bin/bash
# Atomic batches with real processes on loopback (docs/operations.md
# "Batches"): schedctl run/pause/resume/cancel of several tasks or by a
# label selector apply in one transaction or not at all.
#  (a) pause and resume several tasks, and by selector; an already paused
#      task is "unchanged", not a blocker;
#  (b) a blocked batch changes nothing: `resume e1 nope` leaves e1 paused,
#      `run quick e1` while e1 runs creates no run of quick, and the answer
#      names the blocker (text and --json);
#  (c) run by selector starts every matching task; cancel by selector
#      stops them; cancel of a task with nothing unfinished is unchanged;
#      cancel of a finished run among others blocks the batch; `cancel
#      TASK RUN` where the task item already cancelled RUN is not blocked;
#      cancel of a task drops its open debounce window (no run comes);
#  (d) bad arguments exit 2 with a message; a selector matching no task
#      exits 1.
. "$(dirname "$0")/lib.sh"

unique_sleeps
write_config
NEVER='0 0 1 1 *'
cat >"$T/tasks/batch.conf" <<CONF
[task e1]
command = sleep 60.${U}1
schedule = $NEVER
labels = team=etl

[task e2]
command = sleep 60.${U}2
schedule = $NEVER
labels = team=etl

[task web]
command = sleep 60.${U}3
schedule = $NEVER
labels = grp=web

[task quick]
command = true
schedule = $NEVER

[task deb]
command = true
schedule = $NEVER
debounce = 2s
CONF

start_schedd
start_worker 1 --labels team=etl,grp=web --slots 4
wait_for 20 "worker alive" workers_alive 1

states() { ctl --json tasks | json '" ".join(t["name"] + "=" + t["state"] for t in j if t["name"] != "deb")'; }
expect_states() {
	got=$(states)
	[ "$got" = "$1" ] || fail "$2: task states '$got', want '$1'"
}
nruns() { ctl --json history "$1" | json 'len(j)'; }

# (a)
want 0 ctl pause e1 e2 web
grep -q '^task e1 paused$' "$T/out" && grep -q '^task web paused$' "$T/out" || fail "pause text: $(cat "$T/out")"
expect_states "e1=paused e2=paused quick=active web=paused" "pause e1 e2 web"
want 0 ctl --json pause e1 quick
jtrue "$T/out" 'j["ok"] and j["blocked_by"] is None and [(i["item"], i["result"]) for i in j["items"]] == [("e1", "unchanged"), ("quick", "paused")]' "pause e1 quick --json"
expect_states "e1=paused e2=paused quick=paused web=paused" "pause e1 quick"
want 0 ctl --json resume -l team=etl
jtrue "$T/out" 'j["selector"] == "team=etl" and sorted(i["item"] for i in j["items"]) == ["e1", "e2"] and all(i["result"] == "resumed" for i in j["items"])' "resume -l team=etl"
expect_states "e1=active e2=active quick=paused web=paused" "resume -l team=etl"
pass "(a) pause/resume of several tasks and by selector; already paused is unchanged"

# (b)
want 0 ctl pause e1
want 1 ctl resume quick e1 nope
grep -q "^nope: unknown task; nothing changed" "$T/err" || fail "blocker text: $(cat "$T/err")"
expect_states "e1=paused e2=active quick=paused web=paused" "a blocked resume"
want 0 ctl resume e1 quick web
expect_states "e1=active e2=active quick=active web=active" "resume e1 quick web"
R1=$(trigger e1)
wait_for 20 "e1 running" procs "sleep 60.${U}1"
q0=$(nruns quick)
want 1 ctl run quick e1
grep -q "^e1: already running (run $R1, running; overlap = skip); nothing changed" "$T/err" || fail "run blocker text: $(cat "$T/err")"
want 1 ctl --json run quick e1
jtrue "$T/err" 'not j["ok"] and j["blocked_by"] == "e1" and j["items"][0]["result"] == "not_applied" and j["items"][1]["result"] == "blocked" and j["items"][1]["blocking_run_id"] == '"$R1" "run quick e1 --json"
[ "$(nruns quick)" = "$q0" ] || fail "a blocked batch created a run of quick"
pass "(b) a blocked batch changes nothing and names its blocker"

# (c)
want 0 ctl cancel e1
grep -q "^e1: cancel of run $R1 requested" "$T/out" || fail "cancel e1 text: $(cat "$T/out")"
wait_for 20 "run $R1 cancelled" run_in "$R1" cancelled
want 0 ctl --json run -l team=etl
jtrue "$T/out" 'j["ok"] and sorted(i["item"] for i in j["items"]) == ["e1", "e2"] and all(i["result"] == "created" and i["run_id"] > 0 for i in j["items"])' "run -l team=etl"
wait_for 20 "e1 and e2 running" sh -c "pgrep -f 'sleep 60.${U}1' && pgrep -f 'sleep 60.${U}2'"
no_procs "sleep 60.${U}3" || fail "web ran without being asked"
want 1 ctl cancel "$R1" e2
grep -q "^run $R1: has already finished; nothing changed" "$T/err" || fail "cancel blocker text: $(cat "$T/err")"
procs "sleep 60.${U}2" || fail "e2 stopped though the batch was refused"
want 0 ctl --json cancel -l team=etl
jtrue "$T/out" 'j["ok"] and all(i["result"] in ("cancel_requested", "cancelled") and len(i["runs"]) == 1 for i in j["items"])' "cancel -l team=etl"
wait_for 20 "e1 and e2 stopped" sh -c "! pgrep -f 'sleep 60.${U}[12]'"
want 0 ctl cancel quick web
grep -q "^task quick has no unfinished run (unchanged)" "$T/out" || fail "cancel unchanged text: $(cat "$T/out")"
# A task and its own waiting run in one cancel: the run, cancelled by the
# task item, is unchanged for its own item, not a blocker.
R2=$(trigger e1)
wait_for 20 "e1 running again" procs "sleep 60.${U}1"
want 0 ctl --json trigger e1
P=$(json 'j["run_id"]' <"$T/out")
want 0 ctl cancel e1 "$P"
grep -q "^e1: run $P cancelled (it had not started)" "$T/out" && grep -q "^run $P: cancelled by an earlier item (unchanged)" "$T/out" || fail "cancel e1 P text: $(cat "$T/out")"
wait_for 20 "run $R2 cancelled" run_in "$R2" cancelled
# Cancelling a task drops its open debounce window: no run comes of it.
want 0 ctl trigger deb
want 0 ctl cancel deb
grep -q "^deb: its open trigger window dropped (1 trigger(s))" "$T/out" || fail "cancel deb text: $(cat "$T/out")"
sleep 3
[ "$(nruns deb)" = 0 ] || fail "the dropped window of deb made a run"
pass "(c) run and cancel by selector; a finished run blocks a cancel batch"

# (d)
for args in "pause" "pause -l" "pause -l bad!label" "resume e1 -l team=etl" "run --bogus e1" "cancel -l team=etl -l grp=web" "pause -l ''"; do
	eval "want 2 ctl $args"
	[ -s "$T/err" ] || fail "'$args': no message"
done
grep -q "usage: schedctl pause" "$T/err" || true
want 1 ctl run -l team=nobody
grep -q "no task matches the selector team=nobody" "$T/err" || fail "empty match text: $(cat "$T/err")"
expect_states "e1=active e2=active quick=active web=active" "after the refused commands"
pass "(d) bad arguments exit 2 with a message; an empty match exits 1"
