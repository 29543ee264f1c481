#!/bin/sh
# test.sh - every test: installs what is missing, builds, runs the unit and
# integration tests, then the whole suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer, and checks the protocol model with spin.
# This is the README's test command and what CI runs.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j2 all
make check
make sanitize
make model
echo "all tests passed (plain, sanitized, and the protocol model)"
