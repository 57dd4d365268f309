// GET /healthz, GET /v1/stats, GET /metrics, GET / (the web page).
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "api/web_assets.h"
#include "cluster/node.h"
#include "ragd/version.h"
#include "triage/triage.h"

namespace ragd::api {
namespace {

// The build's identity, added to /healthz and /v1/stats.
void add_build_info(Json& j) {
  const BuildInfo& b = build_info();
  j["version"] = b.version;
  j["commit"] = b.commit;
  j["build_type"] = b.build_type;
}

Json reindex_to_json(const ReindexStatus& r) {
  Json j{{"state", reindex_state_name(r.state)}, {"from", r.from}, {"target", r.target}, {"done", r.done}, {"total", r.total},
         {"seconds", r.seconds}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

// The triage model serving each field: version, family, held-out metrics,
// data window and training time from its stored manifest.
Json triage_to_json(const Store& store) {
  Json j = Json::object();
  auto served = triage::served_versions(store);
  if (!served.is_ok()) return Json{{"error", served.status().message()}};
  for (const auto& v : *served) {
    Json m = Json::parse(v.manifest_json, nullptr, false);
    if (!m.is_object()) m = Json::object();
    j[v.field] = Json{{"version", v.version},
                      {"family", m.value("family", "")},
                      {"metrics", m.value("metrics", Json::object())},
                      {"window", m.value("window", Json::object())},
                      {"trained_at", m.value("trained_at", 0)}};
  }
  return j;
}

}  // namespace

Response handle_healthz(const Request&, Api& api) {
  const Embedder* e = api.service.embedder();
  // Still 200: the server answers, but the store has met damaged or
  // unreadable data since it opened (the server log names it), or its disk
  // is full and writes fail (rechecked here, so it clears once space is
  // freed, without waiting for a write).
  const uint64_t read_errors = api.service.store().stats().read_errors;
  const bool disk_full = api.service.store().recheck_disk_full();
  Json j{{"status", read_errors > 0 || disk_full ? "degraded" : "ok"}, {"encoder", e ? e->fingerprint() : ""}};
  if (read_errors > 0) j["store_read_errors"] = read_errors;
  if (disk_full) {
    j["disk_full"] = true;
    j["reason"] = "disk full: writes fail until space is freed on the data volume";
  } else if (read_errors > 0) {
    j["reason"] = "the store met damaged or unreadable data; the server log names it";
  }
  if (api.cluster != nullptr) {
    // A cluster node cut off from NATS refuses writes; one cut off from
    // etcd serves searches from its last view of the live nodes and cannot
    // renew its lease.
    const auto h = api.cluster->health();
    j["cluster"] = Json{{"nats", h.nats_connected ? "connected" : "disconnected"},
                        {"etcd", h.etcd_ok ? "reachable" : "unreachable"},
                        {"lease", h.lease_lapsed ? "lapsed" : "held"},
                        {"writes", h.writes_refused ? "refused" : "accepted"}};
    if (!h.stopped_at_gap.empty()) j["cluster"]["stopped_at_gap"] = h.stopped_at_gap;
    if (!h.nats_connected || !h.etcd_ok || !h.stopped_at_gap.empty()) {
      j["status"] = "degraded";
      if (!j.contains("reason")) {
        j["reason"] = !h.nats_connected ? "cut off from NATS: writes wait for the connection, and are refused once "
                                          "it has been down for longer than publish_timeout_ms"
                      : !h.etcd_ok      ? std::string("cut off from etcd: membership and the shard map cannot be read") +
                                         (h.lease_lapsed ? "; the lease lapsed, so the other nodes count this one out "
                                                           "and make its replicas elsewhere after dead_after_seconds"
                                                         : "")
                                        : "a shard's applier stopped at a gap in its stream (messages missing that no "
                                          "purge erased): /v1/stats names it, the log says how to accept it";
      }
    }
  }
  add_build_info(j);
  return json_response(j);
}

Response handle_stats(const Request& req, Api& api) {
  auto svc = collection_service(req, api);
  if (!svc.is_ok()) return error_response(svc.status());
  ServiceContext& service = **svc;
  StoreStats st = service.store().stats();
  Json j = stats_to_json(st);
  j["collection"] = req.collection.empty() ? "default" : req.collection;
  const Embedder* e = service.embedder();
  j["encoder_loaded"] = e ? e->fingerprint() : "";
  j["reindex"] = reindex_to_json(service.reindex_status());
  if (!st.reindex_discarded.empty()) j["reindex"]["discarded"] = st.reindex_discarded;
  j["read_errors"] = st.read_errors;
  j["triage"] = triage_to_json(api.service.store());
  j["evals"] = api.jobs.evals ? job_status_json(api.jobs.evals->status()) : Json(nullptr);
  j["retention"] = api.jobs.retention ? job_status_json(api.jobs.retention->status()) : Json(nullptr);
  j["disk_full"] = st.disk_full;
  // How the derived indexes were obtained at open, and every rebuild since
  // (each one is in the server log with its reason and duration).
  j["ann_state"] = st.ann_state;
  j["lexical_state"] = st.lexical_state;
  j["open"] = Json{{"seconds", st.open_seconds}, {"phases", st.open_phases}};
  j["index_rebuilds"] = Json{{"count", st.index_rebuilds}, {"last", st.last_rebuild}, {"last_ms", st.last_rebuild_ms}};
  if (api.cluster != nullptr && req.collection.empty()) {
    // This node's view of the cluster: the shard map's version and the
    // position of each shard it applies (cluster/README.md).
    Json shards = Json::array();
    for (const auto& sh : api.cluster->shard_status()) {
      // The failures' messages can name server paths: they are in the log.
      Json one{{"shard", sh.shard},   {"applied", sh.applied}, {"failures", sh.failures}, {"refused", sh.refused},
               {"role", sh.role},     {"gaps", sh.gaps},       {"erased_skipped", sh.erased_skipped}};
      // The applier stopped at a gap in the stream (cluster/README.md, "Gaps").
      if (sh.gap_first != 0) one["gap"] = Json{{"first", sh.gap_first}, {"last", sh.gap_last}};
      // Loaded from a peer's snapshot rather than replayed (cluster/README.md, "Snapshots").
      if (!sh.snapshot_from.empty()) {
        one["snapshot"] = Json{{"from", sh.snapshot_from},
                               {"sequence", sh.snapshot_sequence},
                               {"kept_files", sh.snapshot_kept_files}};
      }
      one["snapshot_failures"] = sh.snapshot_failures;
      if (sh.consumer_deleted) one["consumer"] = "deleted";
      if (!sh.snapshot_error.empty()) one["snapshot_error"] = sh.snapshot_error;
      shards.push_back(std::move(one));
    }
    const auto& co = api.cluster->options();
    j["cluster"] = Json{{"name", co.name},
                        {"node_id", co.node_id},
                        {"shards", co.shards},
                        {"shard_map_revision", api.cluster->shard_map().revision},
                        {"applying", shards}};
    // Cut off from etcd (cluster/README.md, "Partitions"): the map above
    // may be stale, and once the lease lapsed the other nodes count this
    // one out.
    const auto h = api.cluster->health();
    j["cluster"]["etcd"] = h.etcd_ok ? "reachable" : "unreachable";
    j["cluster"]["lease"] = h.lease_lapsed ? "lapsed" : "held";
    // The automatic rebalancer (cluster/README.md, "Rebalancing").
    const cluster::AutoRebalanceStatus ar = api.cluster->auto_rebalance_status();
    if (ar.enabled) {
      j["cluster"]["auto_rebalance"] = Json{{"running", ar.running},   {"reason", ar.reason},
                                            {"steps", ar.steps},       {"last_result", ar.last_result},
                                            {"held_by", ar.held_by},   {"paused", ar.paused},
                                            {"runs", ar.runs},         {"switched", ar.switched},
                                            {"absent_seconds", ar.absent_seconds}, {"dead", ar.dead}};
    }
  }
  add_build_info(j);
  return json_response(j);
}

void register_cluster_metrics(Registry& registry, cluster::Node& node) {
  auto& revision = registry.gauge("ragd_cluster_shard_map_revision", "Revision of the shard map this node serves.");
  auto& applied = registry.gauge("ragd_cluster_shard_applied_sequence",
                                 "Last stream sequence this node wrote to its store, by shard it applies.", {"shard"});
  auto& stream = registry.gauge("ragd_cluster_shard_stream_sequence",
                                "The shard stream's last sequence as the applier last read it (about each second).",
                                {"shard"});
  auto& lag = registry.gauge("ragd_cluster_shard_lag_messages",
                             "Messages of the shard's stream this node has not applied yet.", {"shard"});
  auto& failures = registry.counter("ragd_cluster_shard_apply_failures_total",
                                    "Attempts to apply a shard's message that failed (each is retried).", {"shard"});
  auto& gap = registry.gauge("ragd_cluster_shard_stream_gap_messages",
                             "Messages missing from the shard's stream (not erased by a purge) at which its applier "
                             "stopped; 0 when it is not stopped.",
                             {"shard"});
  auto& gaps = registry.counter("ragd_cluster_shard_stream_gaps_total",
                                "Gaps the shard's applier met in its stream: messages missing that no purge erased "
                                "(each gap once, accepted ones included).",
                                {"shard"});
  auto& snapshot_seq = registry.gauge("ragd_cluster_shard_snapshot_sequence",
                                      "The stream sequence of the peer replica's snapshot this node's copy of the "
                                      "shard was loaded from since it started; 0 when none was.",
                                      {"shard"});
  auto& snapshot_failures = registry.counter(
      "ragd_cluster_shard_snapshot_failures_total",
      "Peer snapshots of the shard this node asked for and could not get or refused (a corrupted or truncated "
      "transfer, a peer behind or gone); the next peer is asked, else the stream replayed.",
      {"shard"});
  auto& refused = registry.counter("ragd_cluster_shard_writes_refused_total",
                                   "Keyed writes a shard's replica refused to make: the document they replace or "
                                   "delete has an ACL the writer's groups do not cover.",
                                   {"shard"});
  auto& shard_stats = registry.counter(
      "ragd_cluster_search_shard_stats_total",
      "BM25 statistics of a shard a search needed, by where they came from: read from a replica, cached, or "
      "stale (the replica had applied more by phase 2, so the search read them again).",
      {"source"});
  auto& hedged = registry.counter(
      "ragd_cluster_search_hedged_requests_total",
      "Requests for shards' parts of a search sent to their next replicas because the ones asked had not "
      "answered within hedge_after_ms (sent), and those that answered first (won).",
      {"result"});
  auto& peer_requests = registry.counter(
      "ragd_cluster_search_peer_requests_total",
      "Requests the searches coordinated here sent to peers for their statistics, candidates and chunks: one per "
      "peer and phase for all the shards asked of it, hedges included.");
  auto& retries = registry.counter(
      "ragd_cluster_search_retries_total",
      "Searches coordinated here that ran a second time after failing within a second (a replica gone between the "
      "phases).");
  auto& live = registry.gauge("ragd_cluster_live_nodes",
                              "Nodes whose etcd lease is alive, as this node last read them (each lease renewal).");
  auto& etcd_up = registry.gauge("ragd_cluster_etcd_reachable",
                                 "1 when this node's last read of the live nodes from etcd answered, else 0.");
  auto& auto_running = registry.gauge("ragd_cluster_auto_rebalance_running",
                                      "1 while this node runs an automatic rebalance (it holds the rebalance lock).");
  auto& auto_switched = registry.counter("ragd_cluster_auto_rebalance_moves_total",
                                         "Replica moves this node's automatic rebalances switched.");
  auto& dead_nodes = registry.gauge("ragd_cluster_dead_nodes",
                                    "Nodes the shard map names whose lease has been gone for dead_after_seconds, as "
                                    "this node's automatic rebalancer sees them.");
  // Per shard, the failures, refusals and gaps counted so far.
  struct Seen {
    uint64_t failures = 0, refused = 0, gaps = 0, snapshot_failures = 0;
  };
  auto seen = std::make_shared<std::map<uint32_t, Seen>>();
  auto seen_stats = std::make_shared<cluster::Node::StatsCounts>();  // stats counted so far
  auto seen_hedges = std::make_shared<cluster::Node::HedgeCounts>();
  auto seen_requests = std::make_shared<uint64_t>(0);
  auto seen_mu = std::make_shared<std::mutex>();
  registry.add_collector([&node, seen, seen_stats, seen_mu, revision = &revision, applied = &applied,
                          stream = &stream, lag = &lag, failures = &failures, refused = &refused, gap = &gap, gaps = &gaps,
                          shard_stats = &shard_stats, hedged = &hedged, seen_hedges,
                          peer_requests = &peer_requests, seen_requests, retries = &retries,
                          seen_retries = std::make_shared<uint64_t>(0),
                          live = &live, etcd_up = &etcd_up, snapshot_seq = &snapshot_seq,
                          snapshot_failures = &snapshot_failures, auto_running = &auto_running,
                          auto_switched = &auto_switched, dead_nodes = &dead_nodes,
                          seen_switched = std::make_shared<uint64_t>(0)] {
    revision->get().set(static_cast<double>(node.shard_map().revision));
    const cluster::Node::LiveView lv = node.live_view();
    live->get().set(static_cast<double>(lv.nodes));
    etcd_up->get().set(lv.etcd_ok ? 1.0 : 0.0);
    std::lock_guard lock(*seen_mu);
    const cluster::Node::StatsCounts now = node.stats_counts();
    shard_stats->with({"read"}).inc(static_cast<double>(now.read - seen_stats->read));
    shard_stats->with({"cached"}).inc(static_cast<double>(now.cached - seen_stats->cached));
    shard_stats->with({"stale"}).inc(static_cast<double>(now.stale - seen_stats->stale));
    *seen_stats = now;
    const cluster::Node::HedgeCounts h = node.hedge_counts();
    hedged->with({"sent"}).inc(static_cast<double>(h.sent - seen_hedges->sent));
    hedged->with({"won"}).inc(static_cast<double>(h.won - seen_hedges->won));
    *seen_hedges = h;
    const uint64_t requests = node.peer_requests();
    peer_requests->get().inc(static_cast<double>(requests - *seen_requests));
    *seen_requests = requests;
    const uint64_t retried = node.search_retries();
    retries->get().inc(static_cast<double>(retried - *seen_retries));
    *seen_retries = retried;
    const cluster::AutoRebalanceStatus ar = node.auto_rebalance_status();
    auto_running->get().set(ar.running ? 1.0 : 0.0);
    auto_switched->get().inc(static_cast<double>(ar.switched - *seen_switched));
    *seen_switched = ar.switched;
    dead_nodes->get().set(static_cast<double>(ar.dead.size()));
    for (const auto& sh : node.shard_status()) {
      const std::string s = std::to_string(sh.shard);
      applied->with({s}).set(static_cast<double>(sh.applied));
      stream->with({s}).set(static_cast<double>(sh.stream_last));
      lag->with({s}).set(sh.stream_last > sh.applied ? static_cast<double>(sh.stream_last - sh.applied) : 0.0);
      gap->with({s}).set(sh.gap_first != 0 ? static_cast<double>(sh.gap_last - sh.gap_first + 1) : 0.0);
      Seen& was = (*seen)[sh.shard];
      // Each present from the first scrape, at 0.
      Counter& f = failures->with({s});
      if (sh.failures > was.failures) f.inc(static_cast<double>(sh.failures - was.failures));
      was.failures = sh.failures;
      Counter& r = refused->with({s});
      if (sh.refused > was.refused) r.inc(static_cast<double>(sh.refused - was.refused));
      was.refused = sh.refused;
      Counter& g = gaps->with({s});
      if (sh.gaps > was.gaps) g.inc(static_cast<double>(sh.gaps - was.gaps));
      was.gaps = sh.gaps;
      snapshot_seq->with({s}).set(static_cast<double>(sh.snapshot_sequence));
      Counter& sf = snapshot_failures->with({s});
      if (sh.snapshot_failures > was.snapshot_failures) {
        sf.inc(static_cast<double>(sh.snapshot_failures - was.snapshot_failures));
      }
      was.snapshot_failures = sh.snapshot_failures;
    }
  });
}

Response handle_metrics(const Request&, Api& api) {
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  if (api.registry != nullptr) r.body = api.registry->expose();
  return r;
}

Response handle_web_page(const Request&, Api&) {
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string(web_index_html());
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

}  // namespace ragd::api
