#!/bin/bash
# Every schedctl command against a live scheduler with two workers, the
# table for people and --json both, and the exit codes (0 ok, 1 failure,
# 2 bad usage):
#   status   workers alive with their slots, active runs listed
#   tasks    fields and values (name, schedule, state, next_run, last_run_id)
#   history  --limit, field values of schedule and manual runs, paging
#   run      reason manual; overlap=skip refuses while a run is active;
#            overlap=queue queues exactly one and refuses a second
#   cancel   a running run ends cancelled; a queued one never starts;
#            unknown id / finished run -> 1
#   pause / resume   no new runs while paused; runs again after resume
#   reload, logs (output tail, JSON escaping), keygen (0600, no overwrite),
#   next     exact fire times, DST gap and overlap, invalid expressions
#   no scheduler answering, a wrong key (refused datagrams are counted).
. "$(dirname "$0")/lib.sh"

# ---- helpers (local to this test) ------------------------------------

# has FILE REGEX WHY: fail unless FILE has a line matching REGEX (ERE).
has() { grep -Eq -- "$2" "$1" || fail "$3: no line matching /$2/ in: $(head -c 1500 "$1")"; }

# jget FILE PYEXPR: print the value of PYEXPR over the JSON in FILE.
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# run_state ID TASK: the state of run ID in TASK's history.
run_state() {
	ctl --json history "$2" --limit 1000 2>/dev/null |
		python3 -c "import json,sys; print(next((r['state'] for r in json.load(sys.stdin) if r['run_id']==$1), 'none'))"
}
run_is() { [ "$(run_state "$1" "$2")" = "$3" ]; }
has_run_after() { # TASK ID STATE [REASON]: a run of TASK newer than ID in STATE
	ctl --json history "$1" --limit 50 |
		json "any(r['run_id'] > $2 and r['state'] == '$3' and r['reason'] in ('${4:-}' or r['reason'],) for r in j)" | grep -q True
}
tick_rows() { ctl --json history tick --limit 100000 | json 'len(j)'; }

# A long task, bounded (30 s), whose shell command line names $T so that
# lib.sh's cleanup finds it even if its worker is gone.
LONG="i=0; while [ \$i -lt 150 ]; do sleep 0.2; i=\$((i+1)); done; : $T/"

write_config
cat >"$T/tasks/t.conf" <<CONF
[task tick]
command = echo "tick \$SCHED_RUN_ID"
schedule = every 1s
catch_up = none

[task fail3]
command = printf 'about to "fail" \\\\ tab\\t end\\n'; exit 3
schedule = @yearly

[task long]
command = $LONG
schedule = @yearly
overlap = skip

[task q]
command = $LONG
schedule = @yearly
overlap = queue
CONF

start_schedd
start_worker 1
start_worker 2
wait_for 10 "two workers alive" workers_alive 2

# ---- status ------------------------------------------------------------
want 0 ctl status
has "$T/out" '^scheduler .*4 task\(s\)' "status names the scheduler and its task count"
has "$T/out" '^WORKER +STATE +ADDRESS +SLOTS +ACTIVE' "status worker table header"
for n in 1 2; do
	has "$T/out" "^w$n +alive +127\.0\.0\.1:$((BASE_PORT + n)) +2 +[0-9]+ " "status lists w$n alive with 2 slots"
done
want 0 ctl --json status
cp "$T/out" "$T/status.json"
jtrue "$T/status.json" 'sorted(w["name"] for w in j["workers"]) == ["w1", "w2"]' "status --json lists both workers"
jtrue "$T/status.json" 'all(w["state"] == "alive" and w["slots"] == 2 and w["address"].startswith("127.0.0.1:") for w in j["workers"])' "workers alive with 2 slots"
jtrue "$T/status.json" 'j["scheduler"]["tasks"] == 4 and j["scheduler"]["last_reload_error"] is None and isinstance(j["runs"], list)' "scheduler summary"
pass "status: workers alive with slots (table and JSON)"

# ---- tasks -------------------------------------------------------------
wait_for 10 "a succeeded run of tick" has_run_after tick 0 succeeded
want 0 ctl tasks
has "$T/out" '^TASK +STATE +SCHEDULE +NEXT +LAST +ACTIVE +WAITING' "tasks header"
has "$T/out" '^tick +active +every 1s +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +[0-9]+ ' "tasks row of tick"
has "$T/out" '^fail3 +active +@yearly +[0-9]{4}-01-01T00:00:00Z +- +- +- *$' "tasks row of fail3 (never ran)"
has "$T/out" '^q +active +@yearly ' "tasks row of q"
want 0 ctl --json tasks
cp "$T/out" "$T/tasks.json"
jtrue "$T/tasks.json" 'sorted(t["name"] for t in j) == ["fail3", "long", "q", "tick"]' "tasks --json names"
jtrue "$T/tasks.json" 'all(set(t) >= {"name", "schedule", "state", "next_run", "last_run_id", "command", "overlap"} for t in j)' "tasks --json fields"
jtrue "$T/tasks.json" '{t["name"]: t["overlap"] for t in j} == {"fail3": "skip", "long": "skip", "q": "queue", "tick": "skip"}' "overlap values"
jtrue "$T/tasks.json" 'all(t["state"] == "active" for t in j)' "all tasks active"
jtrue "$T/tasks.json" '[t for t in j if t["name"] == "tick"][0]["schedule"] == "every 1s" and [t for t in j if t["name"] == "tick"][0]["last_run_id"] > 0' "tick schedule and last_run_id"
jtrue "$T/tasks.json" 'abs(ts([t for t in j if t["name"] == "tick"][0]["next_run"]) - datetime.now(timezone.utc).timestamp()) < 5' "tick next_run is within seconds of now"
jtrue "$T/tasks.json" '[t for t in j if t["name"] == "fail3"][0]["next_run"] == "%d-01-01T00:00:00Z" % (datetime.now(timezone.utc).year + 1) and [t for t in j if t["name"] == "fail3"][0]["last_run_id"] == 0' "fail3 next_run is next New Year, no last run"
pass "tasks: table and JSON"

# ---- history -----------------------------------------------------------
wait_for 10 "tick has at least 3 runs" sh -c "[ \$($BIN/schedctl -c $T/cluster.conf --json history tick --limit 100 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') -ge 3 ]"
want 0 ctl --json history tick --limit 2
cp "$T/out" "$T/h.json"
jtrue "$T/h.json" 'len(j) == 2' "--limit 2 gives exactly 2 rows"
jtrue "$T/h.json" 'j[0]["run_id"] > j[1]["run_id"]' "history is newest first"
jtrue "$T/h.json" 'all(set(r) >= {"run_id", "task", "token", "reason", "state", "node", "scheduled_for", "started_at", "finished_at", "exit_code"} for r in j)' "history --json fields"
jtrue "$T/h.json" 'all(r["task"] == "tick" and r["reason"] == "schedule" for r in j)' "task and reason of scheduled runs"
want 0 ctl --json history tick --limit 20
cp "$T/out" "$T/h20.json"
jtrue "$T/h20.json" 'len(j) >= 3 and len([r for r in j if r["state"] == "succeeded"]) >= 2' "tick has succeeded runs"
jtrue "$T/h20.json" 'all(r["exit_code"] == 0 and r["node"] in ("w1", "w2") and r["token"] > 0 and ts(r["scheduled_for"]) <= ts(r["started_at"]) <= ts(r["finished_at"]) and ts(r["finished_at"]) - ts(r["scheduled_for"]) < 10 for r in j if r["state"] == "succeeded")' "succeeded runs: exit 0, a node, a token, scheduled <= started <= finished"
jtrue "$T/h20.json" '[r["token"] for r in j if r["token"] > 0] == sorted((r["token"] for r in j if r["token"] > 0), reverse=True) and len({r["token"] for r in j if r["token"] > 0}) == len([r for r in j if r["token"] > 0])' "tokens strictly increase with run ids"
want 0 ctl history tick --limit 2
# ATTEMPT: the attempt number of each run (retries), since issue 5.
has "$T/out" '^RUN +STATE +REASON +ATTEMPT +TOKEN +NODE +SCHEDULED +STARTED +FINISHED +EXIT +TRIGGERS +ERROR *$' "history header"
[ "$(grep -Ec '^[0-9]+ ' "$T/out")" -eq 2 ] || fail "history --limit 2 printed $(grep -Ec '^[0-9]+ ' "$T/out") rows: $(cat "$T/out")"
pass "history: --limit, fields, values, table"

# ---- run: manual, failure, exit code ------------------------------------
want 0 ctl run fail3
has "$T/out" '^run [0-9]+ of fail3 created' "run prints the new run"
F=$(sed -nE 's/^run ([0-9]+) of fail3.*/\1/p' "$T/out")
wait_for 15 "manual run $F of fail3 failed" run_is "$F" fail3 failed
want 0 ctl --json history fail3
cp "$T/out" "$T/f.json"
jtrue "$T/f.json" 'len(j) == 1 and j[0]["run_id"] == '"$F" "fail3 has exactly the manual run"
jtrue "$T/f.json" 'j[0]["reason"] == "manual" and j[0]["state"] == "failed" and j[0]["exit_code"] == 3 and j[0]["task"] == "fail3" and j[0]["token"] == 1' "manual run: reason manual, failed, exit 3, token 1"
jtrue "$T/f.json" 'j[0]["node"] in ("w1", "w2") and j[0]["started_at"] is not None and ts(j[0]["started_at"]) <= ts(j[0]["finished_at"])' "manual run has a node and times"
want 0 ctl history fail3
has "$T/out" "^$F +failed +manual +1 +1 +w[12] .* 3 +- *\$" "history table row of the failed manual run (no triggers)"
pass "run: manual run $F recorded, failed with exit 3"

# ---- logs --------------------------------------------------------------
want 0 ctl logs "$F"
has "$T/out" "^run $F of fail3: failed" "logs header"
has "$T/out" '^about to "fail" \\ tab' "logs shows the output tail"
want 0 ctl --json logs "$F"
cp "$T/out" "$T/l.json"
jtrue "$T/l.json" 'j["output_tail"] == "about to \"fail\" \\ tab\t end\n"' "logs --json output_tail (quotes, backslash, tab escaped)"
jtrue "$T/l.json" 'j["run_id"] == '"$F"' and j["state"] == "failed" and j["exit_code"] == 3' "logs --json run fields"
want 1 ctl logs 999999
want 2 ctl logs notanumber
pass "logs: output tail, table and JSON"

# ---- run with overlap = skip ----------------------------------------------
want 0 ctl --json run long
cp "$T/out" "$T/r.json"
jtrue "$T/r.json" 'j["run_id"] > 0 and j["token"] == 1 and j["queued"] is False' "run --json"
L=$(jget "$T/r.json" 'j["run_id"]')
wait_for 10 "run $L of long running" run_is "$L" long running
want 1 ctl run long
has "$T/err" 'already has an unfinished run.*overlap = skip' "refusal names the reason"
has "$T/err" "blocking run: $L" "refusal names the blocking run"
want 0 ctl --json history long
jtrue "$T/out" 'len(j) == 1' "a refused run leaves no row"
want 0 ctl logs "$L"
has "$T/out" "run $L of long is running on w[12]" "logs of a running run"
pass "run: overlap=skip refuses while run $L is active (exit 1)"

# ---- run with overlap = queue ---------------------------------------------
want 0 ctl run q
Q1=$(sed -nE 's/^run ([0-9]+) of q.*/\1/p' "$T/out")
wait_for 10 "run $Q1 of q running" run_is "$Q1" q running
want 0 ctl --json run q
cp "$T/out" "$T/q.json"
jtrue "$T/q.json" 'j["queued"] is True' "second run of q is queued"
Q2=$(jget "$T/q.json" 'j["run_id"]')
want 1 ctl run q
has "$T/err" 'already has a run waiting in its queue' "second queued run refused"
has "$T/err" "blocking run: $Q2 \\(pending\\)" "refusal names the queued run"
want 0 ctl --json history q
cp "$T/out" "$T/qh.json"
jtrue "$T/qh.json" 'sorted((r["run_id"], r["state"], r["reason"]) for r in j) == [('"$Q1"', "running", "manual"), ('"$Q2"', "pending", "manual")]' "q has one running and exactly one pending run"
pass "run: overlap=queue queued exactly one ($Q2) and refused another"

# ---- status with active runs ------------------------------------------------
want 0 ctl status
has "$T/out" '^RUN +TASK +STATE +TOKEN +NODE' "status run table header"
has "$T/out" "^$L +long +running +1 +w[12] " "status lists the running run of long"
has "$T/out" "^$Q1 +q +running +1 +w[12] " "status lists the running run of q"
has "$T/out" "^$Q2 +q +pending +2 +- " "status lists the queued run of q"
want 0 ctl --json status
cp "$T/out" "$T/status.json"
jtrue "$T/status.json" '{r["run_id"]: r["state"] for r in j["runs"] if r["task"] in ("long", "q")} == {'"$L"': "running", '"$Q1"': "running", '"$Q2"': "pending"}' "status --json runs"
jtrue "$T/status.json" 'sum(w["active_runs"] for w in j["workers"]) >= 2' "workers count their active runs"
jtrue "$T/status.json" '[r["note"] for r in j["runs"] if r["run_id"] == '"$Q2"'][0].startswith("queued")' "the queued run's note says it waits for the task's run"
pass "status: active runs listed"

# ---- cancel ------------------------------------------------------------
want 0 ctl cancel "$L"
has "$T/out" "cancel of run $L requested" "cancel acknowledges"
wait_for 15 "run $L cancelled" run_is "$L" long cancelled
want 0 ctl --json history long
jtrue "$T/out" 'j[0]["run_id"] == '"$L"' and j[0]["state"] == "cancelled" and j[0]["finished_at"] is not None and j[0]["exit_code"] != 0' "cancelled run is finished, without exit 0"
want 1 ctl cancel "$L"
has "$T/err" 'already finished' "cancel of a finished run"
want 1 ctl cancel 999999
has "$T/err" 'no run 999999' "cancel of an unknown run"
want 1 ctl --json cancel 999999
jtrue "$T/err" 'j == {"ok": False, "message": "no run 999999", "run_id": 999999}' "cancel --json of an unknown run"
want 2 ctl cancel
# Since issue 5 (batches) a non-numeric argument of cancel names a task.
want 1 ctl cancel abc
has "$T/err" '^abc: unknown task; nothing changed' "cancel of an unknown task"
want 2 ctl cancel --abc
# Cancelling the running run of q starts the queued one; cancelling that
# (while pending or running) ends q.
want 0 ctl cancel "$Q1"
wait_for 15 "run $Q1 cancelled" run_is "$Q1" q cancelled
wait_for 15 "queued run $Q2 starts once $Q1 ended" run_is "$Q2" q running
want 0 ctl cancel "$Q2"
wait_for 15 "run $Q2 cancelled" run_is "$Q2" q cancelled
# The ERROR column of the history table carries the run's error text.
want 0 ctl history q
has "$T/out" "^$Q2 +cancelled +manual +1 +[0-9]+ +w[12] .* +- +cancelled by operator *\$" "history table row with its error text"
# The queued run waited without being offered to workers (the store's
# unique index would refuse it; trying anyway floods the log).
grep -q 'store refused a second active run' "$T/schedd.log" &&
	fail "the scheduler tried to dispatch the queued run while the task's run was active"
pass "cancel: running runs end cancelled, queued run started after; unknown/finished -> 1"

# ---- pause / resume --------------------------------------------------------
want 0 ctl pause tick
has "$T/out" 'task tick paused' "pause acknowledges"
want 0 ctl --json tasks
jtrue "$T/out" '[(t["state"], t["next_run"]) for t in j if t["name"] == "tick"] == [("paused", None)]' "paused task: state paused, no next_run"
want 0 ctl tasks
has "$T/out" '^tick +paused +every 1s +- ' "tasks table shows tick paused"
wait_for 10 "tick has no active run" sh -c "$BIN/schedctl -c $T/cluster.conf --json tasks | grep -q '\"name\": \"tick\".*\"active_run_id\": 0,'"
n0=$(tick_rows)
sleep 3.5
n1=$(tick_rows)
[ "$n1" -eq "$n0" ] || fail "paused task tick got new history rows: $n0 -> $n1"
# A manual run of a paused task is recorded but waits for the resume.
want 0 ctl run tick
has "$T/out" '^run [0-9]+ of tick created .*paused' "run of a paused task says that it waits"
M=$(sed -nE 's/^run ([0-9]+) of tick.*/\1/p' "$T/out")
sleep 1
run_is "$M" tick pending || fail "manual run $M of paused tick is $(run_state "$M" tick), want pending"
want 0 ctl --json status
jtrue "$T/out" '[r["note"] for r in j["runs"] if r["run_id"] == '"$M"'] == ["task paused"]' "status says the run waits for the paused task"
want 0 ctl resume tick
has "$T/out" 'task tick resumed' "resume acknowledges"
wait_for 10 "the waiting manual run $M ran after resume" run_is "$M" tick succeeded
wait_for 10 "a new scheduled run of tick after resume" has_run_after tick "$M" succeeded schedule
want 0 ctl --json tasks
jtrue "$T/out" '[t["state"] for t in j if t["name"] == "tick"] == ["active"] and [t["next_run"] for t in j if t["name"] == "tick"][0] is not None' "resumed task active with a next_run"
want 0 ctl --json resume tick
jtrue "$T/out" 'j == {"ok": True, "message": "task tick is already active", "task": "tick", "paused": False}' "resume --json of an active task"
want 1 ctl pause nosuch
has "$T/err" "unknown task 'nosuch'" "pause of an unknown task"
want 1 ctl --json pause nosuch
jtrue "$T/err" 'j["ok"] is False and "nosuch" in j["message"]' "pause --json of an unknown task"
want 1 ctl resume nosuch
want 2 ctl pause
pass "pause/resume: no runs for 3.5 s while paused ($n0 rows), runs again after resume"

# ---- reload -------------------------------------------------------------
want 0 ctl reload
has "$T/out" '^reloaded 4 task\(s\)' "reload reports the task count"
want 0 ctl --json reload
jtrue "$T/out" 'j["ok"] is True and j["tasks"] == 4' "reload --json"
want 2 ctl reload extra
pass "reload: ok (errors are in test_reload.sh)"

# ---- keygen -------------------------------------------------------------
want 0 "$BIN/schedctl" keygen --out "$T/newkey"
has "$T/out" "$T/newkey" "keygen names the file"
[ "$(stat -c %a "$T/newkey")" = 600 ] || fail "keygen made mode $(stat -c %a "$T/newkey"), want 600"
[ -s "$T/newkey" ] || fail "keygen wrote an empty file"
cp "$T/newkey" "$T/newkey.copy"
want 1 "$BIN/schedctl" keygen --out "$T/newkey"
has "$T/err" 'exists' "keygen refuses to overwrite"
cmp -s "$T/newkey" "$T/newkey.copy" || fail "keygen changed an existing key file"
want 2 "$BIN/schedctl" keygen --bogus
pass "keygen: 0600 file, existing file kept (exit 1)"

# ---- next (local, no scheduler needed) -------------------------------------
# Berlin: CET (+01:00) until 2026-03-29 01:00 UTC, then CEST (+02:00);
# 02:30 does not exist on 2026-03-29 (02:00 -> 03:00), so the gap rule
# runs it at the first valid instant, 03:00+02:00 = 01:00 UTC.
want 0 "$BIN/schedctl" next '30 2 * * *' --tz Europe/Berlin --from 2026-03-28 --count 2
printf '%s\n' '2026-03-28T02:30:00+01:00  (2026-03-28T01:30:00Z)' \
	'2026-03-29T03:00:00+02:00  (2026-03-29T01:00:00Z)' >"$T/expect"
diff "$T/expect" "$T/out" >"$T/diff" || fail "next across the spring gap: $(cat "$T/diff")"
want 0 "$BIN/schedctl" --json next '30 2 * * *' --tz Europe/Berlin --from 2026-03-28 --count 2
# 2026-03-28T01:30:00Z = 1774661400; 2026-03-29T01:00:00Z = 1774746000
jtrue "$T/out" 'j == [{"time": "2026-03-28T02:30:00+01:00", "utc": "2026-03-28T01:30:00Z", "unix": 1774661400}, {"time": "2026-03-29T03:00:00+02:00", "utc": "2026-03-29T01:00:00Z", "unix": 1774746000}]' "next --json across the gap"
# Autumn: 02:30 happens twice on 2026-10-25 (CEST then CET); it runs once,
# at the first one.
want 0 "$BIN/schedctl" next '30 2 * * *' --tz Europe/Berlin --from 2026-10-24 --count 3
printf '%s\n' '2026-10-24T02:30:00+02:00  (2026-10-24T00:30:00Z)' \
	'2026-10-25T02:30:00+02:00  (2026-10-25T00:30:00Z)' \
	'2026-10-26T02:30:00+01:00  (2026-10-26T01:30:00Z)' >"$T/expect"
diff "$T/expect" "$T/out" >"$T/diff" || fail "next across the autumn overlap: $(cat "$T/diff")"
# every: aligned to the epoch; --from is exclusive; default count 5.
want 0 "$BIN/schedctl" next 'every 15m' --from '2026-01-01 00:07' --count 3
printf '%s\n' '2026-01-01T00:15:00Z  (2026-01-01T00:15:00Z)' '2026-01-01T00:30:00Z  (2026-01-01T00:30:00Z)' \
	'2026-01-01T00:45:00Z  (2026-01-01T00:45:00Z)' >"$T/expect"
diff "$T/expect" "$T/out" >"$T/diff" || fail "next every 15m: $(cat "$T/diff")"
want 0 "$BIN/schedctl" next '0 0 29 2 *' --from 2026-01-01
[ "$(wc -l <"$T/out")" -eq 5 ] || fail "next prints 5 times by default: $(cat "$T/out")"
has "$T/out" '^2028-02-29T00:00:00Z ' "leap day: first is 2028-02-29"
[ "$(sed -n 2p "$T/out" | cut -c1-10)" = 2032-02-29 ] || fail "leap day: second should be 2032-02-29: $(cat "$T/out")"
# invalid expressions and arguments: exit 2, naming the field
want 2 "$BIN/schedctl" next '61 * * * *'
has "$T/err" 'minute' "bad minute field named"
want 2 "$BIN/schedctl" next '0 0 32 * *'
has "$T/err" 'day-of-month' "bad day-of-month field named"
want 2 "$BIN/schedctl" next '0 0 * 13 *'
has "$T/err" 'month' "bad month field named"
want 2 "$BIN/schedctl" next '0 0 * * mon-xyz'
has "$T/err" 'day-of-week' "bad day-of-week field named"
want 2 "$BIN/schedctl" next '* * * *'
want 2 "$BIN/schedctl" next '@daily' --tz Nowhere/City
want 2 "$BIN/schedctl" next '@daily' --from garbage
want 2 "$BIN/schedctl" next '@daily' --count 0
want 2 "$BIN/schedctl" next
want 1 "$BIN/schedctl" next '0 0 30 2 *'
has "$T/err" 'never fires' "an expression that never fires"
pass "next: exact times (DST gap and overlap, every, leap day), bad input exit 2"

# ---- exit codes -----------------------------------------------------------
want 1 ctl history nosuch
has "$T/err" "unknown task 'nosuch'" "history of an unknown task"
want 1 ctl run nosuch
has "$T/err" "unknown task 'nosuch'" "run of an unknown task"
want 2 ctl bogus
has "$T/err" "unknown command 'bogus'" "unknown command"
want 2 ctl history
want 2 ctl run
want 2 ctl history tick --limit x
want 2 ctl history tick --limit 0
want 2 ctl history tick --limit
want 2 ctl tasks --bogus
want 2 ctl
want 2 ctl --no-such-option status
want 0 ctl --help
# nobody listening on this port (inside our block, never used)
t0=$(date +%s)
want 1 "$BIN/schedctl" --scheduler "127.0.0.1:$((BASE_PORT + 19))" --key-file "$T/keys" --timeout 1s status
has "$T/err" 'no answer from the scheduler' "no scheduler answering"
[ $(($(date +%s) - t0)) -le 4 ] || fail "--timeout 1s took $(($(date +%s) - t0)) s"
pass "exit codes: 1 for failures and no answer, 2 for bad usage"

# ---- wrong key, unreadable-by-others key ------------------------------------
r0=$(ctl --json status | json 'j["scheduler"]["datagrams_refused"]')
want 1 ctl --key-file "$T/newkey" --timeout 1s status
has "$T/err" 'no answer' "a wrong key gets no answer"
r1=$(ctl --json status | json 'j["scheduler"]["datagrams_refused"]')
[ "$r1" -gt "$r0" ] || fail "datagrams refused did not grow with a wrong key: $r0 -> $r1"
want 0 ctl status
has "$T/out" "[0-9]+ datagram\(s\) refused" "status shows refused datagrams"
cp "$T/keys" "$T/keys.open"
chmod 644 "$T/keys.open"
want 1 ctl --key-file "$T/keys.open" status
has "$T/err" 'readable by others' "a key file readable by others is refused"
pass "wrong key: no answer (exit 1), refused datagrams $r0 -> $r1; open key file refused"

# ---- paging: a reply larger than one datagram -------------------------------
# (a page holds 1000 bytes; a history row in JSON about 330)
wait_for 20 "a history of tick longer than 3 pages" sh -c "[ \$($BIN/schedctl -c $T/cluster.conf --json history tick --limit 1000 | wc -c) -gt 3000 ]"
# Pause tick so that the replies compared below describe the same rows.
want 0 ctl pause tick
wait_for 10 "tick has no active run" sh -c "$BIN/schedctl -c $T/cluster.conf --json tasks | grep -q '\"name\": \"tick\".*\"active_run_id\": 0,'"
want 0 ctl --json history tick --limit 1000
cp "$T/out" "$T/all.json"
want 0 ctl history tick --limit 1000
[ "$(grep -Ec '^[0-9]+ ' "$T/out")" -eq "$(jget "$T/all.json" 'len(j)')" ] || fail "history table and JSON disagree on the row count"
jtrue "$T/all.json" 'len(j) == len({r["run_id"] for r in j}) and [r["run_id"] for r in j] == sorted((r["run_id"] for r in j), reverse=True)' "paged history is complete and ordered"
[ "$(jget "$T/all.json" 'len(j)')" -eq "$(tick_rows)" ] || fail "history --limit 1000 and --limit 100000 disagree"
pass "history: multi-page JSON reply intact ($(wc -c <"$T/all.json") bytes)"

echo "PASS: test_schedctl"
