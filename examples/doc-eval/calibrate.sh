#!/bin/sh
# Fits the answerer's refusal (bench/answer_calibration_bench) on the sample
# knowledge base's question sets and on every development set here: all
# but postgresql, which is held out and never fitted on.
#   examples/doc-eval/calibrate.sh [BUILD_DIR]     (default: build)
# Needs the sets' Debian packages (run.sh names them); a set whose package
# is missing is left out with a note.
set -eu
here=$(cd -P -- "$(dirname -- "$0")" >/dev/null && pwd)
root=$(cd -P -- "$here/../.." >/dev/null && pwd)
build=${1:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=
for set_name in apache etcd pdf pip postgresql-apps postgresql-manage; do
  if "$here/run.sh" "$set_name" --copy-to "$work/$set_name" >"$work/$set_name.log" 2>&1; then
    args="$args --set $work/$set_name=$here/$set_name/answers.jsonl"
  else
    echo "note: set $set_name left out: $(tail -n 1 "$work/$set_name.log")"
  fi
done
cd "$root"
# shellcheck disable=SC2086  # one word per argument, none with spaces
"$build/bench/answer_calibration_bench" --office "$build/examples/kb-office" $args
