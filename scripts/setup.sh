#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: installs what is missing, builds
# ragd (Release), ingests the bundled sample knowledge base and asks it a few
# questions.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="$root/build"
scripts/build.sh

ragd="$build/api/ragd"
data="$root/ragd-data"
echo "== ingesting the sample knowledge base into $data"
"$ragd" ingest --data "$data" examples/kb "$build/examples/kb-office"
"$ragd" stats --data "$data"
while IFS= read -r q; do
  echo
  echo "== ragd ask \"$q\""
  "$ragd" ask --data "$data" "$q"
done <<'QUESTIONS'
How do I fix VPN error 809 after the Windows 11 update?
What does ORA-12541 on db-prod-03 mean and how was it resolved?
How long must a password be?
What is the capital of Australia?
QUESTIONS
echo
echo "Done. Try: $ragd search --data $data \"0x80070005\"   or   $ragd serve --data $data --listen 127.0.0.1:8080"
