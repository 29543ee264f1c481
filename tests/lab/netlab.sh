# shellcheck shell=bash
# netlab.sh - a fault lab: N hosts as network namespaces joined by a bridge
# that lives in a namespace of its own, the sched daemons running on them,
# and fault primitives (partitions, loss, duplication, delay and reordering,
# process signals, a wrong wall clock).  Source it from bash (as root):
#
#	. tests/lab/netlab.sh
#	lab_up 4                    # h0 (schedd) .. h3, traps set
#	lab_config; lab_start_schedd
#	lab_start_worker 1; lab_start_worker 2; lab_start_worker 3 --clock +20s
#	lab_isolate 2; ...; lab_heal
#	                            # exit, Ctrl-C or TERM tears it all down
#
# Everything lives in namespaces named "${LAB_PREFIX}br" (the bridge br0 and
# one port vbI per host) and "${LAB_PREFIX}hI" (eth0 at LAB_SUBNET.(10+I)/24
# and lo), plus a state directory LAB_DIR under /tmp.  Nothing outside them
# is touched: no host interface, no host nft rule, no host sysctl.  Faults
# are nftables rules in the bridge namespace only; a sender never sees its
# own send fail (drops happen on the bridge, never on a host's output path),
# as on a real network.  See tests/lab/README.md for every function.
#
# Works under `set -euo pipefail`; no function exits the caller, they return
# non-zero.

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ROOT=${LAB_ROOT:-$(cd "$LAB_HERE/../.." && pwd)}
LAB_BIN=${LAB_BIN:-$LAB_ROOT/bin}
LAB_SUBNET=${LAB_SUBNET:-10.213.0}	# first three octets of the lab's /24
LAB_PATH=${LAB_PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
LAB_SCHED_PORT=${LAB_SCHED_PORT:-7000}
LAB_WORKER_PORT=${LAB_WORKER_PORT:-7701}
LAB_PROBE_PORT=${LAB_PROBE_PORT:-7999}
LAB_FAKETIME_LIB=${LAB_FAKETIME_LIB:-}
# The lab of this shell (lab_up or lab_attach set them; never inherited:
# the lab's own processes have LAB_DIR in their environment).
LAB_PREFIX=""
LAB_DIR=""
LAB_N=0
LAB_EXIT_CMDS=()

# ---- small helpers ----------------------------------------------------------

lab__err() { echo "netlab: $*" >&2; }

# lab__mono: CLOCK_MONOTONIC in ns (the clock the interval recorder uses; it
# is shared by every namespace).  /proc/uptime is CLOCK_BOOTTIME: not it.
lab__mono() { /usr/bin/python3 -c 'import time; print(time.monotonic_ns())'; }

# lab__say MSG: one line on stdout, and into LAB_DIR/events.log as
# "MONOTONIC_NS WALL_S MSG" so a report can place it on the timeline.
lab__say() {
	echo "lab: $*"
	if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
		echo "$(lab__mono) ${EPOCHREALTIME:-$(date +%s.%N)} $*" >>"$LAB_DIR/events.log"
	fi
}

lab__need_up() {
	if [ -z "$LAB_PREFIX" ] || [ ! -e "/run/netns/${LAB_PREFIX}br" ]; then
		lab__err "no lab is up (lab_up N first)"
		return 1
	fi
}

# lab__host H: validate a host index (0..LAB_N-1; "hI" is accepted too) and
# print it as a bare number.
lab__host() {
	local h=${1#h}
	case $h in '' | *[!0-9]*) lab__err "bad host '$1'"; return 1 ;; esac
	if [ "$h" -ge "$LAB_N" ]; then
		lab__err "no host $1 (hosts are 0..$((LAB_N - 1)))"
		return 1
	fi
	echo "$h"
}

lab_ns() { local h; h=$(lab__host "$1") || return 1; echo "${LAB_PREFIX}h$h"; }
lab_addr() { local h; h=$(lab__host "$1") || return 1; echo "$LAB_SUBNET.$((10 + h))"; }
# lab_mac H: host H's eth0 MAC, fixed so that rules can name a sender.
lab_mac() { local h; h=$(lab__host "$1") || return 1; lab__mac "$h"; }
lab__mac() { printf '02:5c:4c:00:%02x:%02x\n' $(($1 / 256)) $(($1 % 256)); }

# lab__brnft ARGS...: nft in the bridge namespace.
lab__brnft() { ip netns exec "${LAB_PREFIX}br" nft "$@"; }

# lab__ns_alive_pids NS: pids of processes inside namespace NS.
lab__ns_pids() { ip netns pids "$1" 2>/dev/null; }

# lab_wait SECONDS WHAT CMD...: run CMD every 0.2 s until it succeeds;
# 1 (with a message naming WHAT) if it did not within SECONDS.
lab_wait() {
	local secs=$1 what=$2 end
	shift 2
	end=$((${EPOCHSECONDS:-$(date +%s)} + secs))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "${EPOCHSECONDS:-$(date +%s)}" -lt "$end" ] || break
		sleep 0.2
	done
	lab__err "timed out after ${secs}s waiting for: $what"
	return 1
}

# ---- lab up / down ------------------------------------------------------------

# lab_up N: create N hosts h0..h(N-1) and the bridge namespace, LAB_DIR, and
# install EXIT/INT/TERM/HUP traps that tear the lab down.  On failure the
# partial lab is torn down and 1 returned.
lab_up() {
	local n=${1:-}
	case $n in '' | *[!0-9]*) lab__err "usage: lab_up N"; return 2 ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le 200 ] || { lab__err "lab_up: N must be 1..200"; return 2; }
	[ "$(id -u)" = 0 ] || { lab__err "needs root (network namespaces)"; return 1; }
	command -v nft >/dev/null || { lab__err "nft not found: apt-get install nftables"; return 1; }
	if [ -n "$LAB_PREFIX" ] && [ -e "/run/netns/${LAB_PREFIX}br" ]; then
		lab__err "a lab is already up ($LAB_PREFIX); lab_down first"
		return 1
	fi
	LAB_PREFIX="schedlab$$-"
	LAB_N=$n
	LAB_DIR=$(mktemp -d "/tmp/schedlab$$.XXXXXX") || return 1
	mkdir -p "$LAB_DIR/run" "$LAB_DIR/tasks"
	# Enough for lab_down/lab_reap from another shell (lab_attach DIR).
	cat >"$LAB_DIR/lab.env" <<-ENV
		LAB_PREFIX=$LAB_PREFIX
		LAB_N=$LAB_N
		LAB_SUBNET=$LAB_SUBNET
		LAB_OWNER=$$
	ENV
	lab__install_traps
	lab__build || { lab__err "lab_up failed; tearing down"; lab_down; return 1; }
	lab__say "up: $n hosts (${LAB_PREFIX}h0..h$((n - 1)), $LAB_SUBNET.10..$((9 + n))), state in $LAB_DIR"
}

lab__build() {
	local br=${LAB_PREFIX}br i ns
	ip netns add "$br" || return 1
	ip -n "$br" link set lo up || return 1
	ip -n "$br" link add br0 type bridge forward_delay 0 stp_state 0 || return 1
	ip -n "$br" link set br0 up || return 1
	# Keep the bridge namespace quiet: no IPv6 on br0 or the ports.
	ip netns exec "$br" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
	for ((i = 0; i < LAB_N; i++)); do
		ns=${LAB_PREFIX}h$i
		ip netns add "$ns" || return 1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
		# The pair is created inside the namespaces: no name in the host's.
		ip -n "$br" link add "vb$i" type veth peer name eth0 netns "$ns" || return 1
		ip -n "$br" link set "vb$i" master br0 up || return 1
		ip -n "$ns" link set eth0 address "$(lab__mac "$i")" || return 1
		ip -n "$ns" addr add "$LAB_SUBNET.$((10 + i))/24" dev eth0 || return 1
		ip -n "$ns" link set eth0 up || return 1
		ip -n "$ns" link set lo up || return 1
		mkdir -p "$LAB_DIR/h$i"
	done
	# Fault tables: drops on the bridge's forward path (per port pair,
	# every frame), duplication on a port's egress (netdev).
	lab__brnft -f - <<-NFT || return 1
		table bridge lab { }
		table netdev lab { }
	NFT
}

# lab_at_exit CMD...: run CMD (as words, no eval) when the lab's exit trap
# fires, before the teardown, in reverse order of registration: copy logs,
# run a checker, print a summary.  Its exit status is ignored.
lab_at_exit() { LAB_EXIT_CMDS+=("$(printf '%q ' "$@")"); }

# shellcheck disable=SC2120
lab__install_traps() {
	local prev=""
	# Keep a trap the caller installed before lab_up; it runs after teardown.
	eval "set -- $(trap -p EXIT)"
	[ $# -ge 3 ] && [ "$3" != "lab__on_exit" ] && prev=$3
	LAB_PREV_EXIT_TRAP=$prev
	trap lab__on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

lab__on_exit() {
	local rc=$? i
	trap - EXIT
	for ((i = ${#LAB_EXIT_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${LAB_EXIT_CMDS[$i]}" || true
	done
	lab_down
	if [ -n "${LAB_PREV_EXIT_TRAP:-}" ]; then eval "$LAB_PREV_EXIT_TRAP"; fi
	exit "$rc"
}

# lab_down: kill every process inside the lab's namespaces, delete them (the
# veths and nft state go with them) and LAB_DIR (kept if LAB_KEEP=1).
# Idempotent, and safe after a partial lab_up.  1 if something is left.
lab_down() {
	local ns nss pids left=0
	[ -n "$LAB_PREFIX" ] || return 0
	nss=$(ip netns list 2>/dev/null | awk -v p="$LAB_PREFIX" 'index($1, p) == 1 { print $1 }')
	# Every process first, in every namespace, then the namespaces: a
	# process left inside would keep a deleted namespace (and its veth)
	# alive without a name.
	for ns in $nss; do
		for _ in $(seq 50); do
			pids=$(lab__ns_pids "$ns")
			[ -z "$pids" ] && break
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null || true
			sleep 0.1
		done
		if [ -n "$(lab__ns_pids "$ns")" ]; then
			lab__err "processes left in $ns: $(lab__ns_pids "$ns" | tr '\n' ' ')"
			left=1
		fi
	done
	for ns in $nss; do
		ip netns del "$ns" 2>/dev/null || { lab__err "cannot delete $ns"; left=1; }
	done
	if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
		if [ "${LAB_KEEP:-0}" = 1 ]; then
			echo "lab: down, state kept in $LAB_DIR" >&2
		else
			rm -rf "$LAB_DIR"
		fi
	fi
	if [ -n "$nss" ]; then echo "lab: down (${LAB_PREFIX}*)" >&2; fi
	return $left
}

# lab_attach DIR: adopt a lab made by another shell (its LAB_DIR), e.g. to
# inspect it or tear it down.  Installs no trap.
lab_attach() {
	[ -f "$1/lab.env" ] || { lab__err "no lab state in $1"; return 1; }
	# shellcheck disable=SC1091
	. "$1/lab.env"
	LAB_DIR=$1
}

# lab_reap: tear down labs whose owner process is gone (a SIGKILLed test
# left them: traps cannot run then).  Only namespaces named schedlabPID-*
# whose PID does not exist, and their /tmp/schedlabPID.* directories.
lab_reap() {
	local pid dir
	for pid in $(ip netns list 2>/dev/null | sed -n 's/^schedlab\([0-9][0-9]*\)-.*/\1/p' | sort -u); do
		kill -0 "$pid" 2>/dev/null && continue
		(
			LAB_PREFIX="schedlab$pid-" LAB_DIR="" LAB_KEEP=1
			lab_down
		)
		for dir in /tmp/schedlab"$pid".*; do [ -d "$dir" ] && rm -rf "$dir"; done
		echo "lab: reaped schedlab$pid-*" >&2
	done
	for dir in /tmp/schedlab[0-9]*.*; do
		[ -d "$dir" ] || continue
		pid=${dir#/tmp/schedlab}
		pid=${pid%%.*}
		kill -0 "$pid" 2>/dev/null && continue
		ls /run/netns/schedlab"$pid"-* >/dev/null 2>&1 && continue
		rm -rf "$dir"
	done
}

# ---- processes ----------------------------------------------------------------------

# lab_exec H CMD...: run CMD in host H's namespace with a clean environment
# (PATH, HOME, LC_ALL, LAB_DIR), in the foreground; its exit status.
lab_exec() {
	local ns
	ns=$(lab_ns "$1") || return 1
	shift
	ip netns exec "$ns" env -i PATH="$LAB_PATH" HOME=/root LC_ALL=C LAB_DIR="$LAB_DIR" "$@"
}

# lab_spawn H NAME CMD...: start CMD in host H's namespace in the background,
# in a session of its own, output appended to LAB_DIR/NAME.log; its pid in
# LAB_DIR/run/NAME.pid (and LAB_SPAWNED_PID), the command for lab_restart.
# Call it in the caller's shell, not in $(...): the daemon stays a child of
# the caller, which reaps it when it dies.
lab_spawn() {
	local h name pidf i pid ns
	if [ "$1" = br ]; then # the bridge namespace (the delay line runs there)
		h=br ns=${LAB_PREFIX}br
	else
		h=$(lab__host "$1") || return 1
		ns=${LAB_PREFIX}h$h
	fi
	name=$2
	shift 2
	case $name in '' | *[!A-Za-z0-9_.-]*) lab__err "bad process name '$name'"; return 1 ;; esac
	[ $# -ge 1 ] || { lab__err "usage: lab_spawn H NAME CMD..."; return 2; }
	if lab_running "$name"; then
		lab__err "$name is already running (pid $(lab_pid "$name"))"
		return 1
	fi
	pidf=$LAB_DIR/run/$name.pid
	rm -f "$pidf"
	echo "$h" >"$LAB_DIR/run/$name.host"
	printf '%q ' "$@" >"$LAB_DIR/run/$name.cmd"
	# sh writes its own pid, then execs CMD: the pid is CMD's whether or not
	# setsid had to fork.
	ip netns exec "$ns" env -i PATH="$LAB_PATH" HOME=/root LC_ALL=C LAB_DIR="$LAB_DIR" \
		setsid sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidf" "$@" \
		</dev/null >>"$LAB_DIR/$name.log" 2>&1 &
	disown $! 2>/dev/null
	for i in $(seq 100); do
		[ -s "$pidf" ] && break
		sleep 0.05
	done
	pid=$(cat "$pidf" 2>/dev/null) || { lab__err "$name did not start"; return 1; }
	LAB_SPAWNED_PID=$pid
}

# lab_pid NAME: the pid lab_spawn recorded (alive or not).
lab_pid() { cat "$LAB_DIR/run/$1.pid" 2>/dev/null; }

# lab_running NAME: NAME's recorded process exists, is not a zombie and is in
# its host's namespace (so a recycled pid does not count).
lab_running() {
	local pid h ns
	pid=$(lab_pid "$1") || return 1
	h=$(cat "$LAB_DIR/run/$1.host" 2>/dev/null) || return 1
	[ -n "$pid" ] || return 1
	if [ "$h" = br ]; then ns=${LAB_PREFIX}br; else ns=${LAB_PREFIX}h$h; fi
	[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "net:[$(stat -L -c %i "/run/netns/$ns" 2>/dev/null)]" ] || return 1
	case $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) in Z | X | '') return 1 ;; esac
	return 0
}

# lab_kill NAME SIG: send SIG (KILL, STOP, CONT, TERM...) to NAME.
lab_kill() {
	local pid
	[ $# -eq 2 ] || { lab__err "usage: lab_kill NAME SIG"; return 2; }
	lab_running "$1" || { lab__err "$1 is not running"; return 1; }
	pid=$(lab_pid "$1")
	kill -"${2#SIG}" "$pid" || return 1
	lab__say "signal ${2#SIG} -> $1 (pid $pid)"
}

# lab_restart NAME: start NAME again with its recorded command (same host,
# flags and clock); SIGKILLs it first if it still runs.
lab_restart() {
	local cmd h
	cmd=$(cat "$LAB_DIR/run/$1.cmd" 2>/dev/null) || { lab__err "no recorded command for $1"; return 1; }
	h=$(cat "$LAB_DIR/run/$1.host")
	if lab_running "$1"; then
		kill -CONT "$(lab_pid "$1")" 2>/dev/null || true
		kill -KILL "$(lab_pid "$1")" 2>/dev/null || true
		lab_wait 5 "$1 to die" lab__not_running "$1" || return 1
	fi
	eval "lab_spawn \"\$h\" \"\$1\" $cmd" || return 1
	lab__say "restart $1 on h$h (pid $LAB_SPAWNED_PID)"
}
lab__not_running() { ! lab_running "$1"; }

# ---- the cluster ------------------------------------------------------------------

# lab_config: LAB_DIR/cluster.conf (one file for every daemon) and a key.
# schedd on h0 at LAB_SUBNET.10:LAB_SCHED_PORT; workers get --listen, --db
# and --log-dir per host from lab_start_worker.  Settings from the
# environment: LAB_LEASE (10s), LAB_HEARTBEAT (500ms), LAB_NODE_TIMEOUT (3s),
# LAB_SLOTS (2), LAB_FENCE (kill: the lab's power-off hook; none: every
# fence waits for `schedctl fence confirm`; or an absolute hook path).
lab_config() {
	local c=$LAB_DIR/cluster.conf sched hook=""
	lab__need_up || return 1
	[ -x "$LAB_BIN/schedctl" ] || { lab__err "no $LAB_BIN/schedctl: build first (make)"; return 1; }
	sched=$LAB_SUBNET.10:$LAB_SCHED_PORT
	case ${LAB_FENCE:-kill} in
	kill) lab__write_fence_hook && hook=$LAB_DIR/fence-hook ;;
	none) hook="" ;;
	/*) hook=$LAB_FENCE ;;
	*) lab__err "LAB_FENCE must be kill, none or an absolute path"; return 1 ;;
	esac
	[ -f "$LAB_DIR/keys" ] || "$LAB_BIN/schedctl" keygen --out "$LAB_DIR/keys" >/dev/null || return 1
	{
		echo "[cluster]"
		echo "key_file = $LAB_DIR/keys"
		echo "scheduler = $sched"
		echo
		echo "[scheduler]"
		echo "listen = $sched"
		echo "db = $LAB_DIR/h0/schedd.db"
		echo "tasks_dir = $LAB_DIR/tasks"
		echo "lease = ${LAB_LEASE:-10s}"
		echo "heartbeat = ${LAB_HEARTBEAT:-500ms}"
		echo "node_timeout = ${LAB_NODE_TIMEOUT:-3s}"
		echo "fence_backoff_max = 5s"
		if [ -n "$hook" ]; then echo "fence_hook = $hook"; fi
		echo
		echo "[worker]"
		echo "slots = ${LAB_SLOTS:-2}"
		echo "kill_grace = 2s"
		echo "drain_timeout = 0"
	} >"$c"
	lab__say "config $c (scheduler $sched, fence ${LAB_FENCE:-kill})"
}

# The lab's fence hook: NODE (wI) ADDRESS INCARNATION.  Powers host hI off:
# SIGKILL to every process in its namespace (workerd and its tasks), and
# confirms (exit 0) once none is left.  Appends to LAB_DIR/fence.log.
lab__write_fence_hook() {
	cat >"$LAB_DIR/fence-hook" <<-HOOK
		#!/bin/sh
		# generated by netlab.sh: power off the lab host of worker \$1
		node=\$1
		case \$node in w[0-9]*) ns=${LAB_PREFIX}h\${node#w} ;; *) echo "not a lab node: \$node"; exit 1 ;; esac
		[ -e "/run/netns/\$ns" ] || { echo "no namespace \$ns"; exit 1; }
		for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			pids=\$(ip netns pids "\$ns")
			if [ -z "\$pids" ]; then
				echo "\$(date -u +%FT%T.%NZ) fenced \$node \$2 inc \$3 (\$ns powered off)" >>"$LAB_DIR/fence.log"
				echo "\$ns: no process left"
				exit 0
			fi
			kill -KILL \$pids 2>/dev/null
			sleep 0.1
		done
		echo "\$ns: processes survive: \$pids"
		exit 1
	HOOK
	chmod 755 "$LAB_DIR/fence-hook"
}

# lab_ctl ARGS...: schedctl against the lab's scheduler, run in h0.
lab_ctl() { lab_exec 0 "$LAB_BIN/schedctl" -c "$LAB_DIR/cluster.conf" "$@"; }

# lab_start_schedd [FLAGS...]: schedd on h0 (process name "schedd"); waits
# until it answers `schedctl status` (10 s).
lab_start_schedd() {
	local pid
	[ -f "$LAB_DIR/cluster.conf" ] || lab_config || return 1
	lab_spawn 0 schedd "$LAB_BIN/schedd" -c "$LAB_DIR/cluster.conf" "$@" || return 1
	pid=$LAB_SPAWNED_PID
	lab_wait 10 "schedd answers" lab_ctl status || return 1
	lab__say "schedd on h0 $LAB_SUBNET.10:$LAB_SCHED_PORT (pid $pid)"
}

# lab_start_worker I [--clock OFFSET] [FLAGS...]: workerd "wI" on host I at
# LAB_SUBNET.(10+I):LAB_WORKER_PORT, database and run logs in LAB_DIR/hI.
# --clock OFFSET (libfaketime syntax: +30s, -2m, +1h) shifts its wall clock
# (and its tasks'); the monotonic clock stays real.  Keep |OFFSET| below
# cluster.max_clock_skew (60 s) or every datagram it sends is refused.
lab_start_worker() {
	local i addr lib clock="" envs=()
	i=$(lab__host "${1:-}") || return 1
	shift
	[ "$i" -ge 1 ] || { lab__err "host 0 runs schedd; workers are 1..$((LAB_N - 1))"; return 1; }
	if [ "${1:-}" = --clock ]; then
		clock=${2:?--clock needs an offset}
		shift 2
		lib=$(lab__faketime_lib) || return 1
		envs=(env LD_PRELOAD="$lib" FAKETIME="$clock" FAKETIME_DONT_FAKE_MONOTONIC=1)
	fi
	[ -f "$LAB_DIR/cluster.conf" ] || lab_config || return 1
	addr=$LAB_SUBNET.$((10 + i)):$LAB_WORKER_PORT
	mkdir -p "$LAB_DIR/h$i/logs"
	lab_spawn "$i" "w$i" "${envs[@]}" "$LAB_BIN/workerd" -c "$LAB_DIR/cluster.conf" \
		--name "w$i" --listen "$addr" --db "$LAB_DIR/h$i/workerd.db" \
		--log-dir "$LAB_DIR/h$i/logs" "$@" || return 1
	lab__say "worker w$i on h$i $addr (pid $LAB_SPAWNED_PID${clock:+, wall clock $clock})"
}

lab__faketime_lib() {
	local f
	for f in "$LAB_FAKETIME_LIB" /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
		/usr/lib/*/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1; do
		[ -n "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
	done
	lab__err "libfaketime not found: apt-get install faketime (or set LAB_FAKETIME_LIB)"
	return 1
}

# lab_member_state NAME: NAME's state in the scheduler's gossip view (alive,
# suspect, dead, left), or "absent".
lab_member_state() {
	lab_ctl --json members 2>/dev/null | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
print(next((m["state"] for m in j["members"] if m["name"] == sys.argv[1]), "absent"))' "$1"
}

# lab_member_is NAME STATE: predicate for lab_wait.
lab_member_is() { [ "$(lab_member_state "$1")" = "$2" ]; }

# ---- network faults -------------------------------------------------------------
#
# Each fault is one base chain, named by its id, in the bridge namespace:
# drops in table "bridge lab" on the forward hook, duplication in table
# "netdev lab" on the egress hook of the receiver's bridge port.  A frame is
# "from H" by its source MAC (lab_mac H: so it still is after a detour
# through the delay line) and "to H" by the bridge port it leaves on; drops
# match every frame (IP and ARP) except for loss, which counts datagrams.  Applying a fault again with the
# same id replaces it; lab_clear ID removes one, lab_heal all.  Every rule
# counts (lab_counters).

# lab__fault ID FAMILY DESCRIPTION < CHAIN-BODY: install (or replace) a chain.
lab__fault() {
	local id=$1 fam=$2 desc=$3 body
	lab__need_up || return 1
	body=$(cat)
	lab__brnft delete chain "$fam" lab "$id" 2>/dev/null || true
	printf 'table %s lab {\n chain %s {\n%s\n }\n}\n' "$fam" "$id" "$body" | lab__brnft -f - || {
		lab__err "cannot install fault $id"
		return 1
	}
	lab__say "fault + $id: $desc"
}

# lab__pct PCT: validate 0..100.
lab__pct() {
	case $1 in '' | *[!0-9]*) lab__err "bad percentage '$1'"; return 1 ;; esac
	[ "$1" -le 100 ] || { lab__err "percentage above 100: $1"; return 1; }
}
# lab__chance PCT: the nft condition "with probability PCT%" (none for 100).
lab__chance() { [ "$1" -ge 100 ] || echo "numgen random mod 100 < $1"; }

# lab_partition A B: nothing passes between A and B, either way.
lab_partition() {
	local a b
	a=$(lab__host "$1") && b=$(lab__host "$2") || return 1
	[ "$a" != "$b" ] || { lab__err "partition of a host from itself"; return 1; }
	[ "$a" -lt "$b" ] || { local t=$a; a=$b; b=$t; }
	lab__fault "part_h${a}_h$b" bridge "h$a <-/-> h$b (both ways)" <<-NFT
		type filter hook forward priority 0; policy accept;
		ether saddr $(lab__mac "$a") oifname "vb$b" counter drop
		ether saddr $(lab__mac "$b") oifname "vb$a" counter drop
	NFT
}

# lab_partition_oneway A B: A's frames to B are dropped; B's to A pass.
lab_partition_oneway() {
	local a b
	a=$(lab__host "$1") && b=$(lab__host "$2") || return 1
	[ "$a" != "$b" ] || { lab__err "partition of a host from itself"; return 1; }
	lab__fault "oneway_h${a}_h$b" bridge "h$a -/-> h$b (h$b -> h$a passes)" <<-NFT
		type filter hook forward priority 0; policy accept;
		ether saddr $(lab__mac "$a") oifname "vb$b" counter drop
	NFT
}

# lab_isolate H: H reaches nobody and nobody reaches H (lab_isolate 0: the
# scheduler cut off from every worker; workers still see each other).
lab_isolate() {
	local h
	h=$(lab__host "$1") || return 1
	lab__fault "isolate_h$h" bridge "h$h cut off from every host" <<-NFT
		type filter hook forward priority 0; policy accept;
		ether saddr $(lab__mac "$h") counter drop
		oifname "vb$h" counter drop
	NFT
}

# lab_loss H PCT: each IPv4 datagram from H, and each to H, is dropped with
# probability PCT% (independently; ARP is spared so that PCT is the
# datagram loss).  PCT 0 removes the fault.
lab_loss() {
	local h p c
	h=$(lab__host "$1") || return 1
	p=${2:-}
	lab__pct "$p" || return 1
	[ "$p" -gt 0 ] || { lab__clear_if "loss_h$h"; return; }
	c=$(lab__chance "$p")
	lab__fault "loss_h$h" bridge "h$h loses $p% of datagrams each way" <<-NFT
		type filter hook forward priority 0; policy accept;
		ether saddr $(lab__mac "$h") meta protocol ip $c counter drop
		oifname "vb$h" meta protocol ip $c counter drop
	NFT
}

# lab_dup H PCT: each IPv4 datagram delivered to H arrives twice with
# probability PCT%.  The copy is made on the egress of H's bridge port, after
# the drop rules, by `dup to` the same port; the mark keeps the copy from
# being copied again.  PCT 0 removes the fault.
lab_dup() {
	local h p c
	h=$(lab__host "$1") || return 1
	p=${2:-}
	lab__pct "$p" || return 1
	[ "$p" -gt 0 ] || { lab__clear_if "dup_h$h"; return; }
	c=$(lab__chance "$p")
	lab__fault "dup_h$h" netdev "h$h receives $p% of datagrams twice" <<-NFT
		type filter hook egress device "vb$h" priority 0; policy accept;
		meta protocol ip meta mark 0 $c counter meta mark set 1 dup to "vb$h"
	NFT
}

# ---- delay and reordering: a userspace delay line ---------------------------------
#
# The kernel has no sch_netem and no nft `queue`, so delay is done by a delay
# line in the bridge namespace: a veth pair dlq0 (a bridge port that neither
# learns nor floods) / dlq1 (not bridged).  A delay_hH chain on the ingress of
# every host port sends the IPv4 frames from or to H (by MAC) `fwd to dlq0`;
# they come out at dlq1, where the delay line (python3, AF_PACKET) holds each
# for its delay and writes it back into dlq1.  It re-enters the bridge at
# dlq0 and is forwarded as usual, so partitions and loss in force when it is
# released still apply, and duplication after that.  A frame's delay is the
# sum of its source's and its destination's: MS + uniform(0, JITTER) each.

lab__delayline_py() {
	cat <<-'PY'
		# delay line: AF_PACKET on one interface; holds every frame that arrives
		# for the delay delay.conf gives its MACs ("MAC MS JITTER" lines), then
		# sends it back out of the same interface.  UDP/TCP checksums are
		# recomputed: frames from a veth carry a partial (offloaded) checksum.
		import heapq, os, random, select, socket, struct, sys, time
		conf_path, ifname = sys.argv[1], sys.argv[2]
		s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
		s.bind((ifname, 0))
		conf, seen, checked = {}, None, 0.0
		def load():
		    global conf, seen, checked
		    checked = time.monotonic()
		    try:
		        st = os.stat(conf_path)
		    except FileNotFoundError:
		        conf, seen = {}, None
		        return
		    if (st.st_mtime_ns, st.st_ino) == seen:
		        return
		    seen, new = (st.st_mtime_ns, st.st_ino), {}
		    for line in open(conf_path):
		        f = line.split()
		        if len(f) == 3:
		            new[bytes.fromhex(f[0].replace(":", ""))] = (int(f[1]), int(f[2]))
		    conf = new
		def csum(b):
		    if len(b) % 2:
		        b += b"\0"
		    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
		    while t >> 16:
		        t = (t & 0xFFFF) + (t >> 16)
		    return ~t & 0xFFFF
		def fix(fr):
		    if len(fr) < 34 or fr[12:14] != b"\x08\x00":
		        return fr
		    ihl, proto = (fr[14] & 15) * 4, fr[23]
		    end = 14 + struct.unpack("!H", fr[16:18])[0]
		    l4 = 14 + ihl
		    off = {17: 6, 6: 16}.get(proto)
		    if off is None or struct.unpack("!H", fr[20:22])[0] & 0x3FFF or end - l4 < off + 2:
		        return fr
		    seg = bytearray(fr[l4:end])
		    seg[off:off + 2] = b"\0\0"
		    c = csum(fr[26:34] + struct.pack("!BBH", 0, proto, len(seg)) + bytes(seg))
		    if proto == 17 and c == 0:
		        c = 0xFFFF
		    seg[off:off + 2] = struct.pack("!H", c)
		    return fr[:l4] + bytes(seg) + fr[end:]
		heap, seq = [], 0
		load()
		while True:
		    now = time.monotonic()
		    while heap and heap[0][0] <= now:
		        s.send(heapq.heappop(heap)[2])
		    r, _, _ = select.select([s], [], [], max(0.0, heap[0][0] - now) if heap else 0.5)
		    if not r:
		        continue
		    fr, addr = s.recvfrom(65536)
		    if addr[2] == socket.PACKET_OUTGOING:
		        continue
		    now = time.monotonic()
		    if now - checked > 0.05:
		        load()
		    d = 0.0
		    for mac in (fr[6:12], fr[0:6]):
		        ms, jit = conf.get(mac, (0, 0))
		        d += ms + random.uniform(0, jit)
		    heapq.heappush(heap, (now + d / 1000.0, seq, fix(fr)))
		    seq += 1
	PY
}

# lab__delayline_up: the dlq0/dlq1 pair and the delay line process.
lab__delayline_up() {
	local br=${LAB_PREFIX}br
	if ! ip -n "$br" link show dlq0 >/dev/null 2>&1; then
		ip -n "$br" link add dlq0 type veth peer name dlq1 || return 1
		ip -n "$br" link set dlq0 master br0 || return 1
		ip -n "$br" link set dlq0 type bridge_slave learning off flood off mcast_flood off bcast_flood off || return 1
		ip -n "$br" link set dlq0 up || return 1
		ip -n "$br" link set dlq1 up || return 1
	fi
	lab_running delayline && return 0
	lab__delayline_py >"$LAB_DIR/delayline.py"
	lab_spawn br delayline /usr/bin/python3 -u "$LAB_DIR/delayline.py" "$LAB_DIR/delay.conf" dlq1 || return 1
	sleep 0.2
	lab_running delayline || { lab__err "the delay line did not start: $(tail -n 5 "$LAB_DIR/delayline.log")"; return 1; }
}

# lab__delay_conf MAC [MS JITTER]: set (or, without MS, remove) MAC's line.
lab__delay_conf() {
	local f=$LAB_DIR/delay.conf
	{
		if [ -f "$f" ]; then grep -v "^$1 " "$f" || true; fi
		if [ $# -ge 3 ]; then echo "$1 $2 $3"; fi
	} >"$f.tmp"
	mv "$f.tmp" "$f"
}

# lab_delay H MS [JITTER]: every IPv4 datagram from H and every one to H is
# held MS ms plus a uniform 0..JITTER ms, drawn per datagram: a JITTER above
# the gap between two datagrams reorders them.  MS and JITTER 0 removes it.
lab_delay() {
	local h ms=${2:-} jit=${3:-0} mac devs="" i
	h=$(lab__host "$1") || return 1
	case $ms$jit in '' | *[!0-9]*) lab__err "usage: lab_delay H MS [JITTER] (whole ms)"; return 2 ;; esac
	[ "$ms" -le 60000 ] && [ "$jit" -le 60000 ] || { lab__err "delay above 60 s"; return 1; }
	if [ "$ms" -eq 0 ] && [ "$jit" -eq 0 ]; then
		lab__clear_if "delay_h$h"
		return
	fi
	lab__need_up || return 1
	lab__delayline_up || return 1
	mac=$(lab__mac "$h")
	lab__delay_conf "$mac" "$ms" "$jit"
	for ((i = 0; i < LAB_N; i++)); do devs="$devs${devs:+, }vb$i"; done
	lab__fault "delay_h$h" netdev "h$h: datagrams from and to it delayed ${ms} ms + 0..${jit} ms" <<-NFT
		type filter hook ingress devices = { $devs } priority 0; policy accept;
		meta protocol ip ether saddr $mac counter fwd to "dlq0"
		meta protocol ip ether daddr $mac counter fwd to "dlq0"
	NFT
}

# lab_faults: the ids of the faults in place, one a line.
lab_faults() {
	lab__need_up || return 1
	lab__brnft list chains 2>/dev/null | sed -n 's/^[[:space:]]*chain \([A-Za-z0-9_]*\) {.*/\1/p'
}

# lab_clear ID: remove one fault (an id printed by a fault function).
lab_clear() {
	local fam
	lab__need_up || return 1
	case $1 in dup_* | delay_*) fam=netdev ;; *) fam=bridge ;; esac
	# A delay's line goes first: the rules of another delayed host still
	# send frames to this one through the delay line.
	case $1 in delay_h*) lab__delay_conf "$(lab__mac "${1#delay_h}")" ;; esac
	if lab__brnft delete chain "$fam" lab "$1" 2>/dev/null; then
		lab__say "fault - $1"
	else
		lab__err "no fault $1"
		return 1
	fi
}

# lab__clear_if ID: lab_clear ID if it is in place; nothing (and 0) if not.
lab__clear_if() {
	if lab_faults | grep -qx "$1"; then lab_clear "$1"; return; fi
	case $1 in delay_h*) [ ! -f "$LAB_DIR/delay.conf" ] || lab__delay_conf "$(lab__mac "${1#delay_h}")" ;; esac
	return 0
}

# lab_heal: remove every fault.
lab_heal() {
	local ids
	lab__need_up || return 1
	ids=$(lab_faults | tr '\n' ' ')
	rm -f "$LAB_DIR/delay.conf"
	# The bridge namespace holds nothing but the lab's two tables.
	lab__brnft -f - <<-NFT || return 1
		flush ruleset
		table bridge lab { }
		table netdev lab { }
	NFT
	lab__say "heal: all faults removed (${ids% })"
}

# lab_counters: the fault rules with their packet counters.
lab_counters() { lab__need_up && lab__brnft list ruleset; }

# lab__probe A B COUNT GAP_MS: send COUNT numbered UDP datagrams from A to
# B's LAB_PROBE_PORT, GAP_MS apart; prints "RECEIVED OUT_OF_ORDER" as B saw
# them (duplicates count; a datagram is out of order when one numbered
# higher came before it).  The receiver stops 0.6 s after the last
# datagram, or 2 s after it started if none comes: a delay above 0.6 s
# between datagrams makes it stop early.
lab__probe() {
	local a b n=$3 gap=$4 tok out rpid i
	a=$(lab__host "$1") && b=$(lab__host "$2") || return 1
	tok="probe-$$-$RANDOM$RANDOM"
	out=$LAB_DIR/run/$tok
	# Not lab_exec: a function in the background is a subshell, and $! would
	# not be the receiver.
	ip netns exec "${LAB_PREFIX}h$b" env -i PATH="$LAB_PATH" LC_ALL=C timeout 60 /usr/bin/python3 -c '
import socket, sys
addr, port, tok, out = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
open(out + ".ready", "w").close()
n, late, top, wait = 0, 0, -1, 2.0
while True:
    s.settimeout(wait)
    try:
        d = s.recv(2048)
    except socket.timeout:
        break
    t, _, k = d.partition(b" ")
    if t == tok and k.isdigit():
        n += 1
        late += int(k) < top
        top = max(top, int(k))
        wait = 0.6
open(out, "w").write("%d %d\n" % (n, late))
' "$(lab_addr "$b")" "$LAB_PROBE_PORT" "$tok" "$out" &
	rpid=$!
	for i in $(seq 100); do [ -e "$out.ready" ] && break; sleep 0.05; done
	lab_exec "$a" /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for k in range(int(sys.argv[4])):
    s.sendto(b"%s %d" % (sys.argv[3].encode(), k), (sys.argv[1], int(sys.argv[2])))
    time.sleep(int(sys.argv[5]) / 1000.0)
' "$(lab_addr "$b")" "$LAB_PROBE_PORT" "$tok" "$n" "$gap"
	wait "$rpid" || true
	cat "$out" 2>/dev/null || { lab__err "probe h$a -> h$b failed"; rm -f "$out.ready"; return 1; }
	rm -f "$out" "$out.ready"
}

# lab_udp_probe A B [COUNT]: send COUNT (20) UDP datagrams from A to B and
# print how many B received (duplicates counted).  Independent of the
# daemons: it shows what the network does.
lab_udp_probe() {
	local r
	r=$(lab__probe "$1" "$2" "${3:-20}" 5) || return 1
	echo "${r% *}"
}

# lab_udp_order A B [COUNT [GAP_MS]]: send COUNT (100) numbered datagrams,
# GAP_MS (2) apart; print "RECEIVED OUT_OF_ORDER".
lab_udp_order() { lab__probe "$1" "$2" "${3:-100}" "${4:-2}"; }

# lab_rtt A B [COUNT]: COUNT (10) UDP echoes from A to B one after the
# other; prints the median round trip in ms ("none" if none came back
# within 3 s each).
lab_rtt() {
	local a b tok out rpid i
	a=$(lab__host "$1") && b=$(lab__host "$2") || return 1
	tok="rtt-$$-$RANDOM$RANDOM"
	out=$LAB_DIR/run/$tok
	ip netns exec "${LAB_PREFIX}h$b" env -i PATH="$LAB_PATH" LC_ALL=C timeout 120 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[4] + ".ready", "w").close()
s.settimeout(5.0)
try:
    while True:
        d, peer = s.recvfrom(2048)
        if d.startswith(sys.argv[3].encode()):
            s.sendto(d, peer)
except socket.timeout:
    pass
' "$(lab_addr "$b")" "$LAB_PROBE_PORT" "$tok" "$out" &
	rpid=$!
	for i in $(seq 100); do [ -e "$out.ready" ] && break; sleep 0.05; done
	lab_exec "$a" /usr/bin/python3 -c '
import socket, statistics, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3.0)
rtts = []
for k in range(int(sys.argv[4])):
    m = b"%s %d" % (sys.argv[3].encode(), k)
    t0 = time.monotonic()
    s.sendto(m, (sys.argv[1], int(sys.argv[2])))
    try:
        while s.recv(2048) != m:
            pass
        rtts.append((time.monotonic() - t0) * 1000)
    except socket.timeout:
        pass
print("%.0f" % statistics.median(rtts) if rtts else "none")
' "$(lab_addr "$b")" "$LAB_PROBE_PORT" "$tok" "${3:-10}"
	kill "$rpid" 2>/dev/null || true
	wait "$rpid" 2>/dev/null || true
	rm -f "$out.ready"
}
