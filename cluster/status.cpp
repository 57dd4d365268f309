#include "cluster/status.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cluster/etcd.h"
#include "cluster/jetstream.h"
#include "cluster/node.h"
#include "sync/http.h"

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;

// What one node reports of the shards it applies: shard -> (applied, failures).
struct NodeReport {
  std::string error;
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> shards;
};

NodeReport ask_node(const std::string& url, const std::string& api_key) {
  NodeReport out;
  sync::HttpOptions o;
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
      out.shards[s.at("shard").get<uint32_t>()] = {s.at("applied").get<uint64_t>(), s.at("failures").get<uint64_t>()};
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
    return r.live && r.answered && stream_error.empty() && r.applied >= stream_last;
  });
}

bool ClusterView::searchable() const {
  return !shards.empty() && std::all_of(shards.begin(), shards.end(), [](const ShardView& s) {
    return std::any_of(s.replicas.begin(), s.replicas.end(),
                       [](const ReplicaView& r) { return r.live && r.answered; });
  });
}

Result<ClusterView> read_cluster_view(const ClusterOptions& o, const std::string& api_key) {
  ClusterView v;
  v.name = o.name;
  Etcd etcd(o.etcd, 5);
  RAGD_ASSIGN_OR_RETURN(ShardMap map, read_shard_map(etcd, o));
  RAGD_ASSIGN_OR_RETURN(v.live, read_live_nodes(etcd, o));
  v.shard_map_revision = map.revision;

  std::map<std::string, NodeReport> reports;
  for (const auto& [node, url] : v.live) reports[node] = ask_node(url, api_key);

  auto js = JetStream::connect(o.nats, "ragd-cluster-status");
  for (uint32_t s = 0; s < o.shards; ++s) {
    ShardView sv;
    sv.shard = s;
    if (!js.is_ok()) {
      sv.stream_error = js.status().message();
    } else {
      auto last = (*js)->last_sequence(stream_name(o, s));
      if (last.is_ok()) sv.stream_last = *last;
      else sv.stream_error = last.status().message();
    }
    for (const auto& node : map.replicas[s]) {
      ReplicaView r;
      r.node = node;
      r.live = v.live.count(node) != 0;
      if (!r.live) {
        r.error = "not live (no lease in etcd)";
      } else if (const NodeReport& rep = reports[node]; !rep.error.empty()) {
        r.error = rep.error;
      } else if (auto it = rep.shards.find(s); it == rep.shards.end()) {
        r.error = "does not apply this shard (its shard map differs?)";
      } else {
        r.answered = true;
        r.applied = it->second.first;
        r.failures = it->second.second;
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
      if (r.answered) {
        jr["applied"] = r.applied;
        jr["behind"] = s.stream_last > r.applied ? s.stream_last - r.applied : 0;
        jr["failures"] = r.failures;
      } else {
        jr["error"] = r.error;
      }
      replicas.push_back(std::move(jr));
    }
    Json js{{"shard", s.shard}, {"stream_last", s.stream_last}, {"serving", s.serving()}, {"replicas", replicas}};
    if (!s.stream_error.empty()) js["stream_error"] = s.stream_error;
    shards.push_back(std::move(js));
  }
  return Json{{"cluster", v.name},
              {"shard_map_revision", v.shard_map_revision},
              {"live_nodes", v.live},
              {"searchable", v.searchable()},
              {"shards", shards}}
      .dump(2);
}

std::string cluster_view_table(const ClusterView& v) {
  std::string out = "cluster " + v.name + ", shard map revision " + std::to_string(v.shard_map_revision) + ", " +
                    std::to_string(v.live.size()) + " live node(s):";
  for (const auto& [node, url] : v.live) out += " " + node + " (" + url + ")";
  out += "\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-6s %-12s %-10s %10s %8s %9s  %s\n", "shard", "stream last", "replica", "applied",
                "behind", "failures", "state");
  out += line;
  for (const auto& s : v.shards) {
    bool first = true;
    for (const auto& r : s.replicas) {
      const std::string shard = first ? std::to_string(s.shard) : "";
      const std::string last = first ? (s.stream_error.empty() ? std::to_string(s.stream_last) : "?") : "";
      if (r.answered) {
        const uint64_t behind = s.stream_last > r.applied ? s.stream_last - r.applied : 0;
        std::snprintf(line, sizeof line, "%-6s %-12s %-10s %10llu %8llu %9llu  %s\n", shard.c_str(), last.c_str(),
                      r.node.c_str(), static_cast<unsigned long long>(r.applied),
                      static_cast<unsigned long long>(behind), static_cast<unsigned long long>(r.failures),
                      behind == 0 ? "level" : "catching up");
      } else {
        std::snprintf(line, sizeof line, "%-6s %-12s %-10s %10s %8s %9s  %s\n", shard.c_str(), last.c_str(),
                      r.node.c_str(), "-", "-", "-", r.error.c_str());
      }
      out += line;
      first = false;
    }
    if (!s.stream_error.empty()) out += "       stream: " + s.stream_error + "\n";
  }
  out += v.searchable() ? "every shard has a live replica that answers\n"
                        : "NOT SEARCHABLE: a shard has no live replica that answers\n";
  return out;
}

}  // namespace ragd::cluster
