// Joining, membership, the write path and the appliers. The read path is in
// coordinator.cpp.
#include "cluster/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "auth/crypto.h"
#include "auth/principal.h"
#include "cluster/auto_rebalance.h"
#include "cluster/clock.h"
#include "cluster/etcd.h"
#include "cluster/fan_out.h"
#include "cluster/http_pool.h"
#include "cluster/stats_cache.h"
#include "cluster/jetstream.h"
#include "cluster/log.h"
#include "cluster/message.h"
#include "cluster/rebalance.h"
#include "cluster/shard.h"
#include "cluster/snapshot.h"
#include "govern/retention.h"
#include "index/store.h"
#include "ingest/chunker.h"
#include "ingest/limits.h"
#include "sync/source.h"

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

spdlog::logger& log() { return cluster_log(); }


// A stream read older than this leaves a replica's position unknown (its
// applier reads every second while NATS answers), ms.
constexpr int64_t kStreamReadFreshMs = 3000;

// The shard's stream takes this subject and the ones below it.
std::string stream_subject(const ClusterOptions& o, uint32_t s) {
  return "ragd." + o.name + ".shard." + std::to_string(s);
}

// Whether a keyed write may be made over a stored document with ACL
// `stored` (nullopt: none): the writer's groups cover the new ACL and the
// stored one. An unrestricted writer's always may. What the appliers decide
// (check_writer) and what the log's lookup replays (Node::current_acls).
bool writer_may(const WriteMessage& m, const std::optional<std::vector<std::string>>& stored) {
  if (!m.writer_groups) return true;
  if (!m.remove && !auth::groups_cover(*m.writer_groups, m.doc.acl)) return false;
  return !stored || auth::groups_cover(*m.writer_groups, *stored);
}

// The applier's check of a keyed write against the store it applies to:
// kPermissionDenied when writer_may() says no; a store error as it is (the
// message is retried). Every replica applies the same messages in the same
// order from the same state, so all decide alike.
Status check_writer(const Store& store, const WriteMessage& m) {
  if (!m.writer_groups) return Status::ok();
  std::optional<std::vector<std::string>> stored;
  auto old = store.get_document(m.doc.id);
  if (old.is_ok()) {
    stored = std::move(old->acl);
  } else if (old.status().code() != StatusCode::kNotFound) {
    return old.status();
  }
  if (!writer_may(m, stored)) {
    return Status::permission_denied("the writer's groups do not cover the new acl or the stored document's");
  }
  return Status::ok();
}

// Put by every purge once it is done: its mod_revision tells the nodes
// that one went through (Node::notice_purges).
std::string purges_key(const ClusterOptions& o) { return etcd_prefix(o) + "purges"; }

}  // namespace

ShardMap deal_shard_map(const std::vector<std::string>& nodes, uint32_t shards, uint32_t per_shard) {
  ShardMap m;
  m.replicas.resize(shards);
  const size_t n = nodes.size();
  const size_t r = std::min<size_t>(per_shard, n);
  for (uint32_t s = 0; s < shards; ++s) {
    for (size_t i = 0; i < r; ++i) m.replicas[s].push_back(nodes[(s + i) % n]);
  }
  return m;
}

std::vector<uint32_t> ShardMap::shards_of(const std::string& node) const {
  std::vector<uint32_t> out;
  for (uint32_t s = 0; s < replicas.size(); ++s) {
    if (std::find(replicas[s].begin(), replicas[s].end(), node) != replicas[s].end()) out.push_back(s);
  }
  for (const ShardMove& m : moves) {
    if (m.to == node && std::find(out.begin(), out.end(), m.shard) == out.end()) out.push_back(m.shard);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string shard_map_to_json(const ShardMap& m) {
  Json moves = Json::array();
  for (const ShardMove& mv : m.moves) {
    moves.push_back({{"shard", mv.shard}, {"from", mv.from}, {"to", mv.to}, {"id", mv.id}});
  }
  Json j{{"replicas", m.replicas}};
  if (!m.moves.empty()) j["moves"] = std::move(moves);
  return j.dump();
}

Result<ShardMap> shard_map_from_json(const std::string& text, uint32_t shards) {
  Json j = Json::parse(text, nullptr, false);
  ShardMap m;
  try {
    if (j.is_discarded()) throw std::invalid_argument("not JSON");
    m.replicas = j.at("replicas").get<std::vector<std::vector<std::string>>>();
    for (const auto& r : m.replicas) {
      if (std::set<std::string>(r.begin(), r.end()).size() != r.size())
        throw std::invalid_argument("a shard with two replicas on one node");
    }
    std::set<std::string> ids;
    std::set<uint32_t> moved;
    for (const Json& mv : j.value("moves", Json::array())) {
      ShardMove one{mv.at("shard").get<uint32_t>(), mv.at("from").get<std::string>(), mv.at("to").get<std::string>(),
                    mv.at("id").get<std::string>()};
      // One move per shard, from one of its replicas to a node without one.
      if (one.shard >= m.replicas.size() || one.id.empty() || !ids.insert(one.id).second ||
          !moved.insert(one.shard).second)
        throw std::invalid_argument("a bad move");
      const auto& r = m.replicas[one.shard];
      if (std::find(r.begin(), r.end(), one.from) == r.end() || std::find(r.begin(), r.end(), one.to) != r.end())
        throw std::invalid_argument("a move of shard " + std::to_string(one.shard) + " that does not fit its replicas");
      m.moves.push_back(std::move(one));
    }
  } catch (const std::exception& e) {
    return Status::corruption(std::string("the shard map in etcd is malformed: ") + e.what());
  }
  if (m.replicas.size() != shards) {
    return Status::failed_precondition("the shard map in etcd has " + std::to_string(m.replicas.size()) +
                                       " shards, the cluster file says " + std::to_string(shards) +
                                       "; the shard count is fixed for a cluster's life");
  }
  return m;
}

std::string format_consistency_token(const StreamPositions& at) {
  std::string out;
  for (const auto& [shard, seq] : at) {
    if (!out.empty()) out += ",";
    out += std::to_string(shard) + ":" + std::to_string(seq);
  }
  return out;
}

Result<StreamPositions> parse_consistency_token(std::string_view token, uint32_t shards) {
  StreamPositions out;
  auto bad = [&](const std::string& why) {
    return Status::invalid_argument("consistency_token '" + std::string(token.substr(0, 200)) + "': " + why);
  };
  auto number = [](std::string_view t, uint64_t& v) {
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    return !t.empty() && ec == std::errc() && end == t.data() + t.size();
  };
  size_t start = 0;
  while (start < token.size()) {
    size_t comma = token.find(',', start);
    if (comma == std::string_view::npos) comma = token.size();
    const std::string_view part = token.substr(start, comma - start);
    const size_t colon = part.find(':');
    uint64_t shard = 0, seq = 0;
    if (colon == std::string_view::npos || !number(part.substr(0, colon), shard) ||
        !number(part.substr(colon + 1), seq)) {
      return bad("expected <shard>:<sequence>[,...]");
    }
    if (shard >= shards) return bad("shard " + std::to_string(shard) + " does not exist");
    uint64_t& pos = out[static_cast<uint32_t>(shard)];
    pos = std::max(pos, seq);
    start = comma + 1;
  }
  return out;
}

Result<ShardMap> read_shard_map(Etcd& etcd, const ClusterOptions& o) {
  RAGD_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> kv, etcd.get(shard_map_key(o)));
  if (kv) {
    RAGD_ASSIGN_OR_RETURN(ShardMap m, shard_map_from_json(kv->value, o.shards));
    m.revision = kv->mod_revision;
    return m;
  }
  return Status::not_found("cluster '" + o.name + "' has no shard map in etcd: no node has joined it yet");
}

Result<std::map<std::string, std::string>> read_live_nodes(Etcd& etcd, const ClusterOptions& o) {
  const std::string prefix = etcd_prefix(o) + "nodes/";
  RAGD_ASSIGN_OR_RETURN(EtcdRange r, etcd.range_prefix(prefix));
  std::map<std::string, std::string> out;
  for (const auto& kv : r.kvs) out[kv.key.substr(prefix.size())] = kv.value;
  return out;
}

std::string stream_name(const ClusterOptions& o, uint32_t s) { return o.name + "_S" + std::to_string(s); }

std::string document_subject(const ClusterOptions& o, const std::string& doc_id) {
  return stream_subject(o, shard_of(doc_id, o.shards)) + "." + auth::hex_encode(auth::sha256(doc_id)).substr(0, 32);
}

std::string shard_collection(uint32_t s) { return "shard-" + std::to_string(s); }
bool is_shard_collection(std::string_view name) { return name.starts_with("shard-"); }
std::optional<uint32_t> shard_number(std::string_view name) {
  if (!is_shard_collection(name)) return std::nullopt;
  const std::string_view digits = name.substr(6);
  uint32_t s = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), s);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return s;
}
std::string etcd_prefix(const ClusterOptions& o) { return "/ragd/" + o.name + "/"; }
std::string shard_map_key(const ClusterOptions& o) { return etcd_prefix(o) + "shardmap"; }
std::string ready_key(const ClusterOptions& o, uint32_t shard, const std::string& node) {
  return etcd_prefix(o) + "ready/" + std::to_string(shard) + "/" + node;
}
std::string consumer_name(const std::string& node, uint32_t shard) { return node + "_s" + std::to_string(shard); }

std::string erased_key(const ClusterOptions& o, uint32_t shard, uint64_t seq) {
  // Zero-padded, so that key order is sequence order (check_gap counts a
  // range of them).
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(seq));
  return etcd_prefix(o) + "erased/" + std::to_string(shard) + "/" + digits;
}
std::string gap_accepted_key(const ClusterOptions& o, uint32_t shard) {
  return etcd_prefix(o) + "gap-accepted/" + std::to_string(shard);
}

Node::Node(ClusterOptions options, Collections* collections)
    : options_(std::move(options)),
      collections_(collections),
      // Helpers for up to two searches' steps at once (a peer's part mostly
      // waits on its HTTP answer); more searches run their parts themselves.
      fan_out_(std::make_unique<FanOut>(std::clamp<size_t>(2 * options_.shards, 4, 32))),
      // The writes' own: a bulk write holding helpers for its publishes
      // must not leave the searches without any.
      write_fan_out_(std::make_unique<FanOut>(std::clamp<size_t>(options_.shards, 2, 8))) {
  sync::HttpOptions o;
  o.timeout_seconds = options_.search_timeout_seconds;
  o.connect_timeout_seconds = 2;
  o.max_attempts = 1;  // the next replica is the retry
  o.tls_ca_file = options_.tls.ca_file.string();  // peers advertised as https://
  peers_ = std::make_unique<HttpClientPool>(o);
  stats_cache_ = std::make_unique<StatsCache>(options_.shards);
  snapshots_ = std::make_unique<SnapshotServer>();
}

Result<std::unique_ptr<Node>> Node::start(ClusterOptions options, Collections& collections) {
  RAGD_RETURN_IF_ERROR(check_cluster_options(options));
  std::unique_ptr<Node> node(new Node(std::move(options), &collections));
  RAGD_RETURN_IF_ERROR(node->join());
  return node;
}

Result<std::unique_ptr<Node>> Node::start_writer(ClusterOptions options, IngestOptions ingest) {
  RAGD_RETURN_IF_ERROR(check_cluster_options(options));
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "unknown");
  options.node_id = "sync-" + std::string(host) + "-" + std::to_string(getpid());
  std::unique_ptr<Node> node(new Node(std::move(options), nullptr));
  node->ingest_ = std::move(ingest);
  RAGD_RETURN_IF_ERROR(node->join_as_writer());
  return node;
}

Status Node::join_as_writer() {
  const ClusterOptions& o = options_;
  RAGD_ASSIGN_OR_RETURN(js_, JetStream::connect(o.nats, "ragd-" + o.node_id, o.tls, o.nats_auth, o.nats_silence));
  etcd_ = std::make_unique<Etcd>(o.etcd, 5, o.tls, o.etcd_auth);
  RAGD_ASSIGN_OR_RETURN(std::string nonce, auth::random_bytes(6));
  write_nonce_ = o.node_id + "-" + auth::hex_encode(nonce);
  // The nodes make the streams and the map; a writer only uses them. The
  // map is read once: a writer's only use of it is to find a shard's
  // replicas for documents_where, which are asked by their URLs anyway.
  auto m = read_shard_map(*etcd_, o);
  if (!m.is_ok() && m.status().code() == StatusCode::kNotFound) {
    return Status::failed_precondition("cluster '" + o.name + "' has no shard map in etcd: no node has joined it yet; "
                                       "start its nodes (`ragd serve --cluster FILE`) first");
  }
  RAGD_RETURN_IF_ERROR(m.status());
  {
    std::lock_guard lock(map_mu_);
    map_ = std::move(m).value();
  }
  // The claims of the sources this writer syncs are under this lease.
  // With no advertised URL, keepalive_loop renews it and registers nothing.
  RAGD_ASSIGN_OR_RETURN(lease_, etcd_->lease_grant(o.lease_ttl_seconds));
  lease_renewed_ms_ = steady_ms();
  keepalive_ = std::thread([this] { keepalive_loop(); });
  RAGD_RETURN_IF_ERROR(refresh_live_nodes().status());
  return Status::ok();
}

Status Node::join() {
  const ClusterOptions& o = options_;
  // The appliers ingest with the collections' options (every collection
  // has the default's): the write path checks against the same ones.
  RAGD_ASSIGN_OR_RETURN(std::shared_ptr<ServiceContext> default_ctx, collections_->get(""));
  ingest_ = default_ctx->options().ingest;
  RAGD_ASSIGN_OR_RETURN(js_, JetStream::connect(o.nats, "ragd-" + o.node_id, o.tls, o.nats_auth, o.nats_silence));
  etcd_ = std::make_unique<Etcd>(o.etcd, 5, o.tls, o.etcd_auth);
  RAGD_ASSIGN_OR_RETURN(std::string nonce, auth::random_bytes(6));
  write_nonce_ = o.node_id + "-" + auth::hex_encode(nonce);
  // A JetStream cluster that has just started needs a few seconds to
  // elect its meta leader before it can create replicated streams.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.join_timeout_seconds);
  for (uint32_t s = 0; s < o.shards; ++s) {
    for (;;) {
      Status st = js_->ensure_stream(stream_name(o, s), stream_subject(o, s), o.stream_replicas,
                                     StreamLimits{o.stream_max_age_seconds, o.stream_max_bytes});
      if (st.is_ok()) break;
      if (std::chrono::steady_clock::now() >= deadline) return st;
      std::this_thread::sleep_for(250ms);
    }
  }
  // The shard map: the first node up writes the one dealt from the file;
  // everyone reads whatever is there (its revision names the version).
  // Whichever map is stored now, read_shard_map reads and checks it with its revision.
  RAGD_RETURN_IF_ERROR(
      etcd_->put_if_absent(shard_map_key(o), shard_map_to_json(deal_shard_map(o.nodes, o.shards, o.shard_replicas)))
          .status());
  {
    RAGD_ASSIGN_OR_RETURN(ShardMap m, read_shard_map(*etcd_, o));
    std::lock_guard lock(map_mu_);
    map_ = std::move(m);
    map_read_ms_ = steady_ms();
  }
  // The purges so far: the prefix cache is empty, only later ones clear it
  // (unread, the first look clears it: it may have cached by then).
  if (auto purges = etcd_->get(purges_key(o)); purges.is_ok()) {
    purges_seen_ = purges->has_value() ? (*purges)->mod_revision : 0;
  } else {
    log().warn("node {}: reading the purges key: {}; its first look will empty the prompt cache", o.node_id,
               purges.status().to_string());
  }
  // Liveness: this node's URL under a lease that keepalive_loop renews,
  // from now on: opening the shards' stores below may take longer than the
  // lease's TTL.
  RAGD_ASSIGN_OR_RETURN(lease_, etcd_->lease_grant(o.lease_ttl_seconds));
  lease_renewed_ms_ = steady_ms();
  keepalive_ = std::thread([this] { keepalive_loop(); });
  if (!o.advertise.empty()) RAGD_RETURN_IF_ERROR(set_advertise(o.advertise));
  // The owned shards' stores are opened here, so a failure is reported by
  // the start rather than by a thread; then the map is followed.
  RAGD_RETURN_IF_ERROR(follow_map());
  watcher_ = std::thread([this] { watch_loop(); });
  // The live nodes now, not at the first renewal: until then /healthz would
  // call etcd unreachable, and a search cut off from etcd would know no peer.
  (void)refresh_live_nodes();  // a failure shows in live_view(); keepalive_loop reads again
  // Started again: back in service, if an operator's --drain emptied it.
  if (Status st = etcd_->remove(drained_key(o, o.node_id)); !st.is_ok()) {
    log().warn("node {}: could not clear its drained mark in etcd: {}", o.node_id, st.to_string());
  }
  if (o.auto_rebalance) {
    auto_rebalancer_ = std::make_unique<AutoRebalancer>(
        options_, AutoRebalancer::Hooks{[this]() -> Result<std::set<std::string>> {
                                          RAGD_ASSIGN_OR_RETURN(auto nodes, refresh_live_nodes());
                                          std::set<std::string> ids;
                                          for (const auto& [id, url] : nodes) ids.insert(id);
                                          return ids;
                                        },
                                        [this] { return shard_map(); },
                                        [this] {
                                          std::lock_guard lock(lease_mu_);
                                          return lease_;
                                        },
                                        [this](uint32_t s, const std::string& n) {
                                          return js_->delete_consumer(stream_name(options_, s),
                                                                      consumer_name(n, s));
                                        }});
  }
  const ShardMap m = shard_map();
  log().info("node {} joined cluster {}: {} shards, owns {}, shard map revision {}", o.node_id, o.name, o.shards,
             m.shards_of(o.node_id).size(), m.revision);
  return Status::ok();
}

AutoRebalanceStatus Node::auto_rebalance_status() const {
  return auto_rebalancer_ ? auto_rebalancer_->status() : AutoRebalanceStatus{};
}

ShardMap Node::shard_map() const {
  std::lock_guard lock(map_mu_);
  return map_;
}

void Node::watch_loop() {
  int64_t seen = shard_map().revision;
  while (!stop_) {
    for (int i = 0; i < 20 && !stop_; ++i) std::this_thread::sleep_for(50ms);
    if (stop_) break;
    auto m = read_shard_map(*etcd_, options_);
    if (m.is_ok() && m->revision != seen) {
      seen = m->revision;
      log().info("node {}: shard map revision {} ({} moves pending)", options_.node_id, m->revision,
                 m->moves.size());
      std::lock_guard lock(map_mu_);
      map_ = std::move(m).value();
      map_read_ms_ = steady_ms();  // after the map it vouches for, never before
    } else if (m.is_ok()) {
      map_read_ms_ = steady_ms();  // the map held is the one just read
    } else {
      log().warn("node {}: reading the shard map: {}", options_.node_id, m.status().to_string());
    }
    Status followed = follow_map();
    if (!followed.is_ok()) log().error("node {}: following the shard map: {}", options_.node_id, followed.to_string());
    report_ready();
    notice_purges();
  }
}

Status Node::follow_map() {
  const ShardMap m = shard_map();
  const std::string& me = options_.node_id;
  const std::vector<uint32_t> wanted = m.shards_of(me);
  auto is_wanted = [&](uint32_t s) { return std::binary_search(wanted.begin(), wanted.end(), s); };
  Status first;
  auto keep_first = [&](const Status& st) {
    if (first.is_ok() && !st.is_ok()) first = st;
  };
  // Start what is here or coming here.
  for (uint32_t s : wanted) {
    const auto& serving = m.replicas[s];
    const bool joining = std::find(serving.begin(), serving.end(), me) == serving.end();
    retiring_.erase(s);
    {
      std::lock_guard lock(status_mu_);
      if (auto it = status_.find(s); it != status_.end()) it->second.role = joining ? "joining" : "serving";
    }
    if (appliers_.count(s)) continue;
    auto svc = collections_->get(shard_collection(s));
    if (!svc.is_ok() && svc.status().code() == StatusCode::kNotFound) svc = collections_->create(shard_collection(s));
    if (!svc.is_ok()) {
      keep_first(svc.status().with_context("opening the store of shard " + std::to_string(s)));
      continue;
    }
    // Where the stream ends, read now (before the node serves): how far
    // behind this replica is must be known from its first search on, or a
    // replica just restarted would count as behind one being rebuilt.
    auto last = js_->last_sequence(stream_name(options_, s));
    auto applied = (*svc)->store().get_state(kAppliedKey);
    {
      std::lock_guard lock(status_mu_);
      ShardStatus& st = status_[s];
      st.shard = s;
      st.role = joining ? "joining" : "serving";
      if (last.is_ok() && applied.is_ok()) {
        try {
          st.applied = applied->empty() ? 0 : std::stoull(*applied);
          st.stream_last = st.stream_last_before = *last;
          st.stream_read_ms = steady_ms();
        } catch (const std::exception&) {
          // the applier reports the bad value
        }
      }
    }
    auto a = std::make_unique<Applier>();
    Applier& ref = *a;
    a->thread = std::thread([this, s, &ref] { apply_loop(s, ref.quit); });
    appliers_[s] = std::move(a);
    if (joining) log().info("node {}: bootstrapping shard {} (moving here)", me, s);
  }
  // Retire what moved away, once no peer can still be in a search that
  // began with the old map.
  const auto now = std::chrono::steady_clock::now();
  for (auto it = appliers_.begin(); it != appliers_.end();) {
    const uint32_t s = it->first;
    if (is_wanted(s)) {
      ++it;
      continue;
    }
    auto [when, added] = retiring_.emplace(s, now + std::chrono::seconds(options_.retire_grace_seconds));
    if (added) {
      std::lock_guard lock(status_mu_);
      status_[s].role = "retiring";
      log().info("node {}: shard {} moved away; its copy goes in {} s", me, s, options_.retire_grace_seconds);
    }
    if (now < when->second) {
      ++it;
      continue;
    }
    // The copy goes only while every replica the map now names is live: a
    // replacement that died right after reporting ready leaves this one as
    // the shard's copy until it is back (or the map changes again).
    if (!replicas_live(m.replicas[s])) {
      if (retire_held_.insert(s).second) {
        log().warn("node {}: keeping its copy of shard {}: a replica the map names is not live", me, s);
      }
      ++it;
      continue;
    }
    retire_held_.erase(s);
    it->second->quit = true;
    it->second->thread.join();
    it = appliers_.erase(it);
    retiring_.erase(s);
    {
      std::lock_guard lock(status_mu_);
      status_.erase(s);
    }
    applied_cv_.notify_all();  // a read-your-writes wait on this shard ends
    keep_first(js_->delete_consumer(stream_name(options_, s), consumer_name(me, s)));
    auto removed = collections_->remove(shard_collection(s));
    if (!removed.is_ok() && removed.status().code() != StatusCode::kNotFound) keep_first(removed.status());
    log().info("node {}: retired shard {}", me, s);
  }
  // A shard's copy left on disk that the map does not give this node (it
  // was retired while this node was down, or the node stopped half way):
  // no peer reads it, so it goes at once. Looked for at the start and when
  // the map changes (or while one is kept back), not every second.
  if (m.revision == leftovers_checked_at_ && retire_held_.empty()) return first;
  leftovers_checked_at_ = m.revision;
  for (const std::string& name : collections_->names()) {
    const auto number = shard_number(name);
    if (!number || *number >= options_.shards) continue;
    const uint32_t s = *number;
    if (is_wanted(s) || appliers_.count(s)) continue;
    // Only a copy that the shard's stream can rebuild, and that the map
    // holds live elsewhere: one of another stream (deleted and created
    // again, see apply_loop) may be the only copy of its documents.
    if (m.replicas[s].empty() || !replicas_live(m.replicas[s]) || !rebuildable(s)) continue;
    auto removed = collections_->remove(name);
    if (!removed.is_ok() && removed.status().code() != StatusCode::kNotFound) keep_first(removed.status());
    keep_first(js_->delete_consumer(stream_name(options_, s), consumer_name(me, s)));
    log().info("node {}: deleted the copy of shard {} left on disk (the map gives it to others)", me, s);
  }
  return first;
}

bool Node::replicas_live(const std::vector<std::string>& nodes) {
  auto live = refresh_live_nodes();  // not the searches' cached list: a copy is deleted on this answer
  if (!live.is_ok()) return false;
  return std::all_of(nodes.begin(), nodes.end(),
                     [&](const std::string& n) { return n == options_.node_id || live->count(n) != 0; });
}

bool Node::lease_lapsed() const {
  return steady_ms() - lease_renewed_ms_ > int64_t{options_.lease_ttl_seconds} * 1000;
}

bool Node::map_gives_here(uint32_t s) const {
  if (steady_ms() - map_read_ms_ > int64_t{options_.lease_ttl_seconds} * 1000) return false;
  const std::vector<uint32_t> mine = shard_map().shards_of(options_.node_id);
  return std::binary_search(mine.begin(), mine.end(), s);
}

bool Node::rebuildable(uint32_t s) {
  auto svc = collections_->get(shard_collection(s));
  auto created = js_->stream_created(stream_name(options_, s));
  if (!svc.is_ok() || !created.is_ok()) return false;
  auto kept = (*svc)->store().get_state(kStreamEpochKey);
  auto applied = (*svc)->store().get_state(kAppliedKey);
  if (!kept.is_ok() || !applied.is_ok()) return false;
  if (applied->empty() || *applied == "0" || *kept == std::to_string(*created)) return true;
  if (retire_held_.insert(s).second) {
    log().warn("node {}: keeping the copy of shard {} left on disk: it applied another stream than {} now is (wipe "
               "it by hand once it is not needed)",
               options_.node_id, s, stream_name(options_, s));
  }
  return false;
}

void Node::report_ready() {
  const ShardMap m = shard_map();
  std::map<uint32_t, std::string> pending;  // shard -> id of a move to this node
  for (const ShardMove& mv : m.moves) {
    if (mv.to == options_.node_id) pending[mv.shard] = mv.id;
  }
  int64_t lease;
  {
    std::lock_guard lock(lease_mu_);
    lease = lease_;
  }
  for (auto it = ready_sent_.begin(); it != ready_sent_.end();) {
    auto p = pending.find(it->first);
    if (p != pending.end() && p->second == it->second) {
      ++it;
      continue;
    }
    (void)etcd_->remove(ready_key(options_, it->first, options_.node_id));  // under the lease anyway
    it = ready_sent_.erase(it);
  }
  for (const auto& [s, id] : pending) {
    if (!appliers_.count(s)) continue;
    // Caught up: everything the stream held a moment ago is applied here.
    // One that falls behind again (a failing disk) takes its word back.
    // (The applier's own measure, as for the searches' choice of replica:
    // it has applied what the stream held when it last looked, a second
    // ago at most; under steady writes it is never level with this instant.)
    const ShardPosition at = position(s);
    if (at.behind != 0) {
      if (ready_sent_.erase(s) != 0) (void)etcd_->remove(ready_key(options_, s, options_.node_id));
      continue;
    }
    // Put again each round: a lease renewed under a fresh id dropped it.
    if (etcd_->put(ready_key(options_, s, options_.node_id), id, lease).is_ok()) {
      if (!ready_sent_.count(s))
        log().info("node {}: shard {} caught up (sequence {}): ready", options_.node_id, s, at.applied);
      ready_sent_[s] = id;
    }
  }
}

Result<std::string> Node::sync_state(const std::string& key) {
  RAGD_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> kv, etcd_->get(etcd_prefix(options_) + "sync/" + key));
  return kv ? kv->value : std::string();
}

namespace {

std::string claim_key(const ClusterOptions& o, const std::string& source) {
  return etcd_prefix(o) + "sync-claims/" + source;
}

}  // namespace

Status Node::put_sync_state(const std::string& source, const std::string& key, const std::string& value) {
  RAGD_ASSIGN_OR_RETURN(bool put, etcd_->put_if_equal(etcd_prefix(options_) + "sync/" + key, value,
                                                      claim_key(options_, source), options_.node_id));
  if (put) return Status::ok();
  return Status::failed_precondition("node " + options_.node_id + " no longer holds the claim of source '" + source +
                                     "' (its etcd lease lapsed): another node runs its passes now");
}

namespace {

std::string tombstone_key(const ClusterOptions& o, const std::string& id) {
  return etcd_prefix(o) + "tombstones/" + auth::hex_encode(auth::sha256(id));
}

std::string seen_key(const ClusterOptions& o, const std::string& key) {
  return etcd_prefix(o) + "seen/" + auth::hex_encode(auth::sha256(key)).substr(0, 40);
}

}  // namespace

Result<std::vector<bool>> Node::purged(const std::vector<std::string>& ids) {
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (const auto& id : ids) keys.push_back(tombstone_key(options_, id));
  return etcd_->exist(keys);
}

Result<std::string> Node::claim_holder(const std::string& source) {
  RAGD_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> kv, etcd_->get(claim_key(options_, source)));
  if (!kv) return std::string("(nobody)");
  return kv->value == options_.node_id ? std::string() : kv->value;
}

Result<bool> Node::first_sight(const std::string& key, int ttl_seconds) {
  // One lease for the keys of a few minutes: each key lives between
  // ttl_seconds and twice that.
  int64_t lease;
  {
    std::lock_guard lock(seen_lease_mu_);
    const int64_t now = steady_ms();
    if (seen_lease_ == 0 || seen_lease_until_ms_ - now < int64_t{ttl_seconds} * 1000) {
      RAGD_ASSIGN_OR_RETURN(seen_lease_, etcd_->lease_grant(2 * ttl_seconds));
      seen_lease_until_ms_ = now + int64_t{2} * ttl_seconds * 1000;
    }
    lease = seen_lease_;
  }
  // A marker of this call alone: the value read back says who created it.
  const std::string mine = options_.node_id + ":" + write_nonce_ + ":" + std::to_string(++write_counter_);
  RAGD_ASSIGN_OR_RETURN(std::string held, etcd_->put_if_absent(seen_key(options_, key), mine, lease));
  return held == mine;
}

void Node::forget_sight(const std::string& key) { (void)etcd_->remove(seen_key(options_, key)); }

Result<std::string> Node::claim_source(const std::string& source) {
  int64_t lease;
  {
    std::lock_guard lock(lease_mu_);
    lease = lease_;
  }
  // Under this node's lease: when the node dies, or is cut off from etcd
  // for longer than the lease, the claim goes and another node's next look
  // takes it. (A lease renewed under a fresh id leaves the old claim to
  // expire with the old lease: the next look after that claims again.)
  RAGD_ASSIGN_OR_RETURN(std::string holder, etcd_->put_if_absent(claim_key(options_, source), options_.node_id, lease));
  return holder == options_.node_id ? std::string() : holder;
}

Status Node::set_advertise(const std::string& url) {
  std::lock_guard lock(lease_mu_);
  const std::string key = etcd_prefix(options_) + "nodes/" + options_.node_id;
  Status put = etcd_->put(key, url, lease_);
  if (!put.is_ok()) {
    // etcd refuses a put under a lease that has expired (a start slower
    // than the TTL, etcd away for longer): register under a fresh one.
    auto fresh = etcd_->lease_grant(options_.lease_ttl_seconds);
    if (!fresh.is_ok()) return put;
    RAGD_RETURN_IF_ERROR(etcd_->put(key, url, *fresh));
    lease_ = *fresh;
    lease_renewed_ms_ = steady_ms();
  }
  advertise_ = url;
  return Status::ok();
}

Node::~Node() {
  auto_rebalancer_.reset();  // a run ends at its next step, its moves pending
  stop_ = true;
  {
    std::lock_guard lock(status_mu_);  // a waiter between its check and its wait sees stop_
  }
  applied_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  for (auto& [s, a] : appliers_) a->thread.join();
  if (keepalive_.joinable()) keepalive_.join();
  if (collections_ == nullptr && etcd_ != nullptr && lease_ != 0) {
    // A writer's claims go with it now, not a lease TTL later: the nodes
    // take its sources back at their next look.
    if (Status st = etcd_->lease_revoke(lease_); !st.is_ok()) {
      log().warn("{}: revoking its etcd lease failed ({}); its claims go when the lease expires", options_.node_id,
                 st.to_string());
    }
  }
}

void Node::keepalive_loop() {
  const auto every = std::chrono::milliseconds(options_.lease_ttl_seconds * 1000 / 3);
  auto next = std::chrono::steady_clock::now() + every;
  while (!stop_) {
    // Nothing here waits on NATS (a silent server is asked again by the
    // connection's own prober thread, jetstream.h): a renewal is late by
    // etcd alone.
    if (std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(50ms);
      continue;
    }
    next = std::chrono::steady_clock::now() + every;
    int64_t lease;
    std::string url;
    {
      std::lock_guard lock(lease_mu_);
      lease = lease_;
      url = advertise_;
    }
    auto ttl = etcd_->lease_keepalive(lease);
    // The live nodes too, for /metrics (a scrape makes no etcd call) and the
    // searches (which reuse a list up to 0.5 s old).
    (void)refresh_live_nodes();  // a failure shows in live_view()
    if (ttl.is_ok() && *ttl > 0) {
      lease_renewed_ms_ = steady_ms();
      continue;
    }
    if (!ttl.is_ok()) {
      log().warn("node {}: renewing its etcd lease failed: {}", options_.node_id, ttl.status().to_string());
      continue;
    }
    // Expired (etcd was away longer than the TTL): register again.
    auto fresh = etcd_->lease_grant(options_.lease_ttl_seconds);
    if (!fresh.is_ok()) continue;
    if (url.empty() || etcd_->put(etcd_prefix(options_) + "nodes/" + options_.node_id, url, *fresh).is_ok()) {
      std::lock_guard lock(lease_mu_);
      lease_ = *fresh;
      lease_renewed_ms_ = steady_ms();
      log().info("node {}: lease had expired; registered again", options_.node_id);
    }
  }
}

OutgoingMessage Node::outgoing(const WriteMessage& m) {
  // Nats-Msg-Id: the id and content hash (as issue 15 proposes) plus this
  // write's own number. JetStream drops a message whose id it saw within
  // its duplicate window, so id + hash alone would drop the third write of
  // "put A, delete A, put A again" made within two minutes; the write
  // number keeps the de-duplication to what it is for: our own retries of
  // one publish (publish() resends the same id after a lost ack).
  const std::string what = m.purge    ? std::string("purge")
                           : m.remove ? std::string("delete")
                                      : auth::hex_encode(Store::content_hash(m.doc)).substr(0, 32);
  OutgoingMessage out;
  out.subject = document_subject(options_, m.doc.id);
  out.msg_id = auth::hex_encode(auth::sha256(m.doc.id)).substr(0, 32) + ":" + what + ":" + write_nonce_ + "-" +
               std::to_string(++write_counter_);
  out.data = encode_message(m);
  return out;
}

Result<uint64_t> Node::publish(const WriteMessage& m) {
  const OutgoingMessage o = outgoing(m);
  return js_->publish(o.subject, o.msg_id, o.data, options_.publish_timeout_ms);
}

Status check_publishable(Document& doc, const IngestOptions& options) {
  RAGD_RETURN_IF_ERROR(normalize_document(doc));
  RAGD_RETURN_IF_ERROR(check_metadata_limits(doc, options.limits));
  if (doc.id.size() > kMaxDocumentIdBytes) {
    return Status::invalid_argument("id of " + std::to_string(doc.id.size()) + " bytes, more than the limit of " +
                                    std::to_string(kMaxDocumentIdBytes));
  }
  // The applier chunks it again with the same options; counting here costs
  // a split but no embedding.
  const size_t chunks = Chunker(options.chunker).split(doc).size();
  if (chunks > options.limits.max_chunks) {
    return Status::resource_exhausted(std::to_string(chunks) + " chunks, more than the limit of " +
                                      std::to_string(options.limits.max_chunks) +
                                      " per document (split the file, or raise max_chunks)");
  }
  return Status::ok();
}

Node::Health Node::health() const {
  Health h{js_->down_for_ms() == 0, cut_off_from_nats(), live_view().etcd_ok, lease_lapsed(), {}};
  std::lock_guard lock(status_mu_);
  for (const auto& [s, st] : status_) {
    if (st.gap_first != 0) h.stopped_at_gap.push_back(s);
  }
  return h;
}

bool Node::cut_off_from_nats() const { return js_->down_for_ms() > options_.publish_timeout_ms; }

bool Node::refuses_writes() {
  if (!cut_off_from_nats()) return false;
  js_->recheck_silence();
  return cut_off_from_nats();
}

std::string Node::cut_off_reason() const {
  if (js_->silent()) {
    return "node " + options_.node_id + "'s NATS server has stopped answering (connected, but no PONG; the client " +
           "moves to another server once its pings go unanswered)";
  }
  return "node " + options_.node_id + " has lost its connection to NATS (reconnecting)";
}

IngestStats Node::write(std::vector<Document> docs, const WriterGroups& writer, bool skip_tombstoned,
                        const std::set<std::string>& creating) {
  IngestStats st;
  if (refuses_writes()) {
    // No write can be made durable; say so at once rather than after
    // publish_timeout_ms per request. (A connection down for less than that
    // is usually a reconnect to another server: publish() waits for it.)
    const bool silent = js_->silent();
    st.seen = st.failed = docs.size();
    st.store_error = Status::unavailable(cut_off_reason() + ": writes are refused until it is back; nothing of "
                                         "this request was acknowledged");
    for (const Document& d : docs) {
      st.errors.push_back(d.id + (silent ? ": not acknowledged (the NATS server does not answer)"
                                         : ": not acknowledged (no connection to NATS)"));
    }
    return st;
  }
  // Checked first, in request order; then each shard's documents published
  // in request order (a document's writes keep their order: it always goes
  // to the same shard), the shards side by side.
  std::map<uint32_t, std::vector<size_t>> by_shard;
  for (size_t i = 0; i < docs.size(); ++i) {
    Document& d = docs[i];
    ++st.seen;
    Status ok;
    try {
      ok = check_publishable(d, ingest_);
    } catch (const std::bad_alloc&) {
      ok = Status::resource_exhausted("out of memory while chunking");
    }
    if (!ok.is_ok()) {
      ++st.failed;
      st.errors.push_back((d.id.empty() ? d.origin : d.id) + ": " + ok.to_string());
      continue;
    }
    by_shard[shard_of(d.id, options_.shards)].push_back(i);
  }
  struct ShardWrite {
    uint32_t shard = 0;
    std::vector<size_t> docs;
    uint64_t acked = 0, position = 0;
    std::vector<std::string> errors;  // documents too big for a message
    size_t too_big = 0;
    Status failed;                    // the first document not acknowledged
    size_t stopped_at = SIZE_MAX;     // index into `docs` of that document
    std::vector<std::pair<size_t, Status>> not_acked;  // index into `docs`, why
  };
  std::vector<ShardWrite> parts;
  for (auto& [s, idx] : by_shard) {
    ShardWrite& w = parts.emplace_back();
    w.shard = s;
    w.docs = std::move(idx);
  }
  write_fan_out_->run(parts.size(), [&](size_t p) {
    ShardWrite& w = parts[p];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.publish_timeout_ms);
    // The shard's documents in request order, sent without waiting for each
    // acknowledgement (one connection keeps their order in the stream).
    std::vector<OutgoingMessage> msgs(w.docs.size());
    std::vector<Result<uint64_t>> seqs;
    try {
      for (size_t k = 0; k < w.docs.size(); ++k) {
        WriteMessage m;
        m.doc = docs[w.docs[k]];
        m.writer_groups = writer;
        m.skip_tombstoned = skip_tombstoned;
        msgs[k] = outgoing(m);
        msgs[k].expect_new_subject = creating.count(m.doc.id) != 0;
      }
      seqs = js_->publish_all(msgs, options_.publish_timeout_ms);
    } catch (const std::exception& e) {
      seqs.assign(w.docs.size(), Status::internal(std::string("publishing failed: ") + e.what()));
    }
    // The last position of each document id in this shard's list.
    std::map<std::string_view, size_t> last_of;
    for (size_t k = 0; k < w.docs.size(); ++k) last_of[docs[w.docs[k]].id] = k;
    for (size_t k = 0; k < w.docs.size(); ++k) {
      const Document& d = docs[w.docs[k]];
      Result<uint64_t>& seq = seqs[k];
      if (!seq.is_ok() && seq.status().code() == StatusCode::kResourceExhausted) {
        // Too big for the cluster's messages: this document fails, the rest go on.
        ++w.too_big;
        w.errors.push_back(d.id + ": " + seq.status().to_string());
        continue;
      }
      // A creation another write beat is final: not resent.
      if (!seq.is_ok() && seq.status().code() != StatusCode::kAlreadyExists && last_of[d.id] == k &&
          !msgs[k].msg_id.empty()) {
        // Not acknowledged (it may still have been stored): sent again with
        // the same id, which JetStream de-duplicates, while there is time.
        // Not when the request writes the same document again later: a
        // resend could land after that later version.
        const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 deadline - std::chrono::steady_clock::now()).count();
        if (left > 0) {
          try {
            seq = js_->publish(msgs[k].subject, msgs[k].msg_id, msgs[k].data, left, msgs[k].expect_new_subject);
          } catch (const std::exception& e) {
            seq = Status::internal(std::string("publishing failed: ") + e.what());
          }
        }
      }
      if (!seq.is_ok()) {
        // The others go on: each counts as acknowledged only if JetStream
        // said so.
        if (w.stopped_at == SIZE_MAX) {
          w.failed = seq.status();
          w.stopped_at = k;
        }
        w.not_acked.emplace_back(k, seq.status());
        continue;
      }
      ++w.acked;
      w.position = std::max(w.position, *seq);
    }
  });
  StreamPositions at;
  size_t first_stop = SIZE_MAX;
  for (ShardWrite& w : parts) {
    st.ingested += w.acked;
    st.failed += w.too_big;
    for (auto& e : w.errors) st.errors.push_back(std::move(e));
    if (w.acked > 0) at[w.shard] = w.position;
    if (w.stopped_at == SIZE_MAX) continue;
    for (const auto& [k, why] : w.not_acked) {
      ++st.failed;
      st.errors.push_back(docs[w.docs[k]].id + (why.code() == StatusCode::kAlreadyExists
                                                    ? ": not written: " + why.message()
                                                    : ": not acknowledged (" + why.message() + ")"));
    }
    if (w.docs[w.stopped_at] < first_stop) {
      first_stop = w.docs[w.stopped_at];
      st.store_error = w.failed;
    }
  }
  st.consistency_token = format_consistency_token(at);
  return st;
}

Status Node::check_removal(const std::string& doc_id, const std::string& what) {
  if (doc_id.empty() || doc_id.size() > kMaxDocumentIdBytes) return Status::invalid_argument("bad document id");
  if (refuses_writes()) return Status::unavailable(cut_off_reason() + ": the " + what + " is refused until it is back");
  return Status::ok();
}

Result<std::string> Node::remove(const std::string& doc_id, const WriterGroups& writer) {
  RAGD_RETURN_IF_ERROR(check_removal(doc_id, "delete"));
  WriteMessage m;
  m.remove = true;
  m.doc.id = doc_id;
  m.writer_groups = writer;
  RAGD_ASSIGN_OR_RETURN(uint64_t seq, publish(m));
  return format_consistency_token({{shard_of(doc_id, options_.shards), seq}});
}

Result<std::string> Node::purge(const std::string& doc_id) {
  RAGD_RETURN_IF_ERROR(check_removal(doc_id, "purge"));
  // Recorded first, so that no sync pass publishes the document again from
  // now on (Node::purged); the appliers' own check covers one already under way.
  RAGD_RETURN_IF_ERROR(etcd_->put(tombstone_key(options_, doc_id), doc_id).with_context("recording the purge in etcd"));
  WriteMessage m;
  m.remove = m.purge = true;
  m.doc.id = doc_id;
  // The purge first, then what came before it on the document's subject,
  // message by message: a replica that had not applied those yet skips
  // them, and one replaying the stream later never sees them.
  RAGD_ASSIGN_OR_RETURN(uint64_t seq, publish(m));
  const uint32_t s = shard_of(doc_id, options_.shards);
  // In the log: every node's prompt-prefix cache may quote the document
  // (Node::notice_purges). Reported after the erasing, which goes on
  // either way.
  const std::string token = format_consistency_token({{s, seq}});
  const Status told = etcd_->put(purges_key(options_), token).with_context("telling the nodes through etcd");
  const std::string stream = stream_name(options_, s);
  const std::string subject = document_subject(options_, doc_id);
  Status cleared = Status::ok();
  for (uint64_t from = 1;;) {
    auto next = js_->next_message(stream, subject, from);
    if (!next.is_ok()) {
      cleared = next.status();
      break;
    }
    if (!next->has_value() || (*next)->stream_seq >= seq) break;
    if ((*next)->stream_seq < from) {
      cleared = Status::unavailable("JetStream answered an earlier message than asked for");
      break;
    }
    // Recorded before it is erased: an applier that meets the hole then
    // knows it for a purge's, not a gap (check_gap).
    cleared = etcd_->put(erased_key(options_, s, (*next)->stream_seq), "purge")
                  .with_context("recording the erasure in etcd");
    if (!cleared.is_ok()) break;
    cleared = js_->erase_message(stream, (*next)->stream_seq);
    if (!cleared.is_ok()) break;
    from = (*next)->stream_seq + 1;
  }
  if (!cleared.is_ok()) {
    return Status::unavailable("the purge of '" + doc_id.substr(0, 200) + "' is in the log (every replica applies it), "
                               "but its earlier messages could not all be erased from stream " + stream + " (" +
                               cleared.message() + "): purge it again");
  }
  if (!told.is_ok()) {
    return Status::unavailable("the purge of '" + doc_id.substr(0, 200) + "' is in the log (every replica applies it), "
                               "but the other nodes could not be told to empty their prompt caches (" + told.message() +
                               "): purge it again");
  }
  return token;
}

void Node::set_purge_listener(std::function<void(const std::string&)> listener) {
  std::lock_guard lock(purge_listener_mu_);
  purge_listener_ = std::move(listener);
}

void Node::notice_purges() {
  auto got = etcd_->get(purges_key(options_));
  if (!got.is_ok()) return;  // the next look (a second on) tries again
  const int64_t revision = got->has_value() ? (*got)->mod_revision : 0;
  const bool changed = revision != purges_seen_;
  purges_seen_ = revision;
  const bool call = changed || purge_again_;
  purge_again_ = changed;
  if (!call) return;
  std::lock_guard lock(purge_listener_mu_);
  if (purge_listener_) purge_listener_("");
}

Result<std::vector<std::optional<std::vector<std::string>>>> Node::current_acls(const std::vector<std::string>& ids,
                                                                                std::vector<bool>* never_written) {
  std::vector<std::optional<std::vector<std::string>>> out(ids.size());
  std::vector<char> empty_subject(ids.size(), 0);  // not vector<bool>: written from several threads
  std::map<uint32_t, std::vector<size_t>> by_shard;
  for (size_t i = 0; i < ids.size(); ++i) by_shard[shard_of(ids[i], options_.shards)].push_back(i);
  std::vector<std::pair<uint32_t, std::vector<size_t>>> parts(by_shard.begin(), by_shard.end());
  std::vector<Status> failed(parts.size());
  write_fan_out_->run(parts.size(), [&](size_t p) {
    const std::string stream = stream_name(options_, parts[p].first);
    for (size_t i : parts[p].second) {
      const std::string subject = document_subject(options_, ids[i]);
      auto last = js_->last_message(stream, subject);
      if (!last.is_ok()) {
        failed[p] = last.status();
        return;
      }
      if (!last->has_value()) {
        empty_subject[i] = 1;
        continue;
      }
      auto m = decode_message((*last)->data);
      if (m.is_ok() && m->doc.id == ids[i] && !m->writer_groups) {
        // An unrestricted writer's message: every replica made it.
        if (!m->remove) out[i] = std::move(m->doc.acl);
        continue;
      }
      // A keyed writer's, which the replicas may have refused: the
      // document's messages replayed as they decide (writer_may), from the
      // first still in the stream (a purge erased those before it).
      std::optional<std::vector<std::string>> acl;
      for (uint64_t from = 1; from <= (*last)->stream_seq;) {
        auto next = js_->next_message(stream, subject, from);
        if (!next.is_ok()) {
          failed[p] = next.status();
          return;
        }
        if (!next->has_value()) break;
        if ((*next)->stream_seq < from) {
          failed[p] = Status::unavailable("JetStream answered message " + std::to_string((*next)->stream_seq) +
                                          " when asked for one from " + std::to_string(from));
          return;
        }
        from = (*next)->stream_seq + 1;
        auto one = decode_message((*next)->data);
        // Skipped as the appliers skip it: unreadable, or another document's.
        if (!one.is_ok() || one->doc.id != ids[i]) continue;
        if (writer_may(*one, acl)) {
          if (one->remove) {
            acl.reset();
          } else {
            acl = std::move(one->doc.acl);
          }
        }
      }
      out[i] = std::move(acl);
    }
  });
  for (const Status& f : failed) {
    if (!f.is_ok()) return f;
  }
  if (never_written != nullptr) never_written->assign(empty_subject.begin(), empty_subject.end());
  return out;
}

Status Node::wait_applied(uint32_t shard, uint64_t sequence, std::chrono::milliseconds timeout) {
  std::unique_lock lock(status_mu_);
  auto not_here = [&] {
    return Status::failed_precondition("node " + options_.node_id + " does not apply shard " + std::to_string(shard));
  };
  if (!status_.count(shard)) return not_here();
  // Looked up each time: a retired shard's entry goes while we wait.
  auto applied = [&]() -> std::optional<uint64_t> {
    auto it = status_.find(shard);
    if (it == status_.end()) return std::nullopt;
    return it->second.applied;
  };
  applied_cv_.wait_for(lock, timeout, [&] {
    const auto a = applied();
    return stop_ || !a || *a >= sequence;
  });
  const auto a = applied();
  if (!a) return not_here();
  if (*a >= sequence && !stop_) return Status::ok();
  return Status::unavailable("shard " + std::to_string(shard) + " on node " + options_.node_id + " has applied up to " +
                             std::to_string(*a) + ", not yet " + std::to_string(sequence) +
                             " (the consistency token's position)");
}

uint64_t Node::applied_sequence(uint32_t shard) const {
  std::lock_guard lock(status_mu_);
  auto it = status_.find(shard);
  return it == status_.end() ? 0 : it->second.applied;
}

ShardPosition Node::position(uint32_t shard) const {
  std::lock_guard lock(status_mu_);
  auto it = status_.find(shard);
  if (it == status_.end()) return {};
  const ShardStatus& st = it->second;
  // Unknown, so behind every replica that knows: before the stream's end
  // was read, when the last read is stale (NATS away: the applier cannot
  // read), while this node's NATS connection is down, and while its etcd
  // lease has lapsed or its consumer is gone: the other nodes may have
  // given this replica away, and deleted its consumer, so that it applies
  // nothing more (cluster/README.md, "Partitions").
  if (st.stream_read_ms == 0 || steady_ms() - st.stream_read_ms > kStreamReadFreshMs || js_->down_for_ms() > 0 ||
      st.consumer_deleted || lease_lapsed()) {
    return {st.applied, UINT64_MAX};
  }
  // Measured against the read before the last: a healthy applier has
  // applied what the stream held a second ago, while it may still be
  // embedding what arrived since (that is no lag).
  return {st.applied, st.stream_last_before > st.applied ? st.stream_last_before - st.applied : 0};
}

std::vector<ShardStatus> Node::shard_status() const {
  std::lock_guard lock(status_mu_);
  std::vector<ShardStatus> out;
  for (const auto& [s, st] : status_) out.push_back(st);
  return out;
}

Status Node::check_gap(uint32_t shard, uint64_t applied, uint64_t next) {
  const uint64_t first = applied + 1, last = next - 1, missing = next - first;
  const std::string where = "shard " + std::to_string(shard) + ": a gap in its stream: ";
  auto counted = etcd_->count_range(erased_key(options_, shard, first), erased_key(options_, shard, next));
  if (!counted.is_ok()) return counted.status().with_context(where + "reading the purges' erasures from etcd");
  const int64_t erased = *counted;
  if (erased >= 0 && static_cast<uint64_t>(erased) == missing) {
    std::lock_guard lock(status_mu_);
    status_[shard].erased_skipped += missing;
    return Status::ok();
  }
  auto accepted = etcd_->get(gap_accepted_key(options_, shard));
  if (!accepted.is_ok()) return accepted.status().with_context(where + "reading the accepted gaps from etcd");
  uint64_t through = 0;
  if (*accepted) {
    const std::string& v = (*accepted)->value;
    if (std::from_chars(v.data(), v.data() + v.size(), through).ec != std::errc()) through = 0;
  }
  const std::string range = first == last ? "message " + std::to_string(first)
                                          : "messages " + std::to_string(first) + " to " + std::to_string(last);
  const std::string stream = stream_name(options_, shard);
  bool first_time = false;
  {
    std::lock_guard lock(status_mu_);
    ShardStatus& st = status_[shard];
    first_time = st.gap_first != first || st.gap_last != last;
    if (first_time) ++st.gaps;
    if (through < last) {
      st.gap_first = first;
      st.gap_last = last;
    }
  }
  if (through >= last) {
    if (first_time) {
      log().warn("shard {}: stream {} lacks {} ({} not erased by a purge); accepted by the operator up to {}: "
                 "applying goes on",
                 shard, stream, range, missing - static_cast<uint64_t>(std::max<int64_t>(erased, 0)), through);
    }
    return Status::ok();
  }
  // Stopped, not skipped: a replica that applied the missing messages
  // before they went holds what this one would lack, and only the operator
  // knows whether they are lost for good.
  Status stop = Status::failed_precondition(
      "shard " + std::to_string(shard) + ": GAP in stream " + stream + ": it lacks " + range + " (" +
      std::to_string(missing - static_cast<uint64_t>(std::max<int64_t>(erased, 0))) +
      " not erased by a ragd purge: deleted or purged by an operator, or lost by a server); this replica has "
      "applied up to " + std::to_string(applied) + " and applies nothing further, so that it does not silently "
      "differ from a replica that applied them. If they are lost for good, accept the gap with `ragd cluster "
      "accept-gap --cluster FILE --shard " + std::to_string(shard) + "` (or `etcdctl put " +
      gap_accepted_key(options_, shard) + " " + std::to_string(last) + "`): every replica then goes on" +
      (options_.stream_max_age_seconds > 0 || options_.stream_max_bytes > 0
           ? ". The stream has retention limits (stream_max_age_seconds, stream_max_bytes), which drop old "
             "messages: a replica that needs them loads a peer replica's snapshot instead, and none could give "
             "one (no other replica of the shard live and level with the stream?); this replica asks again "
             "every few seconds"
           : ""));
  if (first_time) log().error("{}", stop.message());
  return stop;
}

void Node::apply_loop(uint32_t shard, const std::atomic<bool>& quit) {
  while (!stop_ && !quit && apply_shard(shard, quit)) {
  }
}

bool Node::apply_shard(uint32_t shard, const std::atomic<bool>& quit) {
  auto stopping = [&] { return stop_ || quit; };
  // A pause that a stop (the node's, or this shard's retirement) cuts short.
  auto nap = [&](std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (!stopping() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
  };
  (void)bootstrap_from_peer(shard, stopping);
  auto svc = collections_->get(shard_collection(shard));
  // A snapshot that could not be adopted left no copy: start an empty one.
  if (!svc.is_ok() && svc.status().code() == StatusCode::kNotFound) svc = collections_->create(shard_collection(shard));
  if (!svc.is_ok()) {
    log().error("shard {}: cannot open its store: {}", shard, svc.status().to_string());
    // The copy a snapshot replaces may still be held by searches (it goes
    // when the last one ends): look again shortly.
    if (svc.status().code() == StatusCode::kFailedPrecondition) {
      nap(1s);
      return !stopping();
    }
    return false;
  }
  ServiceContext& ctx = **svc;
  const std::shared_ptr<std::mutex> batch_mu = batch_mutex(shard);
  Store& store = ctx.store();
  auto note = [&](uint64_t applied, const Status& err) {
    {
      std::lock_guard lock(status_mu_);
      ShardStatus& st = status_[shard];
      st.applied = applied;
      if (st.gap_first != 0 && applied >= st.gap_last) st.gap_first = st.gap_last = 0;  // past the hole
      if (!err.is_ok()) {
        ++st.failures;
        st.last_error = err.to_string();
      }
    }
    applied_cv_.notify_all();
  };
  std::unique_ptr<PullConsumer> consumer;
  uint64_t applied = 0;
  const std::string durable = consumer_name(options_.node_id, shard);
  // A message that keeps failing is retried after a pause that doubles up
  // to kMaxBackoff, so a persistent fault neither spins nor floods the log.
  constexpr auto kFirstBackoff = 500ms;
  constexpr auto kMaxBackoff = 30s;
  // Stopped at a gap, the applier looks again whether it was accepted.
  constexpr auto kGapRecheck = 5s;
  // While nothing arrives, how often it looks for a gap at the stream's end.
  constexpr auto kTailCheck = 2s;
  const std::string stream = stream_name(options_, shard);
  const bool retention = options_.stream_max_age_seconds > 0 || options_.stream_max_bytes > 0;
  auto next_tail_check = std::chrono::steady_clock::now() + kTailCheck;
  std::chrono::milliseconds backoff = kFirstBackoff;
  auto next_stream_read = std::chrono::steady_clock::now();
  auto pause = [&] {
    nap(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  };
  auto fail_round = [&](const Status& err) {
    log().error("{}; retrying", err.to_string());
    note(applied, err);
    consumer.reset();
    pause();
  };
  while (!stopping()) {
    try {
      if (!consumer) {
        // The store's applied sequence is the truth: (re)start delivery right
        // after it. Read again after every failure, since a failed write left
        // it where it was.
        auto got = store.get_state(kAppliedKey);
        if (!got.is_ok()) {
          note(applied, got.status());
          nap(500ms);
          continue;
        }
        try {
          applied = got->empty() ? 0 : std::stoull(*got);
        } catch (const std::exception&) {
          note(applied, Status::corruption("shard " + std::to_string(shard) + ": applied sequence '" + *got +
                                           "' is not a number; wipe the shard's store to replay its stream"));
          nap(5s);
          continue;
        }
        // The stream must be the one the store has applied: one deleted and
        // created again restarts at sequence 1, below `applied`, so its
        // messages would all be skipped as redeliveries.
        auto created = js_->stream_created(stream_name(options_, shard));
        if (!created.is_ok()) {
          note(applied, created.status());
          nap(500ms);
          continue;
        }
        const std::string epoch = std::to_string(*created);
        auto kept = store.get_state(kStreamEpochKey);
        if (!kept.is_ok()) {
          note(applied, kept.status());
          nap(500ms);
          continue;
        }
        if (*kept != epoch) {
          if (!kept->empty() && applied > 0) {
            fail_round(Status::failed_precondition(
                "shard " + std::to_string(shard) + ": stream " + stream_name(options_, shard) +
                " was deleted and created again since this store applied it (store: stream created at " + *kept +
                ", applied up to " + std::to_string(applied) + "; stream now: created at " + epoch +
                "); the store may hold documents the new stream lacks, so nothing is applied: wipe the shard's "
                "store to replay the stream"));
            continue;
          }
          // A store that has applied nothing takes the stream as it is (so
          // does one written before the epoch was kept: nothing to compare).
          Status put = store.put_state(kStreamEpochKey, epoch);
          if (!put.is_ok()) {
            note(applied, put);
            nap(500ms);
            continue;
          }
        }
        // A consumer that is gone from the servers is made again only on
        // the word of a map read lately (map_gives_here): a rebalancer
        // deletes a node's consumer after the map gave its replica to
        // another node while the node could not read etcd, and making it
        // again from the map held here would bring it back for as long as
        // the node stays away. One that is there is bound as always.
        if (!map_gives_here(shard)) {
          auto names = js_->consumer_names(stream);
          if (!names.is_ok()) {
            note(applied, names.status());
            nap(500ms);
            continue;
          }
          if (std::find(names->begin(), names->end(), durable) == names->end()) {
            bool first_time = false;
            {
              std::lock_guard lock(status_mu_);
              first_time = !status_[shard].consumer_deleted;
              status_[shard].consumer_deleted = true;
            }
            if (first_time) {
              log().warn("shard {}: its consumer {} is gone from the NATS servers (the shard map gave this replica to "
                         "another node while this node could not read etcd?); this copy applies nothing past "
                         "sequence {} until a map read from etcd gives it the shard again (or retires it)",
                         shard, durable, applied);
            }
            nap(2s);
            continue;
          }
        }
        note(applied, Status::ok());
        auto c = js_->consume(stream_name(options_, shard), durable, applied + 1);
        if (!c.is_ok()) {
          note(applied, c.status());
          nap(500ms);
          continue;
        }
        consumer = std::move(c).value();
        std::lock_guard lock(status_mu_);
        status_[shard].consumer_deleted = false;
      }
      if (std::chrono::steady_clock::now() >= next_stream_read) {
        // For the lag in /metrics and the coordinators' choice of replica
        // (position()); a failed read only leaves the last value.
        auto last = js_->last_sequence(stream_name(options_, shard));
        if (last.is_ok()) {
          std::lock_guard lock(status_mu_);
          ShardStatus& st = status_[shard];
          st.stream_last_before = st.stream_read_ms == 0 ? *last : st.stream_last;
          st.stream_last = *last;
          st.stream_read_ms = steady_ms();
        }
        next_stream_read = std::chrono::steady_clock::now() + 1s;
      }
      auto msgs = consumer->fetch(64, 500);
      if (!msgs.is_ok()) {
        note(applied, msgs.status());
        consumer.reset();
        nap(200ms);
        continue;
      }
      if (msgs->empty() && std::chrono::steady_clock::now() >= next_tail_check) {
        next_tail_check = std::chrono::steady_clock::now() + kTailCheck;
        // A gap at the stream's end: its last messages deleted (or dropped
        // by its retention) and none written since, so no message comes to
        // show the hole, while the stream's last sequence says this copy is
        // behind. Nothing left after `applied` means the hole runs to the
        // end.
        auto b = js_->stream_bounds(stream);
        if (b.is_ok() && b->last > applied) {
          auto next = js_->next_message(stream, ">", applied + 1);
          if (next.is_ok() && !next->has_value()) {
            Status st = check_gap(shard, applied, b->last + 1);
            if (st.is_ok()) {
              // Erased by purges or accepted: this copy is level at the end.
              std::lock_guard batch_lock(*batch_mu);
              Status put = store.put_state(kAppliedKey, std::to_string(b->last));
              if (put.is_ok()) {
                applied = b->last;
                note(applied, Status::ok());
              } else {
                note(applied, put);
              }
            } else {
              {
                std::lock_guard lock(status_mu_);
                status_[shard].last_error = st.to_string();
              }
              // Dropped by the retention (the stream begins past the hole):
              // a peer's snapshot can fill it.
              if (retention && b->first > applied + 1) {
                nap(kGapRecheck);
                if (!stopping()) return true;
              }
            }
          } else if (next.is_ok() && next->has_value()) {
            // A message waits, yet none came since the last look: is the
            // consumer still there? A fetch from a deleted one gets nothing,
            // with no error. Gone, it is made again (or not) as at the start
            // of a round, above.
            auto names = js_->consumer_names(stream);
            if (names.is_ok() && std::find(names->begin(), names->end(), durable) == names->end()) {
              log().warn("shard {}: its consumer {} was deleted from the NATS servers", shard, durable);
              consumer.reset();
            }
          }
        }
        continue;
      }
      if (!msgs->empty()) next_tail_check = std::chrono::steady_clock::now() + kTailCheck;
      // One batch inside the service's ingest gate: a reindex switch waits
      // for it (and it for a switch), so its vectors come from the encoder
      // the store is bound to.
      std::unique_lock batch_lock(*batch_mu);  // a snapshot's checkpoint falls between batches
      Status batch = ctx.with_ingestor([&](Ingestor& ingestor) {
        // Consecutive writes of distinct documents are applied together: one
        // embedding call and one synced WriteBatch, each document's position
        // with it (Ingestor::add_all_with_state), so a crash keeps a prefix
        // of them and the position of that prefix. Anything else (a delete,
        // a purge, a refused or skipped write, a document already in the
        // run, a hole) applies the run first: the messages take effect in
        // stream order, and the checks below read a store that holds every
        // message before theirs.
        std::vector<Document> run_docs;
        std::vector<StateWrite> run_states;
        std::vector<const StreamMessage*> run_msgs;
        std::set<std::string> run_ids;
        auto at = [&] { return run_msgs.empty() ? applied : run_msgs.back()->stream_seq; };
        auto apply_run = [&]() -> Status {
          if (run_msgs.empty()) return Status::ok();
          Status s = ingestor.add_all_with_state(std::move(run_docs), run_states);
          const uint64_t first = run_msgs.front()->stream_seq, last = run_msgs.back()->stream_seq;
          std::vector<const StreamMessage*> done = std::move(run_msgs);
          run_docs.clear();
          run_states.clear();
          run_msgs.clear();
          run_ids.clear();
          // A message that cannot be applied must not hold back those before
          // it in the run: they are applied one at a time (a document the
          // failed run wrote is unchanged now: only its position is
          // written), up to the one that fails. That one is not applied and
          // not acknowledged: the caller starts again from the store's
          // position after a pause (JetStream keeps the messages).
          if (!s.is_ok() && done.size() > 1) {
            log().warn("shard {}: messages {} to {} applied one at a time: {}", shard, first, last, s.to_string());
            for (const StreamMessage* m : done) {
              auto one = decode_message(m->data);
              s = one.is_ok() ? ingestor.add_with_state(std::move(one->doc),
                                                        StateWrite{kAppliedKey, std::to_string(m->stream_seq)})
                              : one.status();
              if (!s.is_ok()) return s.with_context("applying message " + std::to_string(m->stream_seq));
              applied = m->stream_seq;
              note(applied, Status::ok());
              (void)consumer->ack(*m);
            }
          }
          if (!s.is_ok()) return s.with_context("applying message " + std::to_string(first));
          applied = last;
          backoff = kFirstBackoff;
          note(applied, Status::ok());
          for (const StreamMessage* m : done) (void)consumer->ack(*m);
          return Status::ok();
        };
        for (const auto& m : *msgs) {
          if (stopping()) break;
          if (m.stream_seq <= at()) {  // a redelivery of what the store already holds (or is about to)
            (void)consumer->ack(m);
            continue;
          }
          // The consumer skips what is no longer in the stream: a message
          // a purge erased (recorded), or one lost some other way (a gap,
          // which stops this replica here until an operator accepts it).
          if (m.stream_seq > at() + 1) {
            RAGD_RETURN_IF_ERROR(apply_run());
            RAGD_RETURN_IF_ERROR(check_gap(shard, applied, m.stream_seq));
          }
          const StateWrite state{kAppliedKey, std::to_string(m.stream_seq)};
          Status s;
          auto decoded = decode_message(m.data);
          if (decoded.is_ok() && run_ids.count(decoded->doc.id)) RAGD_RETURN_IF_ERROR(apply_run());
          bool purged = false;
          if (decoded.is_ok() && decoded->skip_tombstoned) {
            auto tomb = store.get_state(std::string(sync::kTombstonePrefix) + decoded->doc.id);
            if (!tomb.is_ok()) return tomb.status().with_context("applying message " + std::to_string(m.stream_seq));
            purged = !tomb->empty();
          }
          Status allowed = decoded.is_ok() ? check_writer(store, *decoded) : Status::ok();
          if (decoded.is_ok() && allowed.is_ok() && !(decoded->skip_tombstoned && purged) && !decoded->purge &&
              !decoded->remove) {
            run_ids.insert(decoded->doc.id);
            run_docs.push_back(std::move(decoded->doc));
            run_states.push_back(state);
            run_msgs.push_back(&m);
            continue;
          }
          RAGD_RETURN_IF_ERROR(apply_run());
          if (!decoded.is_ok()) {
            // Not ours to fix by retrying: skip it, but keep the position.
            log().error("shard {}: message {} skipped: {}", shard, m.stream_seq, decoded.status().to_string());
            s = store.put_state(state.key, state.value);
          } else if (!allowed.is_ok()) {
            if (allowed.code() != StatusCode::kPermissionDenied) {
              return allowed.with_context("applying message " + std::to_string(m.stream_seq));
            }
            // Refused here as on every replica: the position moves on.
            log().warn("shard {}: message {} ({} of '{}') refused: {}", shard, m.stream_seq,
                       decoded->remove ? "delete" : "write", decoded->doc.id.substr(0, 200), allowed.message());
            s = store.put_state(state.key, state.value);
            if (s.is_ok()) {
              std::lock_guard lock(status_mu_);
              ++status_[shard].refused;
            }
          } else if (decoded->skip_tombstoned && purged) {
            // A sync source's write of a purged document: skipped on every
            // replica alike (each applied the purge before it).
            s = store.put_state(state.key, state.value);
          } else if (decoded->purge) {
            // Idempotent: a crash before the position is written purges again.
            auto purged_doc = govern::purge_document(store, decoded->doc.id);
            s = purged_doc.is_ok() ? store.put_state(state.key, state.value) : purged_doc.status();
            if (s.is_ok()) {
              ctx.retriever().clear_chunk_cache();
              std::lock_guard lock(purge_listener_mu_);
              if (purge_listener_) purge_listener_(decoded->doc.id);
            }
          } else {
            s = store.remove(decoded->doc.id, state).status();
          }
          // Not applied and not acknowledged: the caller starts again from
          // the store's position after a pause (JetStream keeps the message).
          if (!s.is_ok()) return s.with_context("applying message " + std::to_string(m.stream_seq));
          applied = m.stream_seq;
          backoff = kFirstBackoff;
          note(applied, Status::ok());
          (void)consumer->ack(m);
        }
        return apply_run();
      });
      batch_lock.unlock();
      if (!batch.is_ok()) {
        bool at_gap = false;
        {
          std::lock_guard lock(status_mu_);
          at_gap = status_[shard].gap_first == applied + 1;
        }
        if (at_gap) {
          // Not a failure to retry with a growing pause: the operator may
          // accept the gap at any moment (check_gap logged it once).
          {
            std::lock_guard lock(status_mu_);
            status_[shard].last_error = batch.to_string();
          }
          consumer.reset();
          nap(kGapRecheck);
          // A hole the stream's retention made (it begins past it): a
          // peer's snapshot can fill it, so the applier starts again with
          // bootstrap_from_peer.
          if (retention && !stopping()) {
            auto b = js_->stream_bounds(stream);
            if (b.is_ok() && b->first > applied + 1) return true;
          }
        } else {
          fail_round(batch.with_context("shard " + std::to_string(shard)));
        }
      }
    } catch (const std::exception& e) {
      // An exception from a dependency (std::bad_alloc, a library's throw)
      // must not end the process: the message is not acknowledged, so it is
      // delivered again once the consumer restarts from the store's position.
      fail_round(Status::internal(std::string("shard ") + std::to_string(shard) + ": applying failed: " + e.what()));
    } catch (...) {
      fail_round(Status::internal("shard " + std::to_string(shard) + ": applying failed: an unknown exception"));
    }
  }
  return false;
}

}  // namespace ragd::cluster
