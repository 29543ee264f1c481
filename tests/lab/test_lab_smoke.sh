#!/bin/bash
# test_lab_smoke.sh - the fault lab works: four hosts in network namespaces
# (schedd on h0, workerd on h1..h3), a task runs, and every fault primitive
# does what it says, shown by the scheduler's gossip view or by a UDP probe
# that is independent of the daemons:
#   (a) the cluster comes up: three workers alive in `schedctl members`
#   (b) a task from a schedule file in LAB_DIR runs on a worker
#   (c) lab_isolate: the worker is dead at the scheduler within 10 s, a
#       probe gets nothing through; lab_heal: alive again
#   (d) lab_partition_oneway 1 2: 1 -> 2 gets nothing, 2 -> 1 everything;
#       lab_clear restores it; lab_partition blocks both ways
#   (e) lab_loss 100 = isolation (dead, then alive after the heal);
#       lab_loss 50 drops about half
#   (f) lab_dup 100 doubles every datagram (probe count, nft counter) and
#       the scheduler refuses the copies as replays; lab_dup 50 about half
#   (f2) lab_delay 1 100: a UDP echo between h2 and h1 takes about 200 ms;
#       lab_delay 1 0 40 (jitter) reorders numbered datagrams, loses none;
#       lab_clear: back to under 50 ms
#   (g) a worker started with --clock -30s: its log and `date` run with its
#       clock are 30 s behind, its monotonic clock is not, it is alive
#   (h) the lab's fence hook: a worker running a task is isolated, schedd
#       fences it (the hook kills everything in its namespace), the retry
#       runs on another worker; lab_restart brings the node back
#   (i) lab_down leaves no namespace, interface, process or state directory
# Needs root, nftables, python3, libfaketime (apt-get install faketime) and
# the built binaries (make).  Bounded by `timeout`; the lab's traps tear it
# down on every exit path.  Exit 77: cannot run here (not root...).
set -u
if [ -z "${LAB_SMOKE_TIMED:-}" ]; then
	LAB_SMOKE_TIMED=1 exec timeout -s TERM --kill-after=15 "${LAB_SMOKE_TIMEOUT:-150}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
command -v nft >/dev/null || { echo "skip: needs nft (apt-get install nftables)"; exit 77; }
# shellcheck source=netlab.sh
. "$HERE/netlab.sh"
[ -x "$LAB_BIN/workerd" ] || { echo "FAIL: build first (make): no $LAB_BIN/workerd" >&2; exit 1; }
lab__faketime_lib >/dev/null || { echo "skip: needs libfaketime (apt-get install faketime)"; exit 77; }

T0=$EPOCHREALTIME
pass() { echo "ok: $* ($(elapsed)s)"; }
elapsed() { python3 -c "print('%.1f' % ($EPOCHREALTIME - $T0))"; }
fail() {
	echo "FAIL: $*" >&2
	if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
		lab_ctl members >&2 2>/dev/null
		for f in "$LAB_DIR"/*.log; do
			[ -f "$f" ] && { echo "--- $f (tail)"; tail -n 15 "$f"; } >&2
		done
		lab_counters >&2 2>/dev/null
	fi
	exit 1
}
# wait_member NAME STATE SECS: the scheduler sees NAME in STATE within SECS.
wait_member() {
	lab_wait "$3" "$1 $2 at the scheduler" lab_member_is "$1" "$2" ||
		fail "$1 is $(lab_member_state "$1"), not $2, after $3 s"
}
# probe_is A B WANT WHY: the UDP probe A -> B (20 datagrams) gets WANT.
probe_is() {
	local got
	got=$(lab_udp_probe "$1" "$2")
	[ "$got" = "$3" ] || fail "$4: probe h$1 -> h$2 got '$got' datagrams, want $3"
}
# probe_between A B COUNT LO HI WHY: a COUNT-datagram probe gets LO..HI.
probe_between() {
	local got
	got=$(lab_udp_probe "$1" "$2" "$3")
	[ -n "$got" ] && [ "$got" -ge "$4" ] && [ "$got" -le "$5" ] ||
		fail "$6: probe h$1 -> h$2 got '$got' of $3, want $4..$5"
	echo "$got"
}
host_links() { ip -o link show | awk -F': ' '{ print $2 }' | sort; }

links_before=$(host_links)
lab_up 4 || fail "lab_up"
PREFIX=$LAB_PREFIX
DIR=$LAB_DIR
[ "$(ip netns list | grep -c "^$PREFIX")" = 5 ] || fail "want 5 namespaces: $(ip netns list)"
[ "$(host_links)" = "$links_before" ] || fail "lab_up changed the host's interfaces"
pass "lab_up 4: 5 namespaces, host interfaces untouched"

# ---- (a) cluster -----------------------------------------------------------------
cat >"$LAB_DIR/tasks/smoke.conf" <<CONF
[task smoke]
command = echo "\$SCHED_NODE \$SCHED_RUN_ID" >> $LAB_DIR/ran
schedule = 0 0 1 1 *

[task long]
command = echo "\$SCHED_NODE \$SCHED_RUN_ID \$SCHED_ATTEMPT" >> $LAB_DIR/long; exec sleep 300
schedule = 0 0 1 1 *
retries = 1
CONF
lab_config || fail "lab_config"
# Faults follow each other closely here: no storm pause (rule 7) for
# deaths more than a second apart.
lab_start_schedd --set scheduler.fence_storm_window=1s || fail "schedd does not answer"
for i in 1 2 3; do lab_start_worker "$i" || fail "start w$i"; done
for i in 1 2 3; do wait_member "w$i" alive 20; done
pass "(a) schedd on h0, w1..w3 alive in schedctl members"

# ---- (b) a task runs on a worker -------------------------------------------------
rid=$(lab_ctl --json run smoke | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])') ||
	fail "schedctl run smoke"
run_done() { lab_ctl --json logs "$rid" | grep -q '"state": "succeeded"'; }
lab_wait 15 "run $rid succeeded" run_done || fail "run $rid: $(lab_ctl logs "$rid" 2>&1 | head -5)"
grep -Eq "^w[123] $rid\$" "$LAB_DIR/ran" || fail "run $rid left no line in ran: $(cat "$LAB_DIR/ran" 2>&1)"
pass "(b) task smoke ran on $(cut -d' ' -f1 "$LAB_DIR/ran") (run $rid)"

# ---- (c) isolate ---------------------------------------------------------------------
t=$EPOCHSECONDS
lab_isolate 2 || fail "lab_isolate 2"
wait_member w2 dead 10
dt=$((EPOCHSECONDS - t))
probe_is 1 2 0 "isolated"
probe_is 2 0 0 "isolated"
probe_is 1 3 20 "not isolated"
pass "(c) lab_isolate 2: w2 dead at the scheduler after ${dt}s, no datagram to or from h2"
lab_heal || fail "lab_heal"
[ -z "$(lab_faults)" ] || fail "faults left after heal: $(lab_faults)"
wait_member w2 alive 15
probe_is 1 2 20 "healed"
pass "(c) lab_heal: w2 alive again, probes pass"

# ---- (d) one-way and two-way partitions ----------------------------------------------
lab_partition_oneway 1 2 || fail "lab_partition_oneway 1 2"
probe_is 1 2 0 "one-way 1 -/-> 2"
probe_is 2 1 20 "one-way 1 -/-> 2, the other way"
probe_is 1 3 20 "one-way 1 -/-> 2, another host"
lab_clear oneway_h1_h2 || fail "lab_clear oneway_h1_h2"
probe_is 1 2 20 "one-way cleared"
pass "(d) lab_partition_oneway 1 2: h1 -> h2 dropped, h2 -> h1 passes; lab_clear lifts it"
lab_partition 3 1 || fail "lab_partition 3 1"
lab_faults | grep -qx part_h1_h3 || fail "lab_faults does not list part_h1_h3: $(lab_faults)"
probe_is 1 3 0 "partition 1-3"
probe_is 3 1 0 "partition 1-3"
probe_is 3 2 20 "partition 1-3, another pair"
lab_clear part_h1_h3 || fail "lab_clear part_h1_h3"
probe_is 3 1 20 "partition 1-3 cleared"
pass "(d) lab_partition 3 1: both ways dropped, other pairs pass; cleared"

# ---- (e) loss ---------------------------------------------------------------------------
t=$EPOCHSECONDS
lab_loss 3 100 || fail "lab_loss 3 100"
wait_member w3 dead 10
dt=$((EPOCHSECONDS - t))
probe_is 3 1 0 "loss 100"
probe_is 1 3 0 "loss 100"
pass "(e) lab_loss 3 100: w3 dead after ${dt}s, no datagram either way"
lab_loss 3 0 || fail "lab_loss 3 0"
wait_member w3 alive 15
n=$(probe_between 1 3 20 20 20 "loss removed") || exit 1
lab_loss 1 50 || fail "lab_loss 1 50"
# 200 datagrams, each lost with p = 0.5: 100 +- 7; outside 40..160 is
# beyond 8 standard deviations.
n=$(probe_between 1 2 200 40 160 "loss 50 from h1") || exit 1
m=$(probe_between 2 1 200 40 160 "loss 50 to h1") || exit 1
lab_clear loss_h1 || fail "lab_clear loss_h1"
pass "(e) lab_loss 3 0: w3 alive again; lab_loss 1 50: $n/200 and $m/200 got through"

# ---- (f) duplication ---------------------------------------------------------------------
lab_dup 1 100 || fail "lab_dup 1 100"
probe_is 2 1 40 "dup 100 at h1"
probe_is 1 2 20 "dup at h1 only"
copies=$(lab__brnft list chain netdev lab dup_h1 | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
[ -n "$copies" ] && [ "$copies" -ge 20 ] || fail "dup counter shows $copies copies, want >= 20"
lab_dup 1 50 || fail "lab_dup 1 50"
n=$(probe_between 2 1 200 240 360 "dup 50 at h1") || exit 1
lab_clear dup_h1 || fail "lab_clear dup_h1"
probe_is 2 1 20 "dup cleared"
pass "(f) lab_dup 1 100: 20 sent, 40 received (counter: $copies copies); lab_dup 1 50: 200 sent, $n received"
refused() { lab_ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["scheduler"]["datagrams_refused"])'; }
r0=$(refused) || fail "schedctl status"
lab_dup 0 100 || fail "lab_dup 0 100"
more_refused() { [ "$(refused)" -ge $((r0 + 10)) ]; }
lab_wait 10 "schedd refuses 10 duplicated datagrams" more_refused || fail "datagrams_refused $r0 -> $(refused)"
r1=$(refused)
lab_clear dup_h0 || fail "lab_clear dup_h0"
for i in 1 2 3; do wait_member "w$i" alive 5; done
pass "(f) lab_dup 0 100: schedd refused $((r1 - r0)) duplicated datagrams as replays; workers stay alive"

# ---- (f2) delay and reordering ----------------------------------------------------------
r0=$(lab_rtt 2 1) || fail "lab_rtt 2 1"
lab_delay 1 100 || fail "lab_delay 1 100"
r1=$(lab_rtt 2 1)
[ "$r1" != none ] && [ "$r1" -ge 190 ] && [ "$r1" -le 500 ] || fail "round trip to h1 with 100 ms delay: $r1 ms"
r3=$(lab_rtt 2 3)
[ "$r3" != none ] && [ "$r3" -le 50 ] || fail "round trip h2-h3 with a delay at h1: $r3 ms"
lab_delay 1 0 40 || fail "lab_delay 1 0 40"
read -r got late < <(lab_udp_order 2 1 100 2)
[ "$got" = 100 ] && [ "$late" -gt 0 ] || fail "jitter 0..40 ms: $got of 100 received, $late out of order"
lab_clear delay_h1 || fail "lab_clear delay_h1"
r2=$(lab_rtt 2 1)
[ "$r2" != none ] && [ "$r2" -le 50 ] || fail "round trip to h1 after the delay: $r2 ms"
for i in 1 2 3; do wait_member "w$i" alive 15; done
pass "(f2) lab_delay 1 100: round trip ${r0} -> ${r1} ms (h2-h3 ${r3} ms); jitter 40 ms: $late of 100 out of order, none lost; cleared: ${r2} ms"

# ---- (g) a worker with a wrong wall clock --------------------------------------------------
lab_kill w3 KILL || fail "lab_kill w3 KILL"
lab_wait 5 "w3 gone" lab__not_running w3 || fail "w3 survives SIGKILL"
lines=$(wc -l <"$LAB_DIR/w3.log")
real=$EPOCHSECONDS
lab_start_worker 3 --clock -30s || fail "start w3 with --clock -30s"
grep -q '^FAKETIME=-30s$' <(tr '\0' '\n' <"/proc/$(lab_pid w3)/environ") || fail "w3 has no FAKETIME in its environment"
lab_wait 5 "w3 logs" sh -c "[ \$(wc -l < '$LAB_DIR/w3.log') -gt $lines ]" || fail "w3 logged nothing"
logged=$(tail -n +"$((lines + 1))" "$LAB_DIR/w3.log" | head -n 1 | cut -d' ' -f1)
skew=$(python3 -c "
from datetime import datetime
print(round(datetime.fromisoformat('$logged'.replace('Z', '+00:00')).timestamp() - $real))") ||
	fail "cannot read a time stamp in w3's log: '$logged'"
[ "$skew" -ge -33 ] && [ "$skew" -le -27 ] || fail "w3's log is ${skew}s off the real clock, want about -30"
ft=(env LD_PRELOAD="$(lab__faketime_lib)" FAKETIME=-30s FAKETIME_DONT_FAKE_MONOTONIC=1)
d_in=$(lab_exec 3 "${ft[@]}" date +%s)
d_out=$(date +%s)
[ $((d_out - d_in)) -ge 28 ] && [ $((d_out - d_in)) -le 32 ] || fail "date in h3 with w3's clock: $d_in, outside $d_out"
mono_in=$(lab_exec 3 "${ft[@]}" python3 -c 'import time; print(time.monotonic_ns())')
mono_out=$(python3 -c 'import time; print(time.monotonic_ns())')
[ $(((mono_out - mono_in) / 1000000000)) -eq 0 ] || fail "monotonic clock shifted: $mono_in inside, $mono_out outside"
wait_member w3 alive 15
pass "(g) w3 with --clock -30s: log ${skew}s, date $((d_in - d_out))s, monotonic unshifted, alive"

# ---- (h) the fence hook ------------------------------------------------------------------
lrid=$(lab_ctl --json run long | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])') ||
	fail "schedctl run long"
lab_wait 15 "run $lrid started" grep -q " $lrid 1\$" "$LAB_DIR/long" || fail "run $lrid did not start"
node=$(cut -d' ' -f1 "$LAB_DIR/long")
k=${node#w}
lab_isolate "$k" || fail "lab_isolate $k"
lab_wait 20 "$node fenced by the hook" grep -q "fenced $node " "$LAB_DIR/fence.log" ||
	fail "no fence of $node: $(lab_ctl fence list 2>&1)"
[ -z "$(ip netns pids "$(lab_ns "$k")")" ] || fail "processes left in h$k after its fence"
lab_wait 20 "retry started" sh -c "[ \$(wc -l < '$LAB_DIR/long') -ge 2 ]" || fail "no retry of run $lrid"
read -r node2 rid2 attempt2 < <(sed -n 2p "$LAB_DIR/long")
[ "$node2" != "$node" ] && [ "$attempt2" = 2 ] || fail "retry: $(sed -n 2p "$LAB_DIR/long")"
lost() { lab_ctl --json logs "$lrid" | grep -q '"state": "lost"'; }
lab_wait 5 "run $lrid lost" lost || fail "run $lrid: $(lab_ctl logs "$lrid" 2>&1 | head -3)"
lab_heal || fail "lab_heal"
lab_restart "$node" || fail "lab_restart $node"
wait_member "$node" alive 15
lab_ctl cancel "$rid2" >/dev/null || fail "cancel run $rid2"
pass "(h) fence hook: $node isolated, fenced (powered off), run $lrid lost, retry $rid2 on $node2; $node restarted, alive"

# ---- (i) teardown leaves nothing -----------------------------------------------------------
pids=$(cat "$LAB_DIR"/run/*.pid)
lab_down || fail "lab_down reported leftovers"
lab_down || fail "a second lab_down failed"
[ -z "$(ip netns list | grep "^$PREFIX")" ] || fail "namespaces left: $(ip netns list | grep "^$PREFIX")"
[ "$(host_links)" = "$links_before" ] || fail "host interfaces differ after lab_down: $(diff <(echo "$links_before") <(host_links))"
if [ "${LAB_KEEP:-0}" = 1 ]; then
	[ -d "$DIR" ] || fail "LAB_KEEP=1 but $DIR is gone"
else
	[ ! -e "$DIR" ] || fail "state directory $DIR left"
fi
gone() { local p; for p in $pids; do [ -e "/proc/$p" ] && return 1; done; return 0; }
lab_wait 5 "daemons reaped" gone || fail "processes left: $(for p in $pids; do ps -o pid=,stat=,args= -p "$p"; done)"
! pgrep -f "$DIR" >/dev/null || fail "processes mention $DIR: $(pgrep -af "$DIR")"
pass "(i) lab_down: no namespace, interface, process or state directory left"
