#!/usr/bin/env bash
# Builds ragd with sanitizers and runs the fast test suite (ctest -LE slow)
# under each; exits non-zero when a test fails or a sanitizer reports
# anything, in a test or in a process it started (the ragd server).
#
#   scripts/sanitize.sh            both runs below
#   scripts/sanitize.sh asan tsan  the named runs only
#
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on),
#         build dir build-asan/
#   tsan  ThreadSanitizer, build dir build-tsan/
#
# Both builds keep assertions on (RelWithDebInfo without NDEBUG, at -O1) and
# stop at the first report (-fno-sanitize-recover=all, halt_on_error=1).
# Every report is also written under <build>/sanitizer-logs/ and printed at
# the end. The build uses ccache when it is installed. Environment:
#   RAGD_SANITIZE_JOBS   parallel compile and test jobs. Default: nproc.
#   RAGD_SANITIZE_CTEST  extra ctest arguments (e.g. "-L model").
#   RAGD_SANITIZE_TARGETS  build these targets only (e.g.
#                        "ragd_model_fast_tests"; pair it with
#                        RAGD_SANITIZE_CTEST). Default: everything.
#
# Left out, and why:
#   label node  (api_node_install, api_openai_client, api_web_page): npm
#               installs packages from the registry and Chromium is not built
#               with our sanitizers; the sanitized server they drive is
#               covered by the C++ end-to-end tests.
#   label slow  as in the quick loop (ctest -LE slow).
#   tsan only:  our OpenMP loops run serially: ragd's sources are compiled
#               with -fopenmp-simd instead of -fopenmp (still linked with
#               libgomp for the omp_* calls). GCC's libgomp is not built with
#               ThreadSanitizer, so TSan cannot see its barriers and reports
#               every hand-over between the threads of one parallel loop as a
#               race. Sessions, the ComputePool, and the server's, indexer's
#               and tests' own threads are all still checked; oneDNN and FAISS
#               keep their own (uninstrumented) OpenMP threads. (Capping
#               OpenMP with OMP_THREAD_LIMIT=1 instead makes oneDNN 2.6 leave
#               part of a matmul's output unwritten when asked for 2 threads.)
#               For the same reason OpenBLAS (FAISS's BLAS) runs on the
#               calling thread (OPENBLAS_NUM_THREADS=1): its pthread pool
#               hands buffers over through spin flags TSan cannot see.
#               LeakSanitizer: scripts/lsan.supp hides fontconfig's
#               configuration, which poppler loads once and never frees.
#               RocksDB is not instrumented either: scripts/tsan.supp hides
#               the reports with a RocksDB frame (its memtable's atomics are
#               invisible to TSan); see that file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
jobs="${RAGD_SANITIZE_JOBS:-$(nproc)}"
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(asan tsan)

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

failed=()
for run in "${runs[@]}"; do
  case "$run" in
    asan) flags="-fsanitize=address,undefined -fno-sanitize-recover=all" ;;
    tsan) flags="-fsanitize=thread" ;;
    *) echo "sanitize.sh: unknown run '$run' (asan or tsan)" >&2; exit 2 ;;
  esac
  build="$root/build-$run"
  logs="$build/sanitizer-logs"
  echo "== $run: building $build"
  openmp=()
  if [ "$run" = tsan ]; then
    gomp="$("${CXX:-c++}" -print-file-name=libgomp.so)"
    openmp=(-DOpenMP_CXX_FLAGS=-fopenmp-simd -DOpenMP_C_FLAGS=-fopenmp-simd -DOpenMP_CXX_LIB_NAMES=gomp
            -DOpenMP_C_LIB_NAMES=gomp "-DOpenMP_gomp_LIBRARY=$gomp")
  fi
  cmake -S . -B "$build" -G Ninja "${launcher[@]}" "${openmp[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_CXX_FLAGS="$flags -fno-omit-frame-pointer" -DCMAKE_C_FLAGS="$flags -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" >/dev/null
  targets=()
  # shellcheck disable=SC2206  # a list of target names
  [ -n "${RAGD_SANITIZE_TARGETS:-}" ] && targets=(--target ${RAGD_SANITIZE_TARGETS})
  cmake --build "$build" -j "$jobs" "${targets[@]}"
  rm -rf "$logs"
  mkdir -p "$logs"

  echo "== $run: ctest -LE 'slow|node'"
  status=0
  (
    cd "$build"
    export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:log_path=$logs/asan"
    export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan:suppressions=$root/scripts/tsan.supp"
    [ "$run" = tsan ] && export OPENBLAS_NUM_THREADS=1
    # With RAGD_SANITIZE_TARGETS, the test executables left unbuilt are
    # listed by CMake as "<target>_NOT_BUILT"; they are not run.
    not_built=()
    [ -n "${RAGD_SANITIZE_TARGETS:-}" ] && not_built=(-E '_NOT_BUILT$')
    # shellcheck disable=SC2086  # RAGD_SANITIZE_CTEST is a list of arguments
    ctest --output-on-failure -j "$jobs" --timeout 1800 -LE 'slow|node' "${not_built[@]}" ${RAGD_SANITIZE_CTEST:-}
  ) || status=$?

  reports=$(find "$logs" -type f | sort)
  if [ -n "$reports" ]; then
    echo "== $run: sanitizer reports"
    for f in $reports; do
      echo "---- $f"
      cat "$f"
    done
    status=1
  fi
  if [ "$status" -ne 0 ]; then
    failed+=("$run")
  else
    echo "== $run: clean"
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "sanitize.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize.sh: all clean (${runs[*]})"
