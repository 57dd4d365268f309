#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang with
# -fsanitize=fuzzer,address,undefined) into build-fuzz/ and runs each one for
# SECONDS, then prints per target: runs, execs/s, CPU seconds, crashes.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     e.g. scripts/fuzz.sh 180 csv pdf
#
# Targets: gguf jwt servicenow jira zendesk csv jsonl html docx pdf json_codec
# multipart (default: all). Each run starts from the seeds in
# tests/fuzz/<target>_corpus/ (read only; gguf also tests/model/gguf_corpus/)
# and the inputs earlier runs found in
# build-fuzz/corpus/<target>/, where new inputs go, so the repository's seed
# corpora stay small. A run stops at its first crash, leak, timeout or
# out-of-memory; the input is saved as build-fuzz/artifacts/<target>/crash-*
# (reproduce: build-fuzz/fuzz/<target>_fuzz <file>). Exit status: 1 if any
# target crashed. Environment:
#   RAGD_FUZZ_JOBS   targets run at the same time. Default: 1 (the machine is
#                    shared; each target uses one core).
#   RAGD_FUZZ_ARGS   extra libFuzzer flags (e.g. "-dict=...").
#   RAGD_FUZZ_STRICT=1  the connector targets also stop at an internal error
#                    (an exception that escaped a parser), not only a crash.
# Every run also appends "date seconds cpu_seconds runs crashes" to
# build-fuzz/logs/<target>.history, for the CPU-minutes in tests/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
seconds=$1
shift
all=(gguf jwt servicenow jira zendesk csv jsonl html docx pdf json_codec multipart)
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all[@]}")
jobs=${RAGD_FUZZ_JOBS:-1}

# -max_len per format: big enough for a few records or a small binary file.
max_len() {
  case $1 in
    gguf|docx|pdf) echo 65536 ;;
    servicenow|jira|zendesk|html) echo 16384 ;;
    jwt) echo 4096 ;;
    *) echo 8192 ;;
  esac
}

build=build-fuzz
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B $build -G Ninja -DRAGD_FUZZ=ON -DCMAKE_BUILD_TYPE=Release -DRAGD_BUILD_BENCH=OFF \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
fi
cmake --build $build -j "$(nproc)" --target "${targets[@]/%/_fuzz}"

run_one() {
  local t=$1 corpus=$build/corpus/$1 artifacts=$build/artifacts/$1/ log=$build/logs/$1.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  local rc=0 seeds=("tests/fuzz/${t}_corpus")
  [[ $t == gguf ]] && seeds+=(tests/model/gguf_corpus)  # the reader's regression corpus
  # shellcheck disable=SC2086
  { TIMEFORMAT='%U %S'; time "$build/fuzz/${t}_fuzz" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
      -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
      ${RAGD_FUZZ_ARGS:-} "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?; } 2>"$log.time"
  local runs cpu crashes
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  cpu=$(awk '{printf "%.0f", $1 + $2}' "$log.time")
  crashes=$(( rc == 0 ? 0 : 1 ))
  echo "$(date -u +%FT%TZ) $seconds $cpu ${runs:-0} $crashes" >>"$build/logs/$t.history"
  printf '%-11s runs %10s  execs/s %7s  cpu_s %5s  crashes %s%s\n' "$t" "${runs:-0}" \
    "$(( ${runs:-0} / (seconds > 0 ? seconds : 1) ))" "$cpu" "$crashes" \
    "$( ((crashes)) && echo "  ($(ls -t "$artifacts" | head -1), log $log)")" >"$build/logs/$t.summary"
}

for t in "${targets[@]}"; do
  while (( $(jobs -rp | wc -l) >= jobs )); do wait -n || true; done
  run_one "$t" &
done
wait
failed=0
for t in "${targets[@]}"; do
  cat "$build/logs/$t.summary"
  grep -q 'crashes 0' "$build/logs/$t.summary" || failed=1
done
exit $failed
