#!/bin/bash
# Crashes, pauses and garbage around a running task, with real processes on
# loopback (LEASE=3s, HEARTBEAT=500ms):
#  (a) workerd SIGKILLed while its task runs: gossip declares it dead and
#      the scheduler fences it; with no fence hook configured the run stays
#      active (fencing, DESIGN rules 3 and 4) and the worker is shown as
#      fencing; the restarted workerd (same --db) kills the orphaned
#      process, ends the run as failed with an error naming the restart
#      (which calls the fence off), and the task runs again (its retry, a
#      new run with a higher token).  This is the
#      "kill, don't adopt" policy of worker/runs.c (agent_reconcile): a new
#      workerd cannot recover the output pipe or the exit status of a
#      process it did not start, so it never adopts one.  A task whose main
#      process ended while workerd was down but left a background process
#      behind gets that process killed too.
#  (b) self-fencing: schedd SIGSTOPped, so nobody renews the lease; within
#      about a lease the worker kills the task; after SIGCONT the run is
#      failed with an error about the lease.
#  (c) a schedd SIGKILL + restart shorter than the lease does not touch a
#      running task: the same run finishes succeeded and no second copy
#      was ever started.
#  (d) random bytes, short, oversized, and tampered or truncated copies of a
#      real datagram, sent to schedd and to a worker: both keep running,
#      schedd counts them in datagrams_refused, tasks still run.
. "$(dirname "$0")/lib.sh"

unique_sleeps
dead() { ! kill -0 "$1" 2>/dev/null; }
worker_state() { ctl --json status | json "[w['state'] for w in j['workers'] if w['name']=='$1'][0]"; }
ENDED="succeeded failed timed_out cancelled lost"

LEASE=3s HEARTBEAT=500ms write_config
NEVER='0 0 1 1 *' # far away: only `schedctl run` (and retries) start these
cat >"$T/tasks/restart.conf" <<CONF
[task orphan]
command = echo "attempt \$SCHED_ATTEMPT token \$SCHED_FENCE_TOKEN" >> $T/orphan.runs; if [ "\$SCHED_ATTEMPT" = 1 ]; then sleep 63.${U}1; fi
schedule = $NEVER
retries = 1
retry_backoff = 1s

[task orphan-bg]
command = sleep 65.${U}2 & sleep 2
schedule = $NEVER

[task survivor]
command = echo "start \$SCHED_RUN_ID" >> $T/survivor.runs; sleep 5.${U}3; echo "end \$SCHED_RUN_ID" >> $T/survivor.runs
schedule = $NEVER

[task fenced]
command = sleep 64.${U}1
schedule = $NEVER

[task after-noise]
command = echo "still working $U"
schedule = $NEVER
CONF

start_schedd
start_worker 1 --slots 4
wait_for 10 "w1 alive" workers_alive 1

# ---- (a) workerd killed under its task: kill, don't adopt -------------------
O="sleep 63\.${U}1([^0-9]|$)"
ro=$(trigger orphan) || fail "schedctl run orphan"
wait_for 5 "orphan running" eval 'run_in $ro running && procs "$O"'
B="sleep 65\.${U}2([^0-9]|$)"
rb=$(trigger orphan-bg) || fail "schedctl run orphan-bg"
wait_for 5 "orphan-bg running" eval 'run_in $rb running && procs "$B"'
tok1=$(field "$ro" token)
old_w1=$W1_PID
kill -KILL "$W1_PID"
wait_for 5 "workerd w1 gone" dead "$old_w1"
procs "$O" || fail "the task died with workerd (expected an orphan for the restart to find)"
wait_for 8 "w1 fenced at the scheduler" eval '[ "$(worker_state w1)" = fencing ]'
run_in "$ro" fencing || fail "run $ro is $(field "$ro" state) while its worker is fenced, want fencing"
ctl --json status | json "[r['note'] for r in j['runs'] if r['run_id']==$ro][0]" | grep -q "being fenced" ||
	fail "status does not say the run's worker is being fenced"
wait_for 5 "orphan-bg's main process ended" no_procs "^sh -c sleep 65\.${U}2"
procs "$B" || fail "orphan-bg's background sleep did not outlive its main process"
pass "workerd SIGKILLed: the task survives, the run stays active (fencing, no hook)"
start_worker 1 --slots 4
wait_for 5 "the restarted workerd killed the orphaned task" no_procs "$O"
wait_for 5 "the restarted workerd killed what orphan-bg left behind" no_procs "$B"
wait_for 10 "run $ro ended" run_in "$ro" $ENDED
wait_for 10 "run $rb ended" run_in "$rb" $ENDED
[ "$(field "$rb" state)" = failed ] || fail "orphan-bg run ended $(field "$rb" state), want failed"
[ "$(field "$ro" state)" = failed ] || fail "orphan run ended $(field "$ro" state), want failed"
err=$(field "$ro" error)
case "$err" in *restart*) ;; *) fail "orphan run's error '$err' does not mention the restart" ;; esac
pass "restarted workerd killed the orphan; run $ro failed: $err"
wait_for 10 "orphan ran again" eval \
	"ctl --json history orphan | json 'len(j)==2 and j[0][\"state\"]==\"succeeded\"' | grep -qx True"
ctl --json history orphan >"$T/orphan.json" || fail "history orphan"
python3 - "$T" "$ro" "$tok1" <<'PY' || fail "(a) orphan ran again"
import json, sys
T, ro, tok1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h = json.load(open(f"{T}/orphan.json"))
new = [r for r in h if r["run_id"] != ro][0]
if not (new["token"] > tok1 and new["attempt"] == 2 and new["node"] == "w1"):
    sys.exit(f"second run {new} should be attempt 2 on w1 with a token above {tok1}")
lines = open(f"{T}/orphan.runs").read().split("\n")[:-1]
if lines != [f"attempt 1 token {tok1}", f"attempt 2 token {new['token']}"]:
    sys.exit(f"executions: {lines}")
print(f"ok: orphan ran again as run {new['run_id']} (token {new['token']} > {tok1})")
PY

# ---- (c) schedd SIGKILL + quick restart: running work is untouched -------
S="sleep 5\.${U}3([^0-9]|$)"
rs=$(trigger survivor) || fail "schedctl run survivor"
wait_for 5 "survivor running" eval 'run_in $rs running && procs "$S"'
kill -KILL "$SCHEDD_PID"
sleep 0.5
start_schedd
pass "schedd SIGKILLed and restarted while survivor runs"
procs "$S" || fail "survivor's process died across the scheduler restart"
wait_for 15 "survivor ended" run_in "$rs" $ENDED
[ "$(field "$rs" state)" = succeeded ] || fail "survivor ended $(field "$rs" state): $(field "$rs" error)"
[ "$(ctl --json history survivor | json '[r["run_id"] for r in j]')" = "[$rs]" ] ||
	fail "survivor history: $(ctl --json history survivor | json '[(r["run_id"], r["state"]) for r in j]')"
[ "$(cat "$T/survivor.runs")" = "$(printf 'start %s\nend %s' "$rs" "$rs")" ] ||
	fail "survivor executions: $(tr '\n' ' ' <"$T/survivor.runs")"
pass "survivor run $rs finished succeeded, started once, across the scheduler restart"

# ---- (b) self-fencing: nobody renews the lease ---------------------------
F="sleep 64\.${U}1([^0-9]|$)"
rf=$(trigger fenced) || fail "schedctl run fenced"
wait_for 5 "fenced running" eval 'run_in $rf running && procs "$F"'
sleep 1 # some renewals
kill -STOP "$SCHEDD_PID"
t_stop=$(date +%s.%N)
sleep 1
procs "$F" || fail "fenced task died 1 s after the scheduler stopped, well before its lease ended"
wait_for 8 "the worker killed the fenced task" no_procs "$F"
took=$(python3 -c "import time; print(round(time.time() - $t_stop, 1))")
python3 -c "import sys; sys.exit(0 if 2.0 <= $took <= 7.0 else 1)" ||
	fail "fenced task killed ${took}s after the scheduler stopped; lease is 3s"
kill -CONT "$SCHEDD_PID"
pass "worker killed the task ${took}s after the scheduler stopped (lease 3s)"
wait_for 10 "fenced ended" run_in "$rf" $ENDED
[ "$(field "$rf" state)" = failed ] || fail "fenced ended $(field "$rf" state), want failed"
err=$(field "$rf" error)
case "$err" in *lease*) ;; *) fail "fenced run's error '$err' does not mention the lease" ;; esac
pass "run $rf failed: $err"
wait_for 5 "w1 alive again" workers_alive 1

# ---- (d) garbage datagrams ----------------------------------------------
refused0=$(ctl --json status | json 'j["scheduler"]["datagrams_refused"]') || fail "status"
# A throwaway worker w9 whose "scheduler" is our Python socket hands us a
# real, authenticated HELLO to tamper with.
CAP_PORT=$((BASE_PORT + 10))
python3 - "$T/keys" "$CAP_PORT" "127.0.0.1:${SCHED_ADDR##*:}" "127.0.0.1:$((BASE_PORT + 1))" \
	>"$T/noise.out" 2>&1 <<'PY' &
import hashlib, os, socket, sys
keyfile, cap_port, targets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
key = bytes.fromhex([l.strip() for l in open(keyfile) if l.strip() and not l.startswith("#")][0])
key_id = hashlib.blake2b(key, digest_size=32).digest()[:4]
cap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
cap.bind(("127.0.0.1", cap_port))
cap.settimeout(8)
real, _ = cap.recvfrom(4096)
assert real[:2] == b"SD" and len(real) > 80, "captured datagram is not a sched datagram"
def flip(b, i):
    b = bytearray(b); b[i] ^= 0x5A; return bytes(b)
hdr = b"SD" + bytes([1, 1]) + key_id + os.urandom(56)
bad = [
    b"",                                       # empty
    os.urandom(1), os.urandom(40), os.urandom(79),  # shorter than header + tag
    b"XY" + os.urandom(200),                   # bad magic
    b"SD" + bytes([99]) + os.urandom(200),     # bad version
    b"SD" + bytes([1, 1]) + bytes(4) + os.urandom(200),  # unknown key id (zero)
    hdr + os.urandom(300),                     # our key id, garbage ciphertext
    os.urandom(2000), os.urandom(65000),       # oversized
    real[:-1], real[:70], real[:len(real) // 2],  # truncated real datagram
    flip(real, len(real) - 1),                 # tampered tag
    flip(real, 70),                            # tampered ciphertext
    flip(real, 9),                             # tampered sender id (header is AD)
]
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for t in targets:
    host, port = t.rsplit(":", 1)
    for d in bad:
        out.sendto(d, (host, int(port)))
print(len(bad))
PY
NOISE_PID=$!
sleep 0.3
start_worker 9 --scheduler "127.0.0.1:$CAP_PORT"
wait "$NOISE_PID" || fail "noise sender: $(cat "$T/noise.out")"
kill -KILL "$W9_PID"
nbad=$(cat "$T/noise.out")
pass "sent $nbad bad datagrams each to schedd and to w1"
sleep 1
kill -0 "$SCHEDD_PID" 2>/dev/null || fail "schedd died from bad datagrams"
kill -0 "$W1_PID" 2>/dev/null || fail "workerd w1 died from bad datagrams"
refused1=$(ctl --json status | json 'j["scheduler"]["datagrams_refused"]') || fail "status after noise"
[ "$((refused1 - refused0))" -ge "$nbad" ] ||
	fail "datagrams_refused went from $refused0 to $refused1 after $nbad bad datagrams"
[ "$(ctl --json status | json '[w["name"] for w in j["workers"]]')" = "['w1']" ] ||
	fail "a bad datagram registered a worker: $(ctl --json status | json '[w["name"] for w in j["workers"]]')"
wait_for 5 "w1 alive after the noise" workers_alive 1
ra=$(trigger after-noise) || fail "schedctl run after-noise"
wait_for 10 "after-noise succeeded" run_in "$ra" succeeded
[ "$(field "$ra" node)" = w1 ] || fail "after-noise ran on $(field "$ra" node)"
pass "schedd refused $((refused1 - refused0)) datagrams; both daemons alive; tasks still run"
