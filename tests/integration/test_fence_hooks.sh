#!/bin/bash
# The fence hooks of fence/ (docs/fencing.md), called the way schedd calls
# them (HOOK NODE ADDRESS INCARNATION; exit 0 = isolated), without a
# scheduler except in part (b):
#  (a) fence-local-worker with stand-in processes: a fake workerd (a script
#      named workerd with --name in its command line) and task processes
#      carrying SCHED_NODE, in their own process groups: it kills exactly the
#      node's workerd, its tasks and their groups, and nothing of another node
#      (w2, w10), of another cluster (SCHED_FENCE_CLUSTER) or of a group it
#      does not own (the test's own, one led by a stranger); "already gone"
#      is 0; a worker that is respawned at once, or that the hook may not kill,
#      is 1 after SCHED_FENCE_TIMEOUT; the pid-file way; a non-local address
#      is refused; usage errors are 2;
#  (b) with BIN (built binaries): the same on a real cluster, schedd and two
#      workerd with a running task each: w1's workerd and its task processes
#      go, w2's and schedd stay;
#  (c) fence-agent against tests/integration/fake_fence_agent.sh: off then a
#      confirming status is 0; off failing, off hanging, status staying ON
#      (the agent lies) or failing are non-zero within the configured bounds;
#      a status that turns OFF only later is waited for; a wrong password, an
#      unconfigured node, a configured `action` are refused; the password
#      goes to the agent on stdin only and never appears in the hook's output;
#  (d) fence-manual exits 1 and asks for `schedctl fence confirm NODE`, on
#      stderr and through logger.
# Self-contained (no lib.sh): every process it starts is killed at exit.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
HOOKS=$(cd "$HERE/../../fence" && pwd)
FAKE_AGENT=$HERE/fake_fence_agent.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/sched-fence.XXXXXX")
# Task stand-ins are `sleep 300.<U><NN>`: U (5 digits) makes their command
# lines unique to this test run.
U=$(printf %05d $(($$ % 100000)))
PIDS=()   # stand-ins and helpers: SIGKILLed at exit
DAEMONS=() # real daemons (part b): SIGTERM, then SIGKILL

cleanup() {
	rc=$?
	for p in "${DAEMONS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${DAEMONS[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	for p in "${DAEMONS[@]}" "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	pkill -KILL -f "$T/" 2>/dev/null
	pkill -KILL -f "^sleep 300\.${U}[0-9][0-9]$" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	echo "--- last hook: exit ${RC:-?}; stdout:" >&2
	cat "$T/out" >&2 2>/dev/null
	echo "--- stderr:" >&2
	cat "$T/err" >&2 2>/dev/null
	exit 1
}
pass() { echo "ok: $*"; }

# hook CMD...: run a hook (bounded), stdout in $T/out, stderr in $T/err,
# exit status in RC, seconds taken in SECS; everything also in $T/all.out.
hook() {
	local t0=$SECONDS
	timeout -k 5 60 "$@" >"$T/out" 2>"$T/err"
	RC=$?
	SECS=$((SECONDS - t0))
	cat "$T/out" "$T/err" >>"$T/all.out"
}
want_rc() { [ "$RC" -eq "$1" ] || fail "$2: exit $RC, expected $1"; }
want_nonzero() { [ "$RC" -ne 0 ] || fail "$1: exit 0, expected not confirmed"; }
out_has() { grep -qF -e "$1" "$T/out" "$T/err" || fail "$2: output lacks '$1'"; }

# alive PID: the process exists and is not a zombie.
alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}
# sleeping NN: the stand-in `sleep 300.<U>NN` runs.
sleeping() { pgrep -f "^sleep 300\.${U}$1$" >/dev/null; }
all_sleeping() { # NN...
	for n; do sleeping "$n" || return 1; done
}
wait_until() { # SECONDS WHAT CMD...
	local end=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || fail "timed out waiting for: $what"
		sleep 0.1
	done
}

# A fake workerd: a script called workerd that idles; its arguments show in
# its command line (/bin/sh .../workerd --name w1 -c ...).
mkdir -p "$T/bin" "$T/c1/logs" "$T/c2/logs" "$T/pids"
printf '#!/bin/sh\nwhile :; do sleep 1; done\n' >"$T/bin/workerd"
chmod 755 "$T" "$T/bin" "$T/bin/workerd"
fake_workerd() { # VAR NODE CLUSTER-DIR: start it, its pid in VAR
	"$T/bin/workerd" --name "$2" -c "$3/cluster.conf" &
	PIDS+=($!)
	disown $!
	printf -v "$1" %s $!
}
# task NODE CLUSTER-DIR NN: a task stand-in in its own session and group,
# with the environment workerd gives tasks.
task() {
	setsid env SCHED_NODE="$1" SCHED_CHECKPOINT_FILE="$2/logs/t/checkpoint" sleep "300.$U$3" &
	PIDS+=($!)
	disown $!
}

# ---- (a) fence-local-worker with stand-ins ---------------------------------
# Node names unique to this run (w1 stands for $N1 below...): a fence
# without SCHED_FENCE_CLUSTER kills every process of that name on this host,
# and the other tests' workers are called w1, w2...  $N10 starts with $N1.
N1=w1-$U N2=w2-$U N10=w1-${U}0 N4=w4-$U N5=w5-$U N6=w6-$U N7=w7-$U N9=w9-$U
C1=$T/c1/
fake_workerd W1 "$N1" "$T/c1"
fake_workerd W2 "$N2" "$T/c1"
fake_workerd W10 "$N10" "$T/c1"
fake_workerd W1B "$N1" "$T/c2" # w1 of another cluster on this host
# w1's task: a group leader with SCHED_NODE and a child without it (env -u),
# as a task that clears its environment for a subprocess would.
setsid env SCHED_NODE="$N1" SCHED_CHECKPOINT_FILE="$T/c1/logs/t/checkpoint" \
	sh -c "env -u SCHED_NODE sleep 300.${U}12 & exec sleep 300.${U}11" &
PIDS+=($!)
disown $!
task "$N1" "$T/c1" 13 # another of w1's tasks, in a session of its own
# A w1 task process in the test's own process group: the hook kills it, but
# must not kill its group (the test would die with it).
env SCHED_NODE="$N1" SCHED_CHECKPOINT_FILE="$T/c1/logs/t/checkpoint" sleep "300.${U}14" &
PIDS+=($!)
disown $!
# A w1 task process in a group led by a stranger (no SCHED_NODE): the
# process goes, the stranger stays.
setsid sh -c "env SCHED_NODE=$N1 SCHED_CHECKPOINT_FILE=$T/c1/logs/t/checkpoint sleep 300.${U}16 & exec sleep 300.${U}17" &
PIDS+=($!)
disown $!
task "$N2" "$T/c1" 21
task "$N10" "$T/c1" 31
task "$N1" "$T/c2" 41
wait_until 10 "stand-ins started" all_sleeping 11 12 13 14 16 17 21 31 41

hook env SCHED_FENCE_CLUSTER="$C1" "$HOOKS/fence-local-worker" "$N1" 127.0.0.1:7001 3
want_rc 0 "fence-local-worker w1"
out_has "isolated" "fence-local-worker w1"
! alive "$W1" || fail "w1's workerd survived the hook"
for n in 11 12 13 14 16; do
	! sleeping $n || fail "w1's task process sleep 300.$U$n survived the hook"
done
{ alive "$W2" && alive "$W10"; } || fail "the workerd of w2 or w10 was killed"
alive "$W1B" || fail "w1 of the other cluster was killed despite SCHED_FENCE_CLUSTER"
for n in 17 21 31 41; do
	sleeping $n || fail "sleep 300.$U$n (not a task of w1 in this cluster) was killed"
done
out_has "left alone 2 process(es)" "the other cluster's w1 is reported"
pass "fence-local-worker kills w1's workerd, task processes and their groups, nothing else; exit 0"

hook env SCHED_FENCE_CLUSTER="$C1" "$HOOKS/fence-local-worker" "$N1" 127.0.0.1:7001 3
want_rc 0 "fence-local-worker w1, already gone"
out_has "no workerd and no task process" "fence-local-worker w1, already gone"
pass "fence-local-worker: a node whose processes are gone is isolated (exit 0)"

hook "$HOOKS/fence-local-worker" "$N1" localhost:7001 3
want_rc 0 "fence-local-worker w1 without SCHED_FENCE_CLUSTER"
{ ! alive "$W1B" && ! sleeping 41; } || fail "without SCHED_FENCE_CLUSTER, every w1 on this host must go"
{ alive "$W2" && sleeping 21; } || fail "w2 was killed"
pass "without SCHED_FENCE_CLUSTER every w1 of this host goes, w2 stays"

# Run from inside a process group whose leader has gone, with a task process
# of w9 in it: the process goes, the group (and so the hook) stays.
setsid bash -c "env SCHED_NODE=$N9 sleep 300.${U}81 &
	(sleep 0.5; '$HOOKS/fence-local-worker' $N9 127.0.0.1:7009 1 >'$T/g.out' 2>&1; echo \$? >'$T/g.rc') &
	exit 0" &
PIDS+=($!)
disown $!
wait_until 15 "the hook run from a leaderless group" test -s "$T/g.rc"
[ "$(cat "$T/g.rc")" = 0 ] || fail "hook in a leaderless group: exit $(cat "$T/g.rc"): $(cat "$T/g.out")"
! sleeping 81 || fail "w9's task process in the hook's own group survived"
pass "fence-local-worker never kills its own process group"

# A worker that is restarted at once (a supervisor loop) is never confirmed:
# the verification sees it after every kill, until SCHED_FENCE_TIMEOUT.
(while :; do "$T/bin/workerd" --name "$N4" -c "$T/c1/cluster.conf"; done) 2>/dev/null &
SUP=$!
PIDS+=("$SUP")
disown $!
wait_until 10 "w4 started" pgrep -f "$T/bin/workerd --name $N4 " >/dev/null
hook env SCHED_FENCE_TIMEOUT=1 "$HOOKS/fence-local-worker" "$N4" 127.0.0.1:7004 1
want_rc 1 "fence-local-worker on a respawning w4"
[ "$SECS" -le 5 ] || fail "SCHED_FENCE_TIMEOUT=1, but the hook took ${SECS}s"
out_has "still running after 1s" "fence-local-worker on a respawning w4"
out_has "NOT confirmed" "fence-local-worker on a respawning w4"
kill -KILL "$SUP"
pkill -KILL -f "$T/bin/workerd --name $N4 "
pass "fence-local-worker: a workerd that keeps coming back is not confirmed (exit 1 after the timeout)"

# A workerd the hook may not kill (another user's): not confirmed.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	fake_workerd W5 "$N5" "$T/c1"
	hook setpriv --reuid=65534 --regid=65534 --clear-groups \
		env SCHED_FENCE_TIMEOUT=1 "$HOOKS/fence-local-worker" "$N5" 127.0.0.1:7005 1
	want_rc 1 "fence-local-worker as nobody on root's w5"
	out_has "kill failed" "fence-local-worker as nobody on root's w5"
	alive "$W5" || fail "w5 died, though nobody may not kill it"
	pass "fence-local-worker: a workerd it may not kill is not confirmed (exit 1)"
else
	echo "skip: unkillable-process check (needs root and setpriv)"
fi

# The pid-file way: a workerd named in its config file (no --name).
"$T/bin/workerd" -c "$T/c1/w6.conf" &
W6=$!
PIDS+=("$W6")
disown $!
echo "$W6" >"$T/pids/$N6.pid"
sleep "300.${U}71" &
PIDS+=($!)
disown $!
echo "$!" >"$T/pids/$N7.pid" # stale: that pid is not a workerd
hook env SCHED_FENCE_PIDDIR="$T/pids" "$HOOKS/fence-local-worker" "$N6" 127.0.0.1:7006 1
want_rc 0 "fence-local-worker w6 by pid file"
! alive "$W6" || fail "w6 (from its pid file) survived"
hook env SCHED_FENCE_PIDDIR="$T/pids" "$HOOKS/fence-local-worker" "$N7" 127.0.0.1:7007 1
want_rc 0 "fence-local-worker w7 with a stale pid file"
out_has "stale pid file" "fence-local-worker w7 with a stale pid file"
sleeping 71 || fail "the process of a stale pid file was killed"
pass "fence-local-worker: SCHED_FENCE_PIDDIR finds a workerd without --name; a stale pid file hits nothing"

# Not this host: refused, nothing killed.
hook "$HOOKS/fence-local-worker" "$N2" 203.0.113.9:7002 1
want_rc 1 "fence-local-worker w2 at a foreign address"
out_has "not on this host" "fence-local-worker w2 at a foreign address"
{ alive "$W2" && sleeping 21; } || fail "w2 was killed although its address is not on this host"
hook env SCHED_FENCE_ANY_ADDRESS=1 "$HOOKS/fence-local-worker" "$N2" 203.0.113.9:7002 1
want_rc 0 "fence-local-worker w2 with SCHED_FENCE_ANY_ADDRESS=1"
{ ! alive "$W2" && ! sleeping 21; } || fail "w2 survived with SCHED_FENCE_ANY_ADDRESS=1"
pass "fence-local-worker refuses a node whose address is not on this host (exit 1)"

for args in "" "$N1" "$N1 a" "a/b 127.0.0.1:1 1" ".. 127.0.0.1:1 1"; do
	# shellcheck disable=SC2086
	hook "$HOOKS/fence-local-worker" $args
	want_rc 2 "fence-local-worker $args"
done
hook env SCHED_FENCE_TIMEOUT=soon "$HOOKS/fence-local-worker" "$N1" 127.0.0.1:1 1
want_rc 2 "SCHED_FENCE_TIMEOUT=soon"
{ alive "$W10" && sleeping 31; } || fail "w10 must have survived everything"
pass "fence-local-worker usage errors exit 2; w10 survived every fence of w1"

# ---- (b) fence-local-worker on a real cluster -------------------------------
if [ -n "${BIN:-}" ] && [ -x "$BIN/schedd" ] && [ -x "$BIN/workerd" ]; then
	R=$T/real
	mkdir -p "$R/tasks" "$R/logs"
	BASE=$((20000 + ($$ % 2000) * 20))
	cat >"$R/cluster.conf" <<CONF
[cluster]
key_file = $R/keys
scheduler = 127.0.0.1:$BASE

[scheduler]
listen = 127.0.0.1:$BASE
db = $R/schedd.db
tasks_dir = $R/tasks
heartbeat = 500ms
node_timeout = 3s

[worker]
slots = 1
log_dir = $R/logs
drain_timeout = 0
CONF
	cat >"$R/tasks/t.conf" <<CONF
[task long-a]
command = sh -c 'sleep 300.${U}61 & sleep 300.${U}62'
schedule = 0 0 1 1 *
labels = role=a

[task long-b]
command = sleep 300.${U}63
schedule = 0 0 1 1 *
labels = role=b
CONF
	ctl() { "$BIN/schedctl" -c "$R/cluster.conf" "$@"; }
	RWS=()
	ctl keygen --out "$R/keys" >/dev/null || fail "schedctl keygen"
	"$BIN/schedd" -c "$R/cluster.conf" >>"$R/schedd.log" 2>&1 &
	SCHEDD=$!
	DAEMONS+=("$SCHEDD")
	disown $!
	wait_until 10 "schedd answers" ctl status >/dev/null 2>&1
	for n in 1 2; do
		role=a
		[ $n = 2 ] && role=b
		"$BIN/workerd" -c "$R/cluster.conf" --name "w$n" --listen "127.0.0.1:$((BASE + n))" \
			--db "$R/w$n.db" --labels "role=$role" >>"$R/w$n.log" 2>&1 &
		DAEMONS+=($!)
		disown $!
		RWS+=($!)
	done
	RW1=${RWS[0]}
	RW2=${RWS[1]}
	ctl run long-a >/dev/null || fail "schedctl run long-a"
	ctl run long-b >/dev/null || fail "schedctl run long-b"
	wait_until 20 "both tasks run" all_sleeping 61 62 63
	hook env SCHED_FENCE_CLUSTER="$R/" "$HOOKS/fence-local-worker" w1 "127.0.0.1:$((BASE + 1))" 1
	want_rc 0 "fence-local-worker w1 (real cluster)"
	! alive "$RW1" || fail "the real w1 workerd survived"
	{ ! sleeping 61 && ! sleeping 62; } || fail "a process of w1's task survived"
	{ alive "$RW2" && sleeping 63; } || fail "w2 or its task was killed"
	alive "$SCHEDD" || fail "schedd was killed"
	pass "fence-local-worker on a real cluster: w1's workerd and task processes gone, w2 and schedd untouched"
else
	echo "skip: real-cluster check (BIN not set)"
fi

# ---- (c) fence-agent against the fake agent ---------------------------------
A=$T/agent
mkdir -p "$A"
PW="pw-$U-Xy7"
echo "$PW" >"$A/password"
echo "wrong-$U" >"$A/wrong"
chmod 600 "$A/password" "$A/wrong"
export FAKE_FENCE_EXPECT_PASSWORD_FILE="$A/password"
cat >"$A/fence-agent.conf" <<CONF
# defaults for every node
[*]
agent = $FAKE_AGENT
username = admin
password_file = $A/password
state_file = $A/{node}.state
log_file = $A/calls.log
status_interval = 0.2
status_timeout = 10

[n-ok]
plug = port-{node}

[n-fail]
mode = fail

[n-lie]
mode = lie
status_timeout = 2

[n-lag]
status_lag = 2

[n-hang]
mode = hang
off_timeout = 1

[n-statusfail]
mode = status_fail
status_timeout = 1

[n-leak]
leak = 1
snmp_priv_passwd = snmp-$U-secret

[n-badpw]
password_file = $A/wrong

[n-action]
action = reboot
CONF
export SCHED_FENCE_AGENT_CONF=$A/fence-agent.conf
calls_of() { grep -c "action=$2 nodename=$1 " "$A/calls.log" 2>/dev/null; }

hook "$HOOKS/fence-agent" n-ok 10.0.0.1:7000 1
want_rc 0 "fence-agent n-ok"
out_has "confirmed off" "fence-agent n-ok"
[ "$(cut -d' ' -f1 "$A/calls.log" | tr '\n' ' ')" = "action=off action=status " ] ||
	fail "fence-agent n-ok: expected off then status, agent saw: $(cat "$A/calls.log")"
grep -q "^off" "$A/n-ok.state" || fail "the fake machine n-ok is not off"
grep -q "plug=port-n-ok argc=0 password_ok=1 password_in_env=0" "$A/calls.log" ||
	fail "the agent did not get plug={node}, the password on stdin only, and no arguments: $(cat "$A/calls.log")"
pass "fence-agent: off, then status OFF (exit 2) -> exit 0; options on stdin, {node} replaced"

hook "$HOOKS/fence-agent" n-fail 10.0.0.2:7000 1
want_nonzero "fence-agent n-fail"
out_has "Unable to connect/login" "fence-agent n-fail shows the agent's error"
[ "$(calls_of n-fail status)" = 0 ] || fail "fence-agent n-fail asked for the status after a failed off"
pass "fence-agent: a failing off action is not confirmed"

hook "$HOOKS/fence-agent" n-lie 10.0.0.3:7000 1
want_nonzero "fence-agent n-lie"
{ [ "$SECS" -ge 1 ] && [ "$SECS" -le 8 ]; } || fail "fence-agent n-lie: status_timeout=2, took ${SECS}s"
[ "$(calls_of n-lie status)" -ge 3 ] || fail "fence-agent n-lie: the status was not polled"
out_has "did not confirm OFF" "fence-agent n-lie"
pass "fence-agent: an agent whose off succeeds while the status stays ON is not confirmed, after status_timeout"

hook "$HOOKS/fence-agent" n-lag 10.0.0.4:7000 1
want_rc 0 "fence-agent n-lag"
[ "$(calls_of n-lag status)" = 3 ] || fail "fence-agent n-lag: expected 3 status queries, got $(calls_of n-lag status)"
pass "fence-agent: polls the status until it turns OFF"

hook "$HOOKS/fence-agent" n-hang 10.0.0.5:7000 1
want_nonzero "fence-agent n-hang"
[ "$SECS" -le 8 ] || fail "fence-agent n-hang: off_timeout=1, took ${SECS}s"
out_has "timed out after 1s" "fence-agent n-hang"
pass "fence-agent: an off action that hangs is cut at off_timeout and not confirmed"

hook "$HOOKS/fence-agent" n-statusfail 10.0.0.6:7000 1
want_nonzero "fence-agent n-statusfail"
out_has "status query failed" "fence-agent n-statusfail"
pass "fence-agent: a status that cannot be obtained is not confirmed"

hook "$HOOKS/fence-agent" n-leak 10.0.0.7:7000 1
want_rc 0 "fence-agent n-leak"
out_has "with password [hidden]" "fence-agent n-leak: the agent's output, redacted"
out_has "snmp_priv_passwd=[hidden]" "fence-agent n-leak: the options it shows, redacted"
pass "fence-agent hides secrets printed by a chatty agent"

hook "$HOOKS/fence-agent" n-badpw 10.0.0.8:7000 1
want_nonzero "fence-agent n-badpw"
before=$(wc -l <"$A/calls.log")
hook "$HOOKS/fence-agent" n-action 10.0.0.9:7000 1
want_nonzero "fence-agent n-action"
out_has "chosen by the hook" "fence-agent n-action"
hook "$HOOKS/fence-agent" n-nowhere 10.0.0.10:7000 1
want_nonzero "fence-agent for an unconfigured node"
out_has "no section [n-nowhere]" "fence-agent for an unconfigured node"
[ "$(wc -l <"$A/calls.log")" = "$before" ] || fail "the agent was called for a refused configuration"
hook env SCHED_FENCE_AGENT_CONF="$A/missing.conf" "$HOOKS/fence-agent" n-ok 10.0.0.1:7000 1
want_nonzero "fence-agent without a configuration file"
hook "$HOOKS/fence-agent" n-ok
want_rc 2 "fence-agent usage"
pass "fence-agent: wrong password, configured action, unconfigured node, missing file are not confirmed"

grep -qF -e "$PW" -e "snmp-$U-secret" "$T/all.out" &&
	fail "a secret appears in a hook's output: $(grep -F -e "$PW" -e "snmp-$U-secret" "$T/all.out")"
grep -q "password_in_env=1\|argc=[1-9]" "$A/calls.log" && fail "the agent got the password by arguments or environment"
pass "fence-agent: the password never appears in the hook's output, the agent's arguments or environment"

# ---- (d) fence-manual -------------------------------------------------------
mkdir -p "$T/fakebin" "$T/empty"
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s"\n' "$T/logger.out" >"$T/fakebin/logger"
chmod +x "$T/fakebin/logger"
hook env PATH="$T/fakebin:$PATH" "$HOOKS/fence-manual" w7 10.0.0.7:7000 4
want_rc 1 "fence-manual"
grep -qF "schedctl fence confirm w7" "$T/err" || fail "fence-manual does not print the confirm command on stderr"
grep -qF "schedctl fence confirm w7" "$T/logger.out" 2>/dev/null || fail "fence-manual did not log through logger"
grep -qF -- "-t sched-fence" "$T/logger.out" || fail "fence-manual: logger without the sched-fence tag"
hook env PATH="$T/empty" "$HOOKS/fence-manual" w8 10.0.0.8:7000 4
want_rc 1 "fence-manual without logger"
out_has "schedctl fence confirm w8" "fence-manual without logger"
hook "$HOOKS/fence-manual"
want_rc 2 "fence-manual usage"
pass "fence-manual never confirms (exit 1) and asks for: schedctl fence confirm NODE"

for h in fence-local-worker fence-agent fence-manual; do
	[ -x "$HOOKS/$h" ] || fail "$HOOKS/$h is not executable"
done
echo "all fence hook checks passed"
