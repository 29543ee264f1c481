#!/bin/bash
# run.sh [TEST...] - run the integration tests (real processes on
# loopback), each bounded in time, and print "N passed, N failed".
# Needs BIN (built binaries); HELPERS (helper programs) is optional.
cd "$(dirname "$0")" || exit 1
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test_*.sh)
pass=0
fail=0
for t in "${tests[@]}"; do
	echo "== $t"
	if timeout --kill-after=10 240 bash "./$t"; then
		pass=$((pass + 1))
	else
		echo "FAILED: $t" >&2
		fail=$((fail + 1))
	fi
done
echo "integration tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
