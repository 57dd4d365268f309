#include "cluster/status.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cluster/etcd.h"
#include "cluster/rebalance.h"
#include "cluster/jetstream.h"
#include "cluster/node.h"
#include "sync/http.h"

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;

// What one node reports of a shard it applies.
struct ShardReport {
  uint64_t applied = 0, failures = 0;
  uint64_t gap_first = 0, gap_last = 0;  // the gap its applier stopped at
};
struct NodeReport {
  std::string error;
  std::map<uint32_t, ShardReport> shards;
};

// `ca_file`: the cluster's authority, for nodes that advertise https://.
NodeReport ask_node(const std::string& url, const std::string& api_key, const std::filesystem::path& ca_file) {
  NodeReport out;
  sync::HttpOptions o;
  o.tls_ca_file = ca_file.string();
  o.timeout_seconds = 5;
  o.connect_timeout_seconds = 2;
  o.max_attempts = 1;
  sync::HttpClient http(o);
  if (!api_key.empty()) http.set_bearer(api_key);
  auto r = http.get(url + "/v1/stats");
  if (!r.is_ok()) {
    out.error = r.status().message();
    return out;
  }
  Json j = Json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("cluster") || !j["cluster"].contains("applying")) {
    out.error = "its /v1/stats has no cluster section";
    return out;
  }
  try {
    for (const auto& s : j["cluster"]["applying"]) {
      ShardReport r{s.at("applied").get<uint64_t>(), s.at("failures").get<uint64_t>()};
      if (auto g = s.find("gap"); g != s.end()) {
        r.gap_first = g->at("first").get<uint64_t>();
        r.gap_last = g->at("last").get<uint64_t>();
      }
      out.shards[s.at("shard").get<uint32_t>()] = r;
    }
  } catch (const std::exception& e) {
    out.shards.clear();
    out.error = std::string("its /v1/stats is malformed: ") + e.what();
  }
  return out;
}

}  // namespace

bool ShardView::serving() const {
  return std::any_of(replicas.begin(), replicas.end(), [&](const ReplicaView& r) {
    return !r.joining && r.live && r.answered && stream_error.empty() && r.applied >= stream_last;
  });
}

bool ClusterView::searchable() const {
  return !shards.empty() && std::all_of(shards.begin(), shards.end(), [](const ShardView& s) {
    return std::any_of(s.replicas.begin(), s.replicas.end(),
                       [](const ReplicaView& r) { return !r.joining && r.live && r.answered; });
  });
}

bool ClusterView::writable() const {
  if (shards.empty() || !std::all_of(shards.begin(), shards.end(), [](const ShardView& s) { return s.writable(); }))
    return false;
  std::string leader;
  size_t following = 0;
  for (const auto& m : etcd) {
    if (m.leads()) {
      if (!leader.empty()) return false;  // two members claim to lead
      leader = m.member_id;
    }
  }
  for (const auto& m : etcd) following += m.answered && !leader.empty() && m.leader_id == leader;
  return !leader.empty() && 2 * following > etcd.size();
}

Result<ClusterView> read_cluster_view(const ClusterOptions& o, const std::string& api_key) {
  ClusterView v;
  v.name = o.name;
  Etcd etcd(o.etcd, 5, o.tls, o.etcd_auth);
  for (const auto& e : o.etcd) {
    EtcdMemberView m;
    m.endpoint = e;
    auto st = etcd.member_status(e);
    if (st.is_ok()) {
      m.answered = true;
      m.member_id = st->member_id;
      m.leader_id = st->leader_id;
      m.version = st->version;
      m.db_size = st->db_size;
      m.raft_term = st->raft_term;
    } else {
      m.error = st.status().message();
    }
    v.etcd.push_back(std::move(m));
  }
  RAGD_ASSIGN_OR_RETURN(ShardMap map, read_shard_map(etcd, o));
  RAGD_ASSIGN_OR_RETURN(v.live, read_live_nodes(etcd, o));
  v.shard_map_revision = map.revision;
  v.moves_pending = map.moves.size();
  RAGD_ASSIGN_OR_RETURN(RebalanceState rs, read_rebalance_state(etcd, o));
  if (rs.lock) {
    v.rebalance_by = rs.lock->by;
    v.rebalance_automatic = rs.lock->automatic;
    v.rebalance_reason = rs.lock->reason;
  }
  v.rebalance_paused = rs.paused;
  v.drained.assign(rs.drained.begin(), rs.drained.end());

  std::map<std::string, NodeReport> reports;
  for (const auto& [node, url] : v.live) reports[node] = ask_node(url, api_key, o.tls.ca_file);

  auto js = JetStream::connect(o.nats, "ragd-cluster-status", o.tls, o.nats_auth, o.nats_silence);
  for (uint32_t s = 0; s < o.shards; ++s) {
    ShardView sv;
    sv.shard = s;
    if (!js.is_ok()) {
      sv.stream_error = js.status().message();
    } else {
      auto h = (*js)->stream_health(stream_name(o, s));
      if (h.is_ok()) {
        sv.stream_last = h->last_seq;
        sv.stream_leader = h->leader;
        for (const auto& p : h->replicas) sv.stream_replicas.push_back({p.name, p.current, p.offline, p.lag});
      } else {
        sv.stream_error = h.status().message();
      }
    }
    std::vector<ReplicaView> replicas;
    for (const auto& node : map.replicas[s]) replicas.emplace_back().node = node;
    for (const auto& m : map.moves) {
      if (m.shard != s) continue;
      ReplicaView& r = replicas.emplace_back();
      r.node = m.to;
      r.joining = true;
      r.joining_from = m.from;
    }
    for (ReplicaView& r : replicas) {
      const std::string& node = r.node;
      r.live = v.live.count(node) != 0;
      if (!r.live) {
        r.error = "not live (no lease in etcd)";
      } else if (const NodeReport& rep = reports[node]; !rep.error.empty()) {
        r.error = rep.error;
      } else if (auto it = rep.shards.find(s); it == rep.shards.end()) {
        r.error = "does not apply this shard (its shard map differs?)";
      } else {
        r.answered = true;
        r.applied = it->second.applied;
        r.failures = it->second.failures;
        r.gap_first = it->second.gap_first;
        r.gap_last = it->second.gap_last;
      }
      sv.replicas.push_back(std::move(r));
    }
    v.shards.push_back(std::move(sv));
  }
  return v;
}

std::string cluster_view_json(const ClusterView& v) {
  Json shards = Json::array();
  for (const auto& s : v.shards) {
    Json replicas = Json::array();
    for (const auto& r : s.replicas) {
      Json jr{{"node", r.node}, {"live", r.live}, {"answered", r.answered}};
      if (r.joining) jr["joining_from"] = r.joining_from;
      if (r.answered) {
        jr["applied"] = r.applied;
        jr["behind"] = s.stream_last > r.applied ? s.stream_last - r.applied : 0;
        jr["failures"] = r.failures;
        if (r.gap_first != 0) jr["gap"] = Json{{"first", r.gap_first}, {"last", r.gap_last}};
      } else {
        jr["error"] = r.error;
      }
      replicas.push_back(std::move(jr));
    }
    Json peers = Json::array();
    for (const auto& p : s.stream_replicas) {
      peers.push_back({{"name", p.name}, {"current", p.current}, {"offline", p.offline}, {"lag", p.lag}});
    }
    Json js{{"shard", s.shard},          {"stream_last", s.stream_last},     {"serving", s.serving()},
            {"writable", s.writable()}, {"stream_leader", s.stream_leader}, {"stream_replicas", peers},
            {"replicas", replicas}};
    if (!s.stream_error.empty()) js["stream_error"] = s.stream_error;
    shards.push_back(std::move(js));
  }
  Json etcd = Json::array();
  for (const auto& m : v.etcd) {
    Json jm{{"endpoint", m.endpoint}, {"answered", m.answered}, {"leader", m.leads()}};
    if (m.answered) {
      jm["member_id"] = m.member_id;
      jm["follows"] = m.leader_id;
      jm["version"] = m.version;
      jm["db_size"] = m.db_size;
      jm["raft_term"] = m.raft_term;
    } else {
      jm["error"] = m.error;
    }
    etcd.push_back(std::move(jm));
  }
  return Json{{"cluster", v.name},
              {"shard_map_revision", v.shard_map_revision},
              {"live_nodes", v.live},
              {"searchable", v.searchable()},
              {"writable", v.writable()},
              {"etcd", etcd},
              {"rebalance", Json{{"running", !v.rebalance_by.empty()},
                                 {"by", v.rebalance_by},
                                 {"automatic", v.rebalance_automatic},
                                 {"reason", v.rebalance_reason},
                                 {"moves_pending", v.moves_pending},
                                 {"paused", v.rebalance_paused},
                                 {"drained", v.drained}}},
              {"shards", shards}}
      .dump(2);
}

std::string cluster_view_table(const ClusterView& v) {
  std::string out = "cluster " + v.name + ", shard map revision " + std::to_string(v.shard_map_revision) + ", " +
                    std::to_string(v.live.size()) + " live node(s):";
  for (const auto& [node, url] : v.live) out += " " + node + " (" + url + ")";
  out += "\netcd:";
  for (const auto& m : v.etcd) {
    out += " " + m.endpoint + " ";
    if (!m.answered) out += "UNREACHABLE (" + m.error + ")";
    else if (m.leads()) out += "leader";
    else if (m.leader_id.empty() || m.leader_id == "0") out += "NO LEADER";
    else out += "follower";
    out += ";";
  }
  out.back() = '\n';
  if (!v.rebalance_by.empty()) {
    out += "rebalance: running, " + std::string(v.rebalance_automatic ? "automatic, on node " : "by ") +
           v.rebalance_by + (v.rebalance_reason.empty() ? "" : " (" + v.rebalance_reason + ")") + ", " +
           std::to_string(v.moves_pending) + " move(s) pending\n";
  } else if (v.moves_pending != 0) {
    out += "rebalance: " + std::to_string(v.moves_pending) +
           " move(s) pending and nobody runs them (`ragd cluster rebalance` resumes them)\n";
  }
  if (v.rebalance_paused) {
    out += "rebalance: automatic rebalancing PAUSED by `ragd cluster rebalance --cancel` until a `ragd cluster "
           "rebalance` run ends\n";
  }
  if (!v.drained.empty()) {
    out += "rebalance: drained (kept empty until restarted):";
    for (const auto& n : v.drained) out += " " + n;
    out += "\n";
  }
  char line[320];
  std::snprintf(line, sizeof line, "%-6s %-12s %-12s %-10s %10s %8s %9s  %s\n", "shard", "stream last", "log leader",
                "replica", "applied", "behind", "failures", "state");
  out += line;
  for (const auto& s : v.shards) {
    bool first = true;
    for (const auto& r : s.replicas) {
      const std::string shard = first ? std::to_string(s.shard) : "";
      const std::string last = first ? (s.stream_error.empty() ? std::to_string(s.stream_last) : "?") : "";
      const std::string leader = !first ? "" : !s.stream_error.empty() ? "?" : s.stream_leader.empty() ? "NONE"
                                                                                                      : s.stream_leader;
      if (r.answered) {
        const uint64_t behind = s.stream_last > r.applied ? s.stream_last - r.applied : 0;
        std::string state = behind == 0 ? "level" : "catching up";
        if (r.gap_first != 0) {
          state = "STOPPED AT A GAP: the stream lacks " +
                  (r.gap_first == r.gap_last ? "message " + std::to_string(r.gap_first)
                                             : "messages " + std::to_string(r.gap_first) + "-" +
                                                   std::to_string(r.gap_last)) +
                  " (`ragd cluster accept-gap --shard " + std::to_string(s.shard) + "` accepts it)";
        }
        if (r.joining) state = "joining, replacing " + r.joining_from + (r.gap_first != 0 ? "; " + state : "");
        std::snprintf(line, sizeof line, "%-6s %-12s %-12s %-10s %10llu %8llu %9llu  %s\n", shard.c_str(),
                      last.c_str(), leader.c_str(), r.node.c_str(), static_cast<unsigned long long>(r.applied),
                      static_cast<unsigned long long>(behind), static_cast<unsigned long long>(r.failures),
                      state.c_str());
      } else {
        std::snprintf(line, sizeof line, "%-6s %-12s %-12s %-10s %10s %8s %9s  %s\n", shard.c_str(), last.c_str(),
                      leader.c_str(), r.node.c_str(), "-", "-", "-", r.error.c_str());
      }
      out += line;
      first = false;
    }
    if (!s.stream_error.empty()) out += "       stream: " + s.stream_error + "\n";
    // The log's replicas, when one is not keeping up.
    std::string peers;
    for (const auto& p : s.stream_replicas) {
      if (p.current && !p.offline) continue;
      peers += " " + p.name + (p.offline ? " OFFLINE" : " behind") + " (lag " + std::to_string(p.lag) + ")";
    }
    if (!peers.empty()) out += "       log replicas:" + peers + "\n";
  }
  if (!v.searchable()) out += "NOT SEARCHABLE: a shard has no live replica that answers\n";
  else if (!v.writable()) out += "WRITES FAIL: a shard's log has no leader, or etcd has none\n";
  else out += "every shard has a live replica that answers; every log and etcd have a leader\n";
  return out;
}

}  // namespace ragd::cluster
