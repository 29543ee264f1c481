#!/bin/bash
# Schedule-file errors and reload (all or nothing):
#   - `schedd -n` exits 0 on a good directory and non-zero on bad ones,
#     naming file:line and the key for an unknown key, a bad cron field, a
#     bad duration, a duplicate task and an unknown dependency (`after`);
#   - a running schedd given bad files, by SIGHUP and by `schedctl reload`,
#     keeps its tasks (same list, same definitions, old tasks keep running
#     with their old command), says why (reload exits 1 with file:line,
#     status shows the last reload error) and leaves the database's task
#     definitions untouched;
#   - a good reload then adds a task, changes one and removes one; the
#     removed task stops running, keeps its history (`history`), and
#     `tasks --all` shows it as removed.
. "$(dirname "$0")/lib.sh"

# ---- helpers (local to this test) ------------------------------------

# has FILE STRING WHY: fail unless FILE contains STRING (fixed string).
has() { grep -Fq -- "$2" "$1" || fail "$3: '$2' not in: $(head -c 1500 "$1")"; }

# Task definitions as stored (everything but the moving cursor and token).
db_tasks() {
	python3 - "$T/schedd.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
for row in c.execute("""SELECT name, command, schedule, timezone, timeout_ms, overlap,
        catch_up, retries, retry_backoff_ms, priority, labels, after_tasks, debounce_ms,
        source_file, source_line, paused, removed, created_ms, updated_ms
        FROM tasks ORDER BY name"""):
    print("|".join(map(str, row)))
PY
}

# The definitions `schedctl tasks --all --json` shows, one line per task.
ctl_tasks() {
	ctl --json tasks --all | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    print(t["name"], t["state"], t["schedule"], t["command"], t["overlap"], sep="|")'
}

newest_run() { # TASK: id of its newest run (0 if none)
	ctl --json history "$1" --limit 1 | json 'j[0]["run_id"] if j else 0'
}
has_run_after() { # TASK ID: a succeeded run of TASK newer than ID
	ctl --json history "$1" --limit 50 | json "any(r['run_id'] > $2 and r['state'] == 'succeeded' for r in j)" | grep -q True
}
rows_of() { ctl --json history "$1" --limit 100000 | json 'len(j)'; }
reload_failures_are() { [ "$(ctl --json status | json 'j["scheduler"]["reload_failures"]')" = "$1" ]; }

write_config

# ---- schedd -n --------------------------------------------------------------
check() { # DIR: schedd -n on DIR
	"$BIN/schedd" -n -c "$T/cluster.conf" --tasks-dir "$1"
}
mkdir -p "$T/chk/good"
cat >"$T/chk/good/a.conf" <<'CONF'
# comment
[task a]
command = echo a
schedule = every 1s
timeout = 30s

[task b]
command = echo b
schedule = 0 3 * * mon-fri
timezone = Europe/Berlin
after = a
CONF
want 0 check "$T/chk/good"
has "$T/out" "2 task(s) OK" "schedd -n on a good directory"

# bad DIR FILE: write stdin to DIR/FILE after a copy of the good file.
bad() {
	mkdir -p "$T/chk/$1"
	cp "$T/chk/good/a.conf" "$T/chk/$1/a.conf"
	cat >"$T/chk/$1/$2"
}
bad key z.conf <<'CONF'
[task k]
command = echo k
schedule = every 1s
colour = blue
CONF
bad cron z.conf <<'CONF'
[task c]
command = echo c
schedule = 61 * * * *
CONF
bad duration z.conf <<'CONF'
[task d]
command = echo d
schedule = every 1s
timeout = 5 parsecs
CONF
bad dup z.conf <<'CONF'

[task a]
command = echo again
schedule = every 1s
CONF
bad after z.conf <<'CONF'
[task f]
command = echo f
schedule = every 1s
after = nosuch
CONF
bad every z.conf <<'CONF'
[task e]
command = echo e
schedule = every 5 fortnights
CONF

# check_bad DIR EXPECTED...: schedd -n fails on DIR and says each EXPECTED.
check_bad() {
	local dir=$1 rc
	shift
	check "$T/chk/$dir" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -ne 0 ] || fail "schedd -n accepted the bad directory '$dir': $(cat "$T/out")"
	for e in "$@"; do has "$T/err" "$e" "schedd -n on '$dir'"; done
	grep -q "OK" "$T/out" && fail "schedd -n on '$dir' also said OK"
	pass "schedd -n on '$dir': exit $rc, $(head -n 1 "$T/err")"
}
check_bad key "$T/chk/key/z.conf:4: colour: unknown key"
check_bad cron "$T/chk/cron/z.conf:3: schedule: " "minute field"
check_bad duration "$T/chk/duration/z.conf:4: timeout: " "bad duration"
check_bad dup "$T/chk/dup/z.conf:2: " "duplicate task 'a'" "$T/chk/dup/a.conf:2"
check_bad after "$T/chk/after/z.conf:4: after: unknown task 'nosuch'"
check_bad every "$T/chk/every/z.conf:3: schedule: " "fortnights"
# Every error of every file in one round.
mkdir -p "$T/chk/many"
cp "$T/chk/key/z.conf" "$T/chk/many/1.conf"
cp "$T/chk/after/z.conf" "$T/chk/many/2.conf"
check_bad many "$T/chk/many/1.conf:4: colour: unknown key" "$T/chk/many/2.conf:4: after: unknown task 'nosuch'"

# ---- a running scheduler ------------------------------------------------------
cat >"$T/tasks/a.conf" <<'CONF'
[task tick]
command = echo tick-v1
schedule = every 1s
CONF
cat >"$T/tasks/b.conf" <<'CONF'
[task old]
command = echo old
schedule = every 1s
CONF
start_schedd
start_worker 1
wait_for 10 "worker alive" workers_alive 1
wait_for 10 "tick ran" has_run_after tick 0
wait_for 10 "old ran" has_run_after old 0

ctl_tasks >"$T/tasks.0"
db_tasks >"$T/db.0"
grep -q '^tick|active|every 1s|echo tick-v1|' "$T/tasks.0" || fail "unexpected task list: $(cat "$T/tasks.0")"
[ "$(wc -l <"$T/db.0")" -eq 2 ] || fail "expected 2 task rows in the database: $(cat "$T/db.0")"

# unchanged WHEN: the task list and the stored definitions are as at start,
# and both old tasks still get new, successful runs.
unchanged() {
	ctl_tasks >"$T/tasks.1"
	diff "$T/tasks.0" "$T/tasks.1" >"$T/diff" || fail "$1: task list changed: $(cat "$T/diff")"
	db_tasks >"$T/db.1"
	diff "$T/db.0" "$T/db.1" >"$T/diff" || fail "$1: stored task definitions changed: $(cat "$T/diff")"
	local t0 o0
	t0=$(newest_run tick)
	o0=$(newest_run old)
	wait_for 10 "$1: a new run of tick after run $t0" has_run_after tick "$t0"
	wait_for 10 "$1: a new run of old after run $o0" has_run_after old "$o0"
	want 0 ctl --json logs "$(newest_run tick)"
	jtrue "$T/out" 'j["output_tail"] == "tick-v1\n"' "$1: tick still runs its old command"
	want 1 ctl history fresh
}

# A bad set of files: tick changed, old removed, a new task with an unknown key.
cat >"$T/tasks/a.conf" <<'CONF'
[task tick]
command = echo tick-v2
schedule = every 1s
CONF
mv "$T/tasks/b.conf" "$T/b.conf.away"
cat >"$T/tasks/c.conf" <<'CONF'
[task fresh]
command = echo fresh
schedule = every 1s
colour = red
CONF

# 1. SIGHUP
kill -HUP "$SCHEDD_PID"
wait_for 10 "the SIGHUP reload to fail" reload_failures_are 1
want 0 ctl --json status
jtrue "$T/out" 'j["scheduler"]["last_reload_error"] == "'"$T"'/tasks/c.conf:4: colour: unknown key" and j["scheduler"]["reloads"] == 0 and j["scheduler"]["tasks"] == 2' "status --json shows the SIGHUP reload error"
want 0 ctl status
has "$T/out" "last reload failed" "status says the last reload failed"
has "$T/out" "$T/tasks/c.conf:4: colour: unknown key" "status names file:line and key"
grep -q "c.conf:4: colour: unknown key" "$T/schedd.log" || fail "schedd did not log the refused reload"
kill -0 "$SCHEDD_PID" || fail "schedd died on a bad SIGHUP reload"
unchanged "after a bad SIGHUP reload"
pass "SIGHUP with a bad file: nothing changed, old tasks keep running, error reported"

# 2. schedctl reload, another error kind
cat >"$T/tasks/c.conf" <<'CONF'
[task fresh]
command = echo fresh
schedule = every 1s
after = nosuch
CONF
want 1 ctl reload
has "$T/err" "nothing changed" "reload says nothing changed"
has "$T/err" "$T/tasks/c.conf:4: after: unknown task 'nosuch'" "reload names file:line and key"
reload_failures_are 2 || fail "reload_failures should be 2: $(ctl --json status | head -n 1)"
want 0 ctl --json status
jtrue "$T/out" '"c.conf:4: after: unknown task" in j["scheduler"]["last_reload_error"] and "colour" not in j["scheduler"]["last_reload_error"]' "status shows the newest reload error"
want 0 ctl status
has "$T/out" "$T/tasks/c.conf:4: after: unknown task 'nosuch'" "status table names the newest reload error"
unchanged "after a bad schedctl reload"
pass "schedctl reload with a bad file: exit 1 with file:line, nothing changed, old tasks keep running"

# ---- a good reload: add fresh, change tick, remove old -------------------------
cat >"$T/tasks/c.conf" <<'CONF'
[task fresh]
command = echo fresh
schedule = every 1s
after = tick
CONF
old_rows=$(rows_of old)
want 0 ctl reload
has "$T/out" "reloaded 2 task(s)" "good reload reports the task count"
want 0 ctl --json status
jtrue "$T/out" 'j["scheduler"]["last_reload_error"] is None and j["scheduler"]["reloads"] == 1 and j["scheduler"]["reload_failures"] == 2 and j["scheduler"]["tasks"] == 2' "status after a good reload"
want 0 ctl status
grep -q "last reload failed" "$T/out" && fail "status still shows a reload error: $(cat "$T/out")"
want 0 ctl --json tasks
jtrue "$T/out" 'sorted((t["name"], t["state"]) for t in j) == [("fresh", "active"), ("tick", "active")]' "tasks after the good reload"
jtrue "$T/out" '[t["command"] for t in j if t["name"] == "tick"] == ["echo tick-v2"]' "tick's command changed"
want 0 ctl --json tasks --all
jtrue "$T/out" 'sorted((t["name"], t["state"]) for t in j) == [("fresh", "active"), ("old", "removed"), ("tick", "active")]' "tasks --all shows old as removed"
jtrue "$T/out" '[t["next_run"] for t in j if t["name"] == "old"] == [None] and [t["last_run_id"] for t in j if t["name"] == "old"][0] > 0' "removed task: no next run, last run kept"
want 0 ctl tasks --all
grep -Eq '^old +removed ' "$T/out" || fail "tasks --all table does not show old as removed: $(cat "$T/out")"
want 0 ctl tasks
grep -q '^old ' "$T/out" && fail "tasks (without --all) lists the removed task: $(cat "$T/out")"
wait_for 10 "fresh runs" has_run_after fresh 0
t0=$(newest_run tick)
wait_for 10 "tick runs its new command" has_run_after tick "$t0"
want 0 ctl --json logs "$(newest_run tick)"
jtrue "$T/out" 'j["output_tail"] == "tick-v2\n"' "tick runs its new command"
# The removed task keeps its history and creates no new runs.
sleep 1 # let a run of old that was in flight at the reload finish
n1=$(rows_of old)
[ "$n1" -ge "$old_rows" ] || fail "old lost history rows: $old_rows -> $n1"
want 0 ctl --json history old --limit 1000
jtrue "$T/out" 'len(j) >= 2 and all(r["task"] == "old" for r in j) and all(r["state"] in ("succeeded", "skipped") for r in j)' "history of the removed task"
want 0 ctl history old
grep -Eq '^[0-9]+ +succeeded +schedule ' "$T/out" || fail "history table of the removed task: $(cat "$T/out")"
sleep 2.5
n2=$(rows_of old)
[ "$n2" -eq "$n1" ] || fail "removed task old still gets runs: $n1 -> $n2"
want 1 ctl run old
has "$T/err" "unknown task 'old'" "a removed task cannot be run"
db_tasks >"$T/db.2"
grep -q '^old|echo old|every 1s|.*|0|1|[0-9]*|[0-9]*$' "$T/db.2" || fail "old is not marked removed in the database: $(cat "$T/db.2")"
grep -q '^fresh|echo fresh|every 1s|UTC|.*|tick|' "$T/db.2" || fail "fresh (after = tick) not stored: $(cat "$T/db.2")"
pass "good reload: fresh added, tick changed, old removed with its history kept ($n1 rows)"

# ---- a good SIGHUP reload brings the removed task back -------------------------
max_tok=$(ctl --json history old --limit 1000 | json 'max(r["token"] for r in j)')
last_old=$(newest_run old)
mv "$T/b.conf.away" "$T/tasks/b.conf"
kill -HUP "$SCHEDD_PID"
wait_for 10 "SIGHUP reload brings old back" sh -c "$BIN/schedctl -c $T/cluster.conf --json status | grep -q '\"reloads\": 2,'"
want 0 ctl --json tasks
jtrue "$T/out" 'sorted((t["name"], t["state"]) for t in j) == [("fresh", "active"), ("old", "active"), ("tick", "active")]' "tasks after the SIGHUP reload"
wait_for 10 "old runs again" has_run_after old "$last_old"
want 0 ctl --json history old --limit 1000
jtrue "$T/out" 'len(j) > '"$n2"' and min(r["token"] for r in j if r["run_id"] > '"$last_old"' and r["token"] > 0) > '"$max_tok" "the returning task keeps its history and its tokens keep growing"
pass "SIGHUP reload: old is back with its history; tokens continue above $max_tok"

echo "PASS: test_reload"
