#!/bin/bash
# test_chaos_short.sh - the short chaos run of CI (CHAOS.md, "In CI"): 90 s
# of seeded random faults on 1 scheduler + 4 workers, then the checker.
# PASS means zero overlaps, zero violations, every due run accounted for.
#
# The seed comes from the commit under test, so a change always meets the
# same fault schedule (a failure can be replayed with the printed command)
# and every change meets a new one.  CHAOS_SEED=N overrides; outside a git
# checkout the seed is random.  Exit 77 (skip) when the lab cannot run here.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
seed=${CHAOS_SEED:-}
if [ -z "$seed" ]; then
	head=$(git -C "$ROOT" rev-parse --short=8 HEAD 2>/dev/null)
	if [ -n "$head" ]; then seed=$((16#$head)); else seed=$((RANDOM * 32768 + RANDOM)); fi
fi
echo "chaos (CI): seed $seed from ${head:-CHAOS_SEED or random}"
exec bash "$HERE/chaos.sh" --seed "$seed" --duration "${CHAOS_CI_DURATION:-90}"
