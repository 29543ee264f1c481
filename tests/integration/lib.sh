# lib.sh - helpers for integration tests with real processes on loopback.
# Source it from a test; it creates a private directory, a key, a config
# with free ports, and kills every process it started when the test exits
# (normally, on failure, or on Ctrl-C).
#
# Needs: BIN (directory with schedd, workerd, schedctl).

set -u
: "${BIN:?BIN must point at the built binaries}"
T=$(mktemp -d "${TMPDIR:-/tmp}/sched-it.XXXXXX")
PIDS=""
# A port block per test run, so parallel runs on one machine do not clash.
BASE_PORT=$((20000 + ($$ % 2000) * 20))
SCHED_ADDR=127.0.0.1:$BASE_PORT

# Sanitizer reports in any daemon log fail the test (make sanitize).
sanitizer_check() {
	if grep -l -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.log 2>/dev/null; then
		grep -h -A 30 -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.log >&2
		return 1
	fi
	return 0
}

cleanup() {
	rc=$?
	# SIGTERM first so that daemons exit through their cleanup (and a
	# sanitizer build reports leaks), then SIGKILL whatever is left.
	# Workers first, while the scheduler can still acknowledge their reports.
	for p in $PIDS; do kill -CONT "$p" 2>/dev/null; done
	for p in $PIDS; do [ "$p" = "${SCHEDD_PID:-}" ] || kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	kill -TERM "${SCHEDD_PID:-0}" 2>/dev/null
	for _ in $(seq 50); do kill -0 "${SCHEDD_PID:-0}" 2>/dev/null || break; sleep 0.1; done
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	if ! sanitizer_check; then
		echo "FAIL: sanitizer report in a daemon log" >&2
		rc=1
	fi
	# Task processes run in their own process groups; end them too.
	pkill -KILL -f "$T/" 2>/dev/null
	for p in $PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	echo "--- schedd log (tail) ---" >&2
	tail -n 40 "$T"/schedd*.log >&2 2>/dev/null
	for f in "$T"/w*.log; do [ -f "$f" ] && { echo "--- $f (tail) ---"; tail -n 15 "$f"; } >&2; done
	exit 1
}

pass() { echo "ok: $*"; }

# write_config [scheduler-keys...]: cluster.conf for this test.
write_config() {
	mkdir -p "$T/tasks" "$T/logs"
	cat >"$T/cluster.conf" <<CONF
[cluster]
key_file = $T/keys
scheduler = $SCHED_ADDR

[scheduler]
listen = $SCHED_ADDR
db = $T/schedd.db
tasks_dir = $T/tasks
lease = ${LEASE:-15s}
heartbeat = ${HEARTBEAT:-500ms}
node_timeout = ${NODE_TIMEOUT:-3s}

[worker]
slots = ${SLOTS:-2}
log_dir = $T/logs
kill_grace = ${KILL_GRACE:-2s}
drain_timeout = ${DRAIN_TIMEOUT:-0}
CONF
	[ -f "$T/keys" ] || "$BIN/schedctl" keygen --out "$T/keys" >/dev/null || fail "keygen"
}

ctl() { "$BIN/schedctl" -c "$T/cluster.conf" "$@"; }

start_schedd() {
	"$BIN/schedd" -c "$T/cluster.conf" "$@" >>"$T/schedd.log" 2>&1 &
	SCHEDD_PID=$!
	disown $SCHEDD_PID
	PIDS="$PIDS $SCHEDD_PID"
	wait_for 10 "schedd answers" ctl status
}

# start_worker N [flags]: worker wN on port BASE+N.
start_worker() {
	n=$1
	shift
	"$BIN/workerd" -c "$T/cluster.conf" --name "w$n" --listen "127.0.0.1:$((BASE_PORT + n))" \
		--db "$T/w$n.db" "$@" >>"$T/w$n.log" 2>&1 &
	eval "W${n}_PID=$!"
	PIDS="$PIDS $!"
	disown $!
}

# wait_for SECONDS WHAT CMD...: poll CMD until it succeeds, or fail.
wait_for() {
	secs=$1
	what=$2
	shift 2
	end=$(($(date +%s) + secs))
	while [ "$(date +%s)" -le "$end" ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	fail "timed out after ${secs}s waiting for: $what"
}

# json EXPR: evaluate a Python expression over the JSON on stdin (as j).
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

workers_alive() { # N: at least N workers alive
	[ "$(ctl --json status | json 'sum(1 for w in j["workers"] if w["state"]=="alive")')" -ge "$1" ]
}

# ---- assertions and run helpers shared by the tests -----------------------

# want RC CMD...: run CMD with stdout in $T/out, stderr in $T/err; fail
# unless it exits RC.
want() {
	local rc_want=$1 rc
	shift
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq "$rc_want" ] ||
		fail "'$*' exited $rc, expected $rc_want; stdout: $(head -c 800 "$T/out"); stderr: $(head -c 800 "$T/err")"
}

# jtrue FILE PYEXPR WHY: fail unless the Python expression over j (the
# JSON in FILE) is true.  `ts` parses an RFC 3339 time.
jtrue() {
	python3 - "$1" "$2" <<'PY' || fail "$3: ($2) is not true for: $(head -c 1500 "$1")"
import json, sys
from datetime import datetime, timezone
def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

# trigger TASK: `schedctl run TASK`, prints the new run id.
trigger() { ctl --json run "$1" | json 'j["run_id"]'; }
# field RUN KEY: one field of the run (schedctl --json logs RUN).
field() { ctl --json logs "$1" | json "j['$2']"; }
# run_in RUN STATE...: the run is in one of the states.
run_in() {
	local st
	st=$(field "$1" state) || return 1
	shift
	for s; do [ "$st" = "$s" ] && return 0; done
	return 1
}
# procs PATTERN / no_procs PATTERN: a process whose command line matches.
procs() { pgrep -f "$1" >/dev/null; }
no_procs() { ! pgrep -f "$1" >/dev/null; }

# unique_sleeps: U is a number that makes `sleep N.U...` command lines
# unique to this test run (pgrep can tell them from anybody else's); they
# are killed when the test exits.
unique_sleeps() {
	U=$(($$ % 100000))
	trap 'rc0=$?; pkill -KILL -f "sleep [0-9]+\.${U}[0-9]([^0-9]|$)" 2>/dev/null; (exit $rc0); cleanup' EXIT
}
