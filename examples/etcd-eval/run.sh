#!/bin/sh
# Answer quality on real documentation: etcd's operations guide as Debian
# ships it (/usr/share/doc/etcd-server, installed with the cluster's
# dependencies), asked the questions of answers.jsonl. Each ragd binary given
# ingests the guide into a store of its own and is judged by `ragd eval
# --answers`, one table per binary, so that two builds compare in one run:
#   examples/etcd-eval/run.sh build/api/ragd /tmp/ragd-before
set -eu
[ $# -ge 1 ] || { echo "usage: $0 RAGD [RAGD...]" >&2; exit 2; }
here=$(cd -P -- "$(dirname -- "$0")" >/dev/null && pwd)
src=/usr/share/doc/etcd-server
[ -d "$src/op-guide" ] || { echo "$src/op-guide not found: apt-get install etcd-server" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/docs"
for f in "$src"/op-guide/*.md "$src"/op-guide/*.md.gz "$src"/faq.md.gz "$src"/tuning.md.gz "$src"/metrics.md.gz; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .gz)
  case "$f" in *.gz) gzip -dc "$f" >"$work/docs/$name" ;; *) cp "$f" "$work/docs/$name" ;; esac
done
# Runs a command into $work/out; on failure shows its output and stops.
run() {
  if ! "$@" >"$work/out" 2>&1; then
    echo "failed: $*" >&2
    cat "$work/out" >&2
    exit 1
  fi
}
n=0
for ragd in "$@"; do
  n=$((n + 1))
  echo "== $ragd"
  run "$ragd" ingest --data "$work/kb$n" "$work/docs" --quiet
  grep -v '^\[' "$work/out" | tail -n 1
  run "$ragd" eval --data "$work/kb$n" --answers "$here/answers.jsonl"
  grep -v '^\[' "$work/out" | tail -n +2
done
