#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds (Release) and
# runs ctest. Tests that need ../shared/testdata skip with a message when it
# is absent. Set RAGD_TEST_LABEL_EXCLUDE=slow to leave out the slow ones.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="$root/build"
jobs="$(nproc)"

scripts/build.sh

exclude=()
[ -n "${RAGD_TEST_LABEL_EXCLUDE:-}" ] && exclude=(-LE "$RAGD_TEST_LABEL_EXCLUDE")
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900 "${exclude[@]}"
