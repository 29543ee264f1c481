#!/bin/bash
# check.sh [--broken | --all] - model-check the protocol model (sched.pml)
# with spin.  See README.md in this folder.
#
#   (default)  the model as built must verify.  Two exhaustive searches:
#              assertions (SAFETY and ENDS, plus the model's own sanity
#              checks) and non-progress cycles (PROGRESS).
#   --broken   the model built with -DSKIP_FENCE_CHECK (a dead node's runs
#              reassigned without waiting for the fence) must FAIL: this
#              succeeds only if spin finds two executions of the task at
#              once and writes the trail, which is printed.  It proves
#              the checker can catch the bug.
#   --all      both, default first.
#   --deep     not part of --all: the assertion search with one fault more
#              (FAULTS+1), using hash compaction (-DHC4) to fit in memory;
#              a few minutes.  HC4 could in principle miss a state.
#
# Environment: FAULTS (faults per execution, default 3), BROKEN_FAULTS
# (default 1), MEM_MB per search (default 3072), TIME_S per search
# (default 240), KEEP=DIR to keep the work files (pan, trails) there.
# Exit 0 when every check gave the expected answer, 1 otherwise, 2 on
# usage or missing tools.
set -u

here=$(cd "$(dirname "$0")" && pwd)
model=$here/sched.pml
faults=${FAULTS:-3}
broken_faults=${BROKEN_FAULTS:-1}
mem=${MEM_MB:-3072}
limit=${TIME_S:-240}

usage() { echo "usage: $0 [--broken | --all | --deep]" >&2; exit 2; }
mode=normal
case "${1:-}" in
"") ;;
--broken) mode=broken ;;
--all) mode=all ;;
--deep) mode=deep ;;
-h | --help)
	sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*) usage ;;
esac
[ $# -le 1 ] || usage

for tool in spin gcc timeout; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "model: '$tool' not found (Debian: apt-get install spin gcc coreutils)" >&2
		exit 2
	fi
done

if [ -n "${KEEP:-}" ]; then
	work=$KEEP
	mkdir -p "$work" || exit 2
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/sched-model.XXXXXX") || exit 2
	trap 'rm -rf "$work"' EXIT
fi

# stat_of WHAT FILE: one number from pan's report
stat_of() {
	case "$1" in
	states) sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$2" | head -1 ;;
	time) sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$2" | head -1 ;;
	mem) sed -n 's/^ *\([0-9.]*\)[[:space:]]*total actual memory usage.*/\1/p' "$2" | head -1 ;;
	errors) sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$2" | head -1 ;;
	depth) sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$2" | head -1 ;;
	esac
}

# build DIR FAULTS "spin defines" "gcc defines": generate and compile pan
build() {
	local dir=$1
	rm -rf "$dir" && mkdir -p "$dir" && cp "$model" "$dir/" || return 1
	# shellcheck disable=SC2086
	if ! (cd "$dir" && spin $3 -DFAULTS="$2" -a sched.pml) >"$dir/spin.log" 2>&1; then
		echo "model: spin -a $3 failed:" >&2
		cat "$dir/spin.log" >&2
		return 1
	fi
	# shellcheck disable=SC2086
	if ! (cd "$dir" && gcc -O2 -w $4 -DMEMLIM="$mem" -o pan pan.c) \
		>"$dir/gcc.log" 2>&1; then
		echo "model: compiling pan ($4) failed:" >&2
		cat "$dir/gcc.log" >&2
		return 1
	fi
}

# search DIR "pan args": run pan within the time limit; report in DIR/pan.out
search() {
	# shellcheck disable=SC2086
	(cd "$1" && timeout --kill-after=10 "$limit" ./pan -m100000 $2) >"$1/pan.out" 2>&1
}

# replay DIR FAULTS "spin defines": the trail, as printed by the model
replay() {
	# shellcheck disable=SC2086
	(cd "$1" && spin -t $3 -DFAULTS="$2" sched.pml 2>&1)
}

# incomplete FILE: why a search did not cover every state, if it did not
incomplete() {
	if grep -q "max search depth too small" "$1"; then echo "depth bound hit"
	elif grep -qi "out of memory\|memory limit\|MEMLIM" "$1"; then echo "out of memory (MEM_MB=$mem)"
	elif grep -q "Search not completed" "$1"; then echo "search not completed"
	fi
}

summary() {
	printf '%s states, depth %s, %s s, %s MB' "$(stat_of states "$1")" \
		"$(stat_of depth "$1")" "$(stat_of time "$1")" "$(stat_of mem "$1")"
}

fail=0

# verify NAME LABEL "spin defines" "gcc defines" "pan args" [FAULTS]: one
# full search; OK only with no error and nothing left out.
verify() {
	local dir=$work/$1 label=$2 rc why nf=${6:-$faults}
	build "$dir" "$nf" "$3" "$4" || { echo "model: $label: FAIL (build)"; fail=1; return; }
	search "$dir" "$5"
	rc=$?
	local out=$dir/pan.out
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "model: $label: FAIL (no answer within $limit s)"
		fail=1
	elif [ "$(stat_of errors "$out")" != "0" ]; then
		echo "model: $label: FAIL ($(grep -m1 -E 'assertion violated|non-progress cycle|invalid end state|acceptance cycle' "$out"))"
		if [ -f "$dir/sched.pml.trail" ]; then
			echo "  counterexample (spin -t $3 -DFAULTS=$nf sched.pml):"
			replay "$dir" "$nf" "$3" |
				sed -n 's/^ *EV /    /p; s/^ *\(<<<<<START OF CYCLE>>>>>\)/    \1/p
					s/^spin: \(.*assert.*\)/    \1/p'
		fi
		fail=1
	elif why=$(incomplete "$out") && [ -n "$why" ]; then
		echo "model: $label: FAIL ($why; $(summary "$out"))"
		fail=1
	else
		echo "model: $label: OK ($(summary "$out"))"
	fi
}

# expect_violation NAME LABEL "spin defines" WANT: the bug must be found as
# an assertion violation (text WANT, or any if empty) with a trail.
expect_violation() {
	local dir=$work/$1 label=$2 rc found steps
	build "$dir" "$broken_faults" "$3" "-DSAFETY -DREACH -DCOLLAPSE" ||
		{ echo "model: $label: FAIL (build)"; fail=1; return; }
	search "$dir" "-i" # iterative deepening: a short trail (needs -DREACH)
	rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "model: $label: FAIL (no answer within $limit s)"
		fail=1
		return
	fi
	found=
	[ -f "$dir/sched.pml.trail" ] &&
		found=$(replay "$dir" "$broken_faults" "$3" |
			sed -n 's/^spin: text of failed assertion: assert(\(.*\))$/\1/p')
	if [ -z "$found" ] || { [ -n "$4" ] && [ "$found" != "$4" ]; }; then
		echo "model: $label: FAIL (spin found no ${4:-safety} violation; the bug went unnoticed)"
		fail=1
		return
	fi
	steps=$(replay "$dir" "$broken_faults" "$3" |
		sed -n 's/^spin: trail ends after \([0-9]*\) steps.*/\1/p')
	echo "model: $label: OK, spin found the violation: $found ($steps steps, FAULTS=$broken_faults)"
	replay "$dir" "$broken_faults" "$3" | sed -n 's/^ *EV /    /p'
}

echo "model: $(spin -V 2>&1 | head -1); MEM_MB=$mem, TIME_S=$limit"

if [ "$mode" = normal ] || [ "$mode" = all ]; then
	verify safety "safety+ends (FAULTS=$faults): no two executions; every run ends or is fenced" \
		"" "-DSAFETY -DCOLLAPSE" "-w25"
	verify progress "progress (FAULTS=$faults): no retransmission loop without progress" \
		"-DNO_HEARTBEAT" "-DNP -DNOFAIR -DCOLLAPSE" "-l -w25"
fi
if [ "$mode" = deep ]; then
	verify deep "safety+ends (FAULTS=$((faults + 1)), hash compaction): no two executions; every run ends or is fenced" \
		"" "-DSAFETY -DHC4" "-w26" $((faults + 1))
fi
if [ "$mode" = broken ] || [ "$mode" = all ]; then
	expect_violation broken "--broken: runs reassigned before the fence confirms" \
		"-DSKIP_FENCE_CHECK -DNO_TOKEN_ASSERT" "(nexec<=1)"
	expect_violation broken-token "--broken, newest-token assertion kept" \
		"-DSKIP_FENCE_CHECK" ""
fi

exit $fail
