#!/bin/sh
# run-unit.sh BIN... - run each Criterion test binary (each bounded in
# time) and print one closing line "N passed, N failed".
pass=0
fail=0
for t in "$@"; do
	if timeout 300 "$t" --jobs="${JOBS:-2}"; then
		pass=$((pass + 1))
	else
		echo "FAILED: $t" >&2
		fail=$((fail + 1))
	fi
done
echo "unit test binaries: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
