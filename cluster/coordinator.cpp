// The read path: one live replica per shard, in parallel, merged by score.
// Each shard's answer is its own hybrid retrieval over its own store, so a
// lexical score uses that shard's BM25 statistics (cluster/README.md, "Not
// built yet": global statistics).
#include <algorithm>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>

#include "cluster/node.h"
#include "cluster/etcd.h"
#include "sync/http.h"

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;

// How long the live-node list is reused before etcd is asked again, ms.
constexpr int64_t kLiveCacheMs = 500;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ShardAnswer {
  Status status;
  Json hits = Json::array();
  std::string mode;
};

// Reads a shard's /v1/search answer into `a`; false when it is malformed.
bool read_answer(const std::string& body, ShardAnswer& a) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("hits") || !j["hits"].is_array()) return false;
  a.hits = std::move(j["hits"]);
  a.mode = j.value("mode", "");
  return true;
}

}  // namespace

Result<std::map<std::string, std::string>> Node::live_nodes() {
  {
    std::lock_guard lock(live_mu_);
    if (!live_.empty() && now_ms() - live_read_ms_ < kLiveCacheMs) return live_;
  }
  RAGD_ASSIGN_OR_RETURN(auto out, read_live_nodes(*etcd_, options_));
  std::lock_guard lock(live_mu_);
  live_ = out;
  live_read_ms_ = now_ms();
  return out;
}

Result<std::string> Node::search(const std::string& body, size_t k, const std::string& authorization,
                                 const LocalSearch& local, const StreamPositions& after) {
  const auto start = std::chrono::steady_clock::now();
  RAGD_ASSIGN_OR_RETURN(auto live, live_nodes());
  const uint32_t shards = options_.shards;
  std::vector<std::future<ShardAnswer>> futures;
  futures.reserve(shards);
  for (uint32_t s = 0; s < shards; ++s) {
    // A shard held here is searched in process; the other live replicas,
    // in the map's order, are asked over HTTP (and are the fallback).
    bool held = false;
    std::vector<std::string> urls;
    for (const auto& n : map_.replicas[s]) {
      if (n == options_.node_id) {
        held = true;
        continue;
      }
      if (auto it = live.find(n); it != live.end()) urls.push_back(it->second);
    }
    const auto pos = after.find(s);
    const uint64_t need = pos == after.end() ? 0 : pos->second;
    futures.push_back(std::async(std::launch::async, [this, s, held, need, urls, &body, &authorization, &local] {
      ShardAnswer a;
      Status last = Status::unavailable("no live replica");
      // Read-your-writes: this replica only once it has applied the
      // token's position (the peers wait the same way, reading the token
      // from `body`; one still behind answers 503 and the next is asked).
      bool here = held;
      if (here && need > 0) {
        Status caught_up = wait_applied(s, need, std::chrono::milliseconds(options_.consistency_wait_ms));
        if (!caught_up.is_ok()) {
          here = false;
          last = caught_up;
        }
      }
      if (here) {
        auto svc = collections_.get(shard_collection(s));
        auto r = svc.is_ok() ? local(**svc) : Result<std::string>(svc.status());
        if (r.is_ok() && read_answer(*r, a)) return a;
        if (!r.is_ok() && r.status().code() == StatusCode::kInvalidArgument) {
          a.status = r.status();
          return a;
        }
        last = r.is_ok() ? Status::internal("a malformed local answer") : r.status();
      }
      sync::HttpOptions ho;
      ho.timeout_seconds = options_.search_timeout_seconds;
      ho.connect_timeout_seconds = 2;
      ho.max_attempts = 1;  // the next replica is the retry
      sync::HttpClient http(ho);
      if (authorization.rfind("Bearer ", 0) == 0) http.set_bearer(authorization.substr(7));
      for (const auto& url : urls) {
        auto r = http.post_json(url + "/v1/collections/" + shard_collection(s) + "/search", body);
        if (!r.is_ok()) {
          // A 4xx is the request's fault: every replica would say the same.
          if (r.status().code() == StatusCode::kInvalidArgument) {
            a.status = r.status();
            return a;
          }
          last = r.status();
          continue;
        }
        if (read_answer(r->body, a)) return a;
        last = Status::unavailable("a malformed answer from " + url);
      }
      a.status = Status::unavailable("shard " + std::to_string(s) + ": no replica answered (" + last.message() + ")");
      return a;
    }));
  }
  std::vector<Json> hits;
  std::string mode;
  Status failed;
  for (auto& f : futures) {
    ShardAnswer a = f.get();
    if (!a.status.is_ok()) {
      if (failed.is_ok()) failed = a.status;
      continue;
    }
    if (mode.empty()) mode = a.mode;
    for (auto& h : a.hits) hits.push_back(std::move(h));
  }
  if (!failed.is_ok()) return failed;
  // Best score first; ties by document and chunk id, so the order does not
  // depend on which shard answered first.
  std::stable_sort(hits.begin(), hits.end(), [](const Json& a, const Json& b) {
    const double sa = a.value("score", 0.0), sb = b.value("score", 0.0);
    if (sa != sb) return sa > sb;
    const std::string da = a.value("doc_id", ""), db = b.value("doc_id", "");
    if (da != db) return da < db;
    return a.value("chunk_id", "") < b.value("chunk_id", "");
  });
  if (hits.size() > k) hits.resize(k);
  Json out{{"hits", hits},
           {"mode", mode},
           {"took_ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()},
           {"shards", shards}};
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace ragd::cluster
