#!/bin/bash
# chaos.sh - the fault lab's seeded chaos driver (manual: tests/lab/CHAOS.md).
#
#   tests/lab/chaos.sh [--seed N] [--duration SECONDS] [--out DIR]
#   make chaos SEED=N DURATION=SECONDS
#
# Five hosts (schedd on h0, workerd w1..w4), four test tasks that record
# every execution with sched-interval, then DURATION seconds of faults drawn
# from SEED by chaos_plan.py before anything runs (the same seed gives the
# same schedule: its hash is printed).  Workers the fence hook powers off are
# restarted a few seconds later.  Then: heal everything, run clean for a
# while, quiesce every task, collect the history, run check.py, judge the
# fencings and print a summary; SVG timeline next to it (report_svg.py).
# Exit 0: PASS; 1: FAIL (a broken promise, a false fencing, a daemon that
# died by itself, or a cluster that would not quiesce); 77: cannot run here.
# Everything is torn down on every exit path (the lab's traps); the
# results stay in --out (var/chaos/seed-N-TIME by default), the lab's state
# directory too with LAB_KEEP=1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

SEED=${SEED:-}
DURATION=${DURATION:-120}
OUT=${CHAOS_OUT:-}
while [ $# -gt 0 ]; do
	case $1 in
	--seed) SEED=${2:-}; shift 2 ;;
	--duration) DURATION=${2:-}; shift 2 ;;
	--out) OUT=${2:-}; shift 2 ;;
	-h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "chaos: unknown argument '$1' (--seed N --duration S --out DIR)" >&2; exit 2 ;;
	esac
done
[ -n "$SEED" ] || SEED=$(python3 -c 'import secrets; print(secrets.randbelow(10**9))')
case $SEED in '' | *[!0-9]*) echo "chaos: SEED must be a number, not '$SEED'" >&2; exit 2 ;; esac
case $DURATION in '' | *[!0-9]*) echo "chaos: DURATION must be whole seconds" >&2; exit 2 ;; esac
[ "$DURATION" -ge 10 ] || { echo "chaos: DURATION must be at least 10 s" >&2; exit 2; }

# Settings (CHAOS.md): the lease short so that pauses outlive it, fencing
# storms only for deaths within a few seconds (the scheduler cut off), a
# powered-off worker back after a few seconds, a few clean fire periods.
WORKERS=4
LEASE_S=${CHAOS_LEASE:-5}
STORM_WINDOW=${CHAOS_STORM_WINDOW:-5s}
FENCE_RESTART_S=${CHAOS_FENCE_RESTART:-3}
SETTLE_S=${CHAOS_SETTLE:-25}
QUIESCE_S=${CHAOS_QUIESCE:-60}
FALSE_WINDOW_S=${CHAOS_FALSE_WINDOW:-10}
SI=${CHAOS_INTERVAL:-$ROOT/build/lab/sched-interval}

# Bounded in time: faults + setup, settle, quiesce and the checker.
if [ -z "${CHAOS_TIMED:-}" ]; then
	CHAOS_TIMED=1 SEED=$SEED DURATION=$DURATION CHAOS_OUT=$OUT \
		exec timeout -s TERM --kill-after=20 $((DURATION + SETTLE_S + QUIESCE_S + 150)) bash "$0"
fi

echo "chaos: seed $SEED, duration ${DURATION}s (again: make chaos SEED=$SEED DURATION=$DURATION)"
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
command -v nft >/dev/null || { echo "skip: needs nft (apt-get install nftables)"; exit 77; }
# shellcheck source=netlab.sh
. "$HERE/netlab.sh"
lab__faketime_lib >/dev/null || { echo "skip: needs libfaketime (apt-get install faketime)"; exit 77; }
for b in "$LAB_BIN/schedd" "$LAB_BIN/workerd" "$LAB_BIN/schedctl" "$SI"; do
	[ -x "$b" ] || { echo "FAIL: $b is not built (make && make lab)" >&2; exit 1; }
done

[ -n "$OUT" ] || OUT=$ROOT/var/chaos/seed-$SEED-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
PLAN=$OUT/plan.json
NOTES=$OUT/problems.txt
: >"$NOTES"

python3 "$HERE/chaos_plan.py" plan --seed "$SEED" --duration "$DURATION" --workers $WORKERS \
	--lease "$LEASE_S" --out "$PLAN" | tee "$OUT/plan.txt" || { echo "FAIL: chaos_plan.py" >&2; exit 1; }
mapfile -t ACTIONS < <(python3 "$HERE/chaos_plan.py" actions --plan "$PLAN")

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# problem TEXT: something that fails the run, though the run goes on.
problem() {
	echo "chaos: PROBLEM: $*" >&2
	echo "$*" >>"$NOTES"
}
# say TEXT: a line on stdout and in events.log, in the lab's format, so
# that the report can place it (chaos_plan.py and report_svg.py read the
# "chaos: ..." lines).
say() {
	echo "chaos: $*"
	echo "$(python3 -c 'import time; print(time.monotonic_ns())') $EPOCHREALTIME chaos: $*" \
		>>"$LAB_DIR/events.log"
}
now_ms() { local n=${EPOCHREALTIME/./}; echo $(((n - T0_US) / 1000)); }

# save: everything worth keeping goes to OUT before the teardown (also on
# a failure or Ctrl-C): the daemons' logs, events, fence log, task records.
save() {
	[ -n "${LAB_DIR:-}" ] && [ -d "$LAB_DIR" ] || return 0
	mkdir -p "$OUT/lab"
	cp "$LAB_DIR"/*.log "$LAB_DIR/cluster.conf" "$OUT/lab/" 2>/dev/null
	cp -r "$LAB_DIR/tasks" "$OUT/lab/" 2>/dev/null
	[ "${LAB_KEEP:-0}" = 1 ] && echo "chaos: lab state kept in $LAB_DIR" >&2
	echo "chaos: results in $OUT" >&2
}

# ---- the cluster -----------------------------------------------------------

lab_up $((WORKERS + 1)) >/dev/null || fail "lab_up"
lab_at_exit save
mkdir -p "$LAB_DIR/locks"
touch "$LAB_DIR/fence.log" # the hook appends to it
# Test tasks: each sleeps about its period, so that an execution twice at
# once would be likely if the promise broke; skip and queue, with and
# without retries.
task() { # NAME PERIOD SLEEP OVERLAP RETRIES
	cat <<-CONF
		[task $1]
		command = $SI $LAB_DIR/iv.\$SCHED_NODE.log $LAB_DIR/locks -- sleep $3
		schedule = every $2
		overlap = $4
		retries = $5
		retry_backoff = 1s
		timeout = 60s

	CONF
}
{
	task t3skip 3s 2.5 skip 0
	task t5skip 5s 4.5 skip 2
	task t7queue 7s 6.5 queue 1
	task t11queue 11s 12 queue 3
} >"$LAB_DIR/tasks/chaos.conf"
TASKS="t3skip t5skip t7queue t11queue"

LAB_LEASE=${LEASE_S}s lab_config >/dev/null || fail "lab_config"
lab_start_schedd --set "scheduler.fence_storm_window=$STORM_WINDOW" >/dev/null || fail "schedd does not start"
for ((i = 1; i <= WORKERS; i++)); do lab_start_worker $i >/dev/null || fail "start w$i"; done
for ((i = 1; i <= WORKERS; i++)); do
	lab_wait 20 "w$i alive" lab_member_is "w$i" alive || fail "w$i is $(lab_member_state "w$i")"
done
executions() { cat "$LAB_DIR"/iv.*.log 2>/dev/null | grep -c '^START'; }
enough() { [ "$(executions)" -ge 3 ]; }
lab_wait 20 "three executions" enough || fail "tasks do not run: $(lab_ctl status 2>&1 | head -20)"
echo "chaos: cluster up in $LAB_DIR: schedd on h0, w1..w$WORKERS, tasks $TASKS"

# ---- faults ------------------------------------------------------------------

# State of the daemons: KILLED[I] while a planned SIGKILL keeps wI down (its
# revert restarts it); CLOCK[I] the worker's wall clock offset; RESTART_AT[I]
# when to restart a worker the hook powered off; GONE_SINCE[I] since when a
# daemon is down with no reason we know of (a crash after 3 s).
declare -A KILLED=() CLOCK=() RESTART_AT=() GONE_SINCE=()
SCHEDD_KILLED=0
FENCES_SEEN=0

# start_worker I: wI (again) with its current clock; SIGKILLs it first.
start_worker() {
	local i=$1
	if lab_running "w$i"; then
		lab_kill "w$i" KILL >/dev/null || true
		lab_wait 5 "w$i gone" lab__not_running "w$i" || { problem "w$i survives SIGKILL"; return 1; }
	fi
	# shellcheck disable=SC2046
	lab_start_worker "$i" $([ -n "${CLOCK[$i]:-}" ] && echo --clock "${CLOCK[$i]}") >/dev/null ||
		problem "cannot start w$i"
}

# act +|- ID KIND ARGS...: apply or revert one fault of the plan.
act() {
	local op=$1 id=$2 kind=$3 a=${4:-} b=${5:-} c=${6:-} i
	shift 3
	say "$op $id $kind $*"
	case $kind in
	partition | partition_long) if [ "$op" = + ]; then lab_partition "$a" "$b"; else lab_clear "part_${a}_$b"; fi ;;
	oneway) if [ "$op" = + ]; then lab_partition_oneway "$a" "$b"; else lab_clear "oneway_${a}_$b"; fi ;;
	isolate_*) if [ "$op" = + ]; then lab_isolate "$a"; else lab_clear "isolate_$a"; fi ;;
	loss) if [ "$op" = + ]; then lab_loss "$a" "$b"; else lab_loss "$a" 0; fi ;;
	dup) if [ "$op" = + ]; then lab_dup "$a" "$b"; else lab_dup "$a" 0; fi ;;
	delay) if [ "$op" = + ]; then lab_delay "$a" "$b" "$c"; else lab_delay "$a" 0; fi ;;
	pause_*)
		# pause_long, pause_short: a worker; pause_sched: schedd.
		# A worker powered off meanwhile has nothing to stop or continue.
		if lab_running "$a"; then
			if [ "$op" = + ]; then lab_kill "$a" STOP; else lab_kill "$a" CONT; fi
		fi
		;;
	kill_worker)
		i=${a#w}
		if [ "$op" = + ]; then
			KILLED[$i]=1
			if lab_running "$a"; then lab_kill "$a" KILL; fi
		else
			KILLED[$i]=""
			RESTART_AT[$i]=""
			lab_running "$a" || start_worker "$i"
		fi
		;;
	kill_schedd)
		if [ "$op" = + ]; then
			SCHEDD_KILLED=1
			lab_kill schedd KILL
		else
			SCHEDD_KILLED=0
			lab_running schedd && lab_kill schedd KILL
			lab_wait 5 "schedd gone" lab__not_running schedd
			lab_restart schedd
		fi
		;;
	clock)
		i=${a#w}
		if [ "$op" = + ]; then CLOCK[$i]=$b; else CLOCK[$i]=""; fi
		RESTART_AT[$i]=""
		start_worker "$i"
		;;
	*) problem "unknown fault kind $kind" ;;
	esac >/dev/null || echo "chaos: $op $id $kind $*: failed (see above)" >&2
}

# watch: new power-offs in fence.log (restart those workers a little
# later, unless a planned kill keeps them down), restarts that are due, and
# daemons that are gone with no reason we know of.
watch() {
	local n line node i now
	now=$(now_ms)
	n=$(wc -l <"$LAB_DIR/fence.log")
	while [ "$FENCES_SEEN" -lt "$n" ]; do
		FENCES_SEEN=$((FENCES_SEEN + 1))
		line=$(sed -n "${FENCES_SEEN}p" "$LAB_DIR/fence.log")
		node=$(echo "$line" | sed -n 's/.* fenced \(w[0-9]*\) .*/\1/p')
		[ -n "$node" ] || continue
		say "fenced $node: powered off by the hook"
		RESTART_AT[${node#w}]=$((now + FENCE_RESTART_S * 1000))
	done
	for ((i = 1; i <= WORKERS; i++)); do
		if [ -n "${RESTART_AT[$i]:-}" ] && [ "$now" -ge "${RESTART_AT[$i]}" ]; then
			RESTART_AT[$i]=""
			if [ -z "${KILLED[$i]:-}" ] && ! lab_running "w$i"; then
				say "restart w$i after its fence"
				start_worker "$i"
			fi
		fi
	done
	[ $((now / 1000)) != "${LAST_CHECK:-}" ] || return 0
	LAST_CHECK=$((now / 1000))
	for ((i = 1; i <= WORKERS; i++)); do
		if [ -n "${KILLED[$i]:-}" ] || [ -n "${RESTART_AT[$i]:-}" ] || lab_running "w$i"; then
			GONE_SINCE[$i]=""
		elif [ -z "${GONE_SINCE[$i]:-}" ]; then
			GONE_SINCE[$i]=$now
		elif [ $((now - GONE_SINCE[$i])) -ge 3000 ]; then
			# Not killed by us, not powered off: it died by itself.
			problem "w$i exited on its own: $(tail -n 3 "$LAB_DIR/w$i.log" | tr '\n' ' ')"
			GONE_SINCE[$i]=""
			start_worker "$i"
		fi
	done
	if [ "$SCHEDD_KILLED" = 0 ] && ! lab_running schedd; then
		problem "schedd exited on its own: $(tail -n 3 "$LAB_DIR/schedd.log" | tr '\n' ' ')"
		lab_restart schedd >/dev/null
	fi
}

say "start: seed $SEED, plan $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hash"])' "$PLAN"), ${DURATION}s"
T0_US=${EPOCHREALTIME/./}
next=0
while :; do
	t=$(now_ms)
	while [ "$next" -lt ${#ACTIONS[@]} ]; do
		read -r at op id kind args <<<"${ACTIONS[$next]}"
		[ "$at" -le "$t" ] || break
		# shellcheck disable=SC2086
		act "$op" "$id" "$kind" $args
		next=$((next + 1))
	done
	watch
	[ "$next" -ge ${#ACTIONS[@]} ] && [ "$t" -ge $((DURATION * 1000)) ] && break
	sleep 0.1
done

# ---- heal, run clean, quiesce --------------------------------------------------

say "heal: faults over after ${DURATION}s"
lab_heal >/dev/null || problem "lab_heal failed"
lab_running schedd || lab_restart schedd >/dev/null
for ((i = 1; i <= WORKERS; i++)); do
	KILLED[$i]=""
	RESTART_AT[$i]=""
	if lab_running "w$i"; then lab_kill "w$i" CONT >/dev/null; else start_worker "$i"; fi
done
lab_wait 15 "schedd answers" lab_ctl status >/dev/null || problem "schedd does not answer after the heal"
for ((i = 1; i <= WORKERS; i++)); do
	lab_wait 30 "w$i alive" lab_member_is "w$i" alive ||
		problem "w$i is $(lab_member_state "w$i"), not alive, 30 s after the heal"
done
say "clean: ${SETTLE_S}s without faults"
end=$((EPOCHSECONDS + SETTLE_S))
while [ "$EPOCHSECONDS" -lt "$end" ]; do
	watch
	sleep 0.5
done

# runs TASK PYEXPR: ids of TASK's runs r for which PYEXPR holds; fails when
# schedctl does, so that a wait never reads an error as "none".
runs() {
	local h
	h=$(lab_ctl --json history "$1" --limit 100000) || return 1
	printf '%s' "$h" | python3 -c "import json,sys; print(' '.join(str(r['run_id']) for r in json.load(sys.stdin) if $2))"
}
none_in() { # STATES...: no run of any task in one of STATES
	local t ids
	for t in $TASKS; do
		ids=$(runs "$t" "r['state'] in '$*'.split()") || return 1
		[ -z "$ids" ] || return 1
	done
}
say "quiesce: pause every task"
for t in $TASKS; do lab_ctl pause "$t" >/dev/null || problem "pause $t failed"; done
quiesce_end=$((EPOCHSECONDS + QUIESCE_S))
until none_in dispatched running fencing; do
	[ "$EPOCHSECONDS" -lt "$quiesce_end" ] || break
	watch
	sleep 0.5
done
for t in $TASKS; do
	for id in $(runs "$t" "r['state'] == 'pending'"); do lab_ctl cancel "$id" >/dev/null; done
done
lab_wait 20 "every run terminal" none_in pending dispatched running fencing ||
	problem "runs still active after quiescing: $(for t in $TASKS; do runs "$t" "r['state'] not in ('succeeded','failed','timed_out','cancelled','skipped','lost')" | sed "s/^/$t: /"; done | tr '\n' ' ') $(lab_ctl fence list 2>&1 | head -5 | tr '\n' ' ')"
say "quiesced"

# ---- check and report ------------------------------------------------------------

python3 "$HERE/check.py" collect --schedctl "ip netns exec $(lab_ns 0) $LAB_BIN/schedctl -c $LAB_DIR/cluster.conf" \
	--events-db "$LAB_DIR/h0/schedd.db" --out "$OUT/history.json" || problem "check.py collect failed"
ivs=("$LAB_DIR"/iv.*.log)
[ -e "${ivs[0]}" ] || { problem "no interval log: nothing ran"; ivs=(/dev/null); }
python3 "$HERE/check.py" --history "$OUT/history.json" --intervals "${ivs[@]}" \
	--lockdir "$LAB_DIR/locks" --report "$OUT/report.json" >"$OUT/check.out" 2>&1
check_rc=$?
cp "${ivs[@]}" "$OUT/" 2>/dev/null
cat "$OUT/check.out"
cp "$LAB_DIR/events.log" "$OUT/events.log"
cp "$LAB_DIR/fence.log" "$OUT/fence.log"
echo
echo "==== chaos summary ($OUT/summary.txt)"
python3 "$HERE/chaos_plan.py" summary --plan "$PLAN" --events "$OUT/events.log" \
	--fence-log "$OUT/fence.log" --history "$OUT/history.json" --report "$OUT/report.json" \
	--check-rc "$check_rc" --notes "$NOTES" --window "$FALSE_WINDOW_S" \
	--out "$OUT/summary.json" | tee "$OUT/summary.txt"
rc=${PIPESTATUS[0]}
python3 "$HERE/report_svg.py" --report "$OUT/report.json" --events "$OUT/events.log" \
	--summary "$OUT/summary.json" --history "$OUT/history.json" --out "$OUT/timeline.svg" &&
	echo "timeline: $OUT/timeline.svg"
[ "$rc" -eq 0 ] || exit 1
exit 0
