#!/bin/sh
# Fits the answerer's refusal (bench/answer_calibration_bench) on the sample
# knowledge base's question sets and on every development set here: all
# but postgresql, which is held out and never fitted on.
#   examples/doc-eval/calibrate.sh [BUILD_DIR]     (default: build, from the
#   current directory)
# Needs the sets' Debian packages (run.sh names them); it stops when a set
# cannot be copied, since a fit without it would not compare with the
# shipped one.
set -eu
here=$(cd -P -- "$(dirname -- "$0")" >/dev/null && pwd)
root=$(cd -P -- "$here/../.." >/dev/null && pwd)
build=$(cd -P -- "${1:-build}" >/dev/null && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set --
for set_name in apache etcd pdf pip postgresql-apps postgresql-manage; do
  if ! "$here/run.sh" "$set_name" --copy-to "$work/$set_name" >"$work/$set_name.log" 2>&1; then
    echo "set $set_name: $(tail -n 1 "$work/$set_name.log")" >&2
    exit 1
  fi
  set -- "$@" --set "$work/$set_name=$here/$set_name/answers.jsonl"
done
cd "$root"
"$build/bench/answer_calibration_bench" --office "$build/examples/kb-office" "$@"
