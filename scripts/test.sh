#!/bin/bash
# test.sh - every test: installs what is missing, builds, runs the unit and
# integration tests, then the whole suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer, checks the protocol model with spin, and runs
# the fault lab's tests (network namespaces; they need root).
# This is the README's test command and what CI runs.  The last line sums
# up: "N passed, N failed" (test binaries, integration tests, model).
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp /tmp/sched-test.XXXXXX)
trap 'rm -f "$log"' EXIT
scripts/install-deps.sh
make -j2 all
make check 2>&1 | tee -a "$log"
make sanitize 2>&1 | tee -a "$log"
make model 2>&1 | tee -a "$log"
make lab-test 2>&1 | tee -a "$log"
passed=$(sed -n 's/^\(unit test binaries\|integration tests\|lab tests\): \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log" |
	awk '{s += $1} END {print s + 0}')
failed=$(sed -n 's/^\(unit test binaries\|integration tests\|lab tests\): \([0-9]*\) passed, \([0-9]*\) failed$/\3/p' "$log" |
	awk '{s += $1} END {print s + 0}')
if grep -q '^model: .*: OK' "$log" && ! grep -q '^model: .*FAIL' "$log"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi
echo "all tests (plain, sanitized, model, lab): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
