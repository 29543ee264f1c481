#!/bin/bash
# run.sh [TEST...] - the fault lab's own tests (network namespaces: root,
# nftables, libfaketime), each bounded in time.  A test that cannot run
# here exits 77 and is counted as skipped, with its reason printed.  Last
# line: "lab tests: N passed, N failed" (skips are listed, not counted).
cd "$(dirname "$0")" || exit 1
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test_lab_smoke.sh test_false_fence.sh test_sched_isolated.sh test_chaos_short.sh)
pass=0 fail=0 skip=0
for t in "${tests[@]}"; do
	echo "== $t"
	# The chaos run bounds itself (DURATION + settle + quiesce + 150 s).
	limit=200
	[ "$t" = test_chaos_short.sh ] && limit=600
	timeout --kill-after=20 $limit bash "./$t"
	rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
	elif [ $rc -eq 77 ]; then
		echo "SKIPPED: $t (see its skip line above)"
		skip=$((skip + 1))
	else
		echo "FAILED: $t (exit $rc)" >&2
		fail=$((fail + 1))
	fi
done
[ $skip -eq 0 ] || echo "lab tests skipped: $skip"
echo "lab tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
