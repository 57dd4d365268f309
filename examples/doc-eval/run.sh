#!/bin/sh
# Answer quality on real documentation that Debian ships: each ragd binary
# given ingests the set's documents into a store of its own and is judged by
# `ragd eval --answers` on the set's answers.jsonl, one table per binary, so
# that two builds compare in one run:
#   examples/doc-eval/run.sh pip build/api/ragd /tmp/ragd-before
# With --copy-to DIR instead of binaries it only copies the set's documents
# to DIR (examples/doc-eval/calibrate.sh uses it).
# Sets: apache (apache2-doc), etcd (etcd-server), pdf (libtasn1-doc, shared-mime-info), pip
# (python3-pip), postgresql, postgresql-apps and postgresql-manage
# (postgresql-doc-15).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 apache|etcd|pdf|pip|postgresql|postgresql-apps|postgresql-manage RAGD [RAGD...] | --copy-to DIR" >&2; exit 2; }
set_name=$1
shift
copy_to=
if [ "$1" = --copy-to ]; then
  [ $# -eq 2 ] || { echo "usage: $0 SET --copy-to DIR" >&2; exit 2; }
  copy_to=$2
fi
here=$(cd -P -- "$(dirname -- "$0")" >/dev/null && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/docs"

# Copies FILE (decompressed when .gz) to the docs folder as NAME.
put() {
  case "$1" in
    *.gz) gzip -dc "$1" >"$work/docs/$2" ;;
    *) cp "$1" "$work/docs/$2" ;;
  esac
}
need() {
  [ -d "$1" ] || { echo "$1 not found: apt-get install $2" >&2; exit 1; }
}
case "$set_name" in
  apache)
    # The Apache HTTP Server 2.4 manual's English guides (not the module
    # reference), named by their path under en/ with '/' as '-'.
    src=/usr/share/doc/apache2-doc/manual/en
    need "$src/howto" apache2-doc
    for f in "$src"/*.html "$src"/howto/*.html "$src"/ssl/*.html "$src"/rewrite/*.html "$src"/vhosts/*.html; do
      rel=${f#"$src"/}
      put "$f" "$(echo "$rel" | tr / -)"
    done
    ;;
  etcd)
    src=/usr/share/doc/etcd-server
    need "$src/op-guide" etcd-server
    for f in "$src"/op-guide/*.md "$src"/op-guide/*.md.gz "$src"/faq.md.gz "$src"/tuning.md.gz "$src"/metrics.md.gz; do
      [ -e "$f" ] && put "$f" "$(basename "$f" .gz)"
    done
    ;;
  pip)
    # Named by their path under html/ with '/' as '-' (topics-caching.md).
    src=/usr/share/doc/python3-pip/html
    need "$src/topics" python3-pip
    for f in "$src"/topics/*.md* "$src"/getting-started.md "$src"/installation.md "$src"/cli/index.md \
             "$src"/reference/requirements-file-format.md* "$src"/reference/requirement-specifiers.md* \
             "$src"/user_guide.rst*; do
      [ -e "$f" ] || continue
      rel=${f#"$src"/}
      put "$f" "$(echo "${rel%.gz}" | tr / -)"
    done
    ;;
  postgresql)
    # The server administration chapters.
    src=/usr/share/doc/postgresql-doc-15/html
    need "$src" postgresql-doc-15
    for f in "$src"/runtime*.html "$src"/auth*.html "$src"/client-authentication*.html "$src"/backup*.html \
             "$src"/continuous-archiving.html "$src"/routine*.html "$src"/maintenance.html "$src"/warm-standby*.html \
             "$src"/hot-standby.html "$src"/high-availability.html "$src"/monitoring*.html "$src"/wal*.html \
             "$src"/disk*.html "$src"/upgrading.html "$src"/kernel-resources.html "$src"/server-shutdown.html \
             "$src"/ssl-tcp.html "$src"/preventing-server-spoofing.html "$src"/encryption-options.html; do
      [ -e "$f" ] && put "$f" "$(basename "$f")"
    done
    ;;
  postgresql-apps)
    # The reference pages of the client and server applications.
    src=/usr/share/doc/postgresql-doc-15/html
    need "$src" postgresql-doc-15
    for f in "$src"/app-*.html; do put "$f" "$(basename "$f")"; done
    ;;
  postgresql-manage)
    # Installation from source, databases, roles, localization.
    src=/usr/share/doc/postgresql-doc-15/html
    need "$src" postgresql-doc-15
    for f in "$src"/install-*.html "$src"/installation.html "$src"/manage-ag-*.html "$src"/managing-databases.html \
             "$src"/user-manag.html "$src"/role-*.html "$src"/database-roles.html "$src"/default-roles.html \
             "$src"/predefined-roles.html "$src"/perm-functions.html "$src"/charset.html "$src"/locale.html \
             "$src"/collation.html "$src"/multibyte.html; do
      [ -e "$f" ] && put "$f" "$(basename "$f")"
    done
    ;;
  pdf)
    # Two PDF manuals: GNU Libtasn1's and the Shared MIME-info specification.
    for f in /usr/share/doc/libtasn1-doc/libtasn1.pdf /usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf; do
      [ -e "$f" ] || { echo "$f not found: apt-get install libtasn1-doc shared-mime-info" >&2; exit 1; }
      put "$f" "$(basename "$f")"
    done
    ;;
  *) echo "unknown set '$set_name' (apache, etcd, pdf, pip, postgresql, postgresql-apps or postgresql-manage)" >&2; exit 2 ;;
esac
if [ -n "$copy_to" ]; then
  mkdir -p "$copy_to"
  cp -R "$work/docs/." "$copy_to"
  exit 0
fi

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
  grep -v '^\[' "$work/out" | grep '^ingested' || true
  run "$ragd" eval --data "$work/kb$n" --answers "$here/$set_name/answers.jsonl"
  grep -v '^\[' "$work/out" | tail -n +2
done
