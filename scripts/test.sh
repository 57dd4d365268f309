#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing (the test-only packages
# too), builds everything into build-test/ with assertions on, and runs ctest.
# Tests that need ../shared/testdata skip with a message when it is absent,
# and fail instead when RAGD_REQUIRE_TESTDATA=1 (.ci/run sets it).
# Set RAGD_TEST_LABEL_EXCLUDE=slow to leave out the slow ones.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

scripts/build.sh test

exclude=()
[ -n "${RAGD_TEST_LABEL_EXCLUDE:-}" ] && exclude=(-LE "$RAGD_TEST_LABEL_EXCLUDE")
cd "$root/build-test"
ctest --output-on-failure -j "$(nproc)" --timeout 900 "${exclude[@]}"
