#!/usr/bin/env bash
# Installs the Debian packages (scripts/package.sh) in a fresh Debian 12 root
# and runs them as the systemd unit would: the unit's ExecStart command line as
# user ragd (systemd itself does not run in a chroot), then ingests the sample
# knowledge base over HTTP, searches and asks.
#   sudo scripts/package-check.sh [--no-build]
# Needs root, debootstrap and Debian's mirror. The pristine root is cached in
# $FRESH_BASE (default $TMPDIR/fresh-debian-base, shared with
# ../shared/tools/fresh-debian-check); each run's root is deleted at the end.
set -euo pipefail
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root_dir"
[ "$(id -u)" -eq 0 ] || { echo "needs root (chroot, mount)"; exit 2; }
command -v debootstrap >/dev/null || { echo "needs debootstrap: apt-get install -y debootstrap"; exit 2; }
[ "${1:-}" = "--no-build" ] || scripts/package.sh
shopt -s nullglob
debs=(build-pkg/ragd_*_amd64.deb build-pkg/ragd-glove_*_all.deb)
[ ${#debs[@]} -eq 2 ] || { echo "expected ragd and ragd-glove .debs in build-pkg/, found: ${debs[*]}"; exit 2; }

tmp=${TMPDIR:-/tmp}
base=${FRESH_BASE:-$tmp/fresh-debian-base}
if [ ! -f "$base/.ok" ]; then
  rm -rf "$base"
  debootstrap --variant=minbase bookworm "$base" http://deb.debian.org/debian >"$base.log" 2>&1 \
    || { echo "debootstrap failed: $(tail -n 2 "$base.log" | tr '\n' ' ')"; exit 2; }
  printf '%s\n' "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" >"$base/etc/apt/sources.list"
  touch "$base/.ok"
fi
chroot_dir=$(mktemp -d "$tmp/ragd-deb-root.XXXX")
cp -a "$base/." "$chroot_dir/" && rm -f "$chroot_dir/.ok"
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$chroot_dir/pkgs" "$chroot_dir/kb"
cp "${debs[@]}" "$chroot_dir/pkgs/"
mount -t proc proc "$chroot_dir/proc"
mount --rbind /dev "$chroot_dir/dev"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  umount -l "$chroot_dir/proc" 2>/dev/null; umount -R -l "$chroot_dir/dev" 2>/dev/null
  if mount | grep -q " $chroot_dir/"; then echo "WARNING: still mounted under $chroot_dir; not deleted"
  else rm -rf "$chroot_dir"; fi
}
trap cleanup EXIT
in_root() { chroot "$chroot_dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

echo "== installing ${debs[*]##*/} in a fresh Debian 12 root"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  /pkgs/"$(basename "${debs[0]}")" /pkgs/"$(basename "${debs[1]}")" >"$chroot_dir.apt.log" 2>&1 \
  || { tail -n 20 "$chroot_dir.apt.log"; exit 1; }
in_root dpkg -s ragd ragd-glove | grep -E '^(Package|Version|Depends):'
for f in /usr/bin/ragd /etc/ragd/ragd.toml /usr/lib/systemd/system/ragd.service \
         /usr/share/ragd/glove-wink-sg-100d.bin /usr/share/ragd/prompts/answer.txt; do
  [ -e "$chroot_dir$f" ] || { echo "FAILED: $f is not installed"; exit 1; }
done
in_root getent passwd ragd >/dev/null || { echo "FAILED: no ragd user"; exit 1; }
[ "$(in_root stat -c %U /var/lib/ragd)" = ragd ] || { echo "FAILED: /var/lib/ragd is not ragd's"; exit 1; }
in_root ragd --version

exec_start=$(sed -n 's/^ExecStart=//p' "$chroot_dir/usr/lib/systemd/system/ragd.service")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "== as user ragd in /var/lib/ragd: RAGD_LISTEN=127.0.0.1:$port $exec_start"
chroot --userspec=ragd:ragd "$chroot_dir" /usr/bin/env -i LANG=C.UTF-8 PATH=/usr/bin:/bin \
  RAGD_LISTEN="127.0.0.1:$port" sh -c "cd /var/lib/ragd && exec $exec_start" >"$chroot_dir.server.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$url/healthz" || { echo "FAILED: the server did not come up"; cat "$chroot_dir.server.log"; exit 1; }
echo

echo "== ingesting the sample knowledge base over HTTP"
office=build-pkg/examples/kb-office
n=0
for crawl_root in examples/kb "$office"; do
  while IFS= read -r -d '' f; do
    rel=${f#"$crawl_root"/}
    curl -fsS -o /dev/null --data-binary @"$f" -H 'Content-Type: application/octet-stream' \
      "$url/v1/documents?filename=$rel" || { echo "FAILED: ingest $rel"; exit 1; }
    n=$((n + 1))
  done < <(find "$crawl_root" -type f -print0)
done
echo "$n files ingested"
curl -fsS "$url/v1/stats"; echo
echo "== search"
curl -fsS -H 'Content-Type: application/json' -d '{"query":"VPN error 809","k":3}' "$url/v1/search" \
  | python3 -c 'import json,sys; h=json.load(sys.stdin)["hits"]; assert h, "no hits"; [print(" ", x["doc_id"]) for x in h]'
echo "== ask"
curl -fsS -H 'Content-Type: application/json' -d '{"query":"How do I fix VPN error 809?"}' "$url/v1/answer" \
  | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["answer"]); assert not a["refused"] and a["citations"], "refused or uncited"'
kill -TERM "$server_pid"; wait "$server_pid" || { echo "FAILED: the server exited non-zero on SIGTERM"; exit 1; }
server_pid=""
echo "package check: PASSED"
