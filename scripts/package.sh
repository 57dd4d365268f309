#!/usr/bin/env bash
# Builds the Debian packages into build-pkg/: ragd_<version>_amd64.deb and
# ragd-glove_<version>_all.deb. The binary is compiled for x86-64-v3 (AVX2,
# FMA, F16C), not for this machine only, and looks for its data in
# /usr/share/ragd. Install with: apt-get install ./build-pkg/ragd*.deb
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="$root/build-pkg"

scripts/install-deps.sh build
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRAGD_MARCH=x86-64-v3 \
  -DRAGD_SHARE_DIR=/usr/share/ragd -DBUILD_TESTING=OFF -DRAGD_BUILD_BENCH=OFF "${launcher[@]}"
cmake --build "$build" -j "$(nproc)" --target package
ls -l "$build"/*.deb
