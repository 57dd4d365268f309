// A cluster on loopback for the tests: three nats-server processes in one
// JetStream cluster, one etcd member, and `ragd serve --cluster` nodes, all
// started and killed by the test (tests/api/test_support.h for the ragd
// side). Skips when nats-server or etcd is not installed.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "cluster/etcd.h"
#include "cluster/jetstream.h"
#include "cluster/node.h"
#include "cluster/options.h"
#include "cluster/shard.h"
#include "tests/api/test_support.h"
#include "tests/api/tls_test_support.h"
#include "tests/cluster/cluster_servers.h"
#include "tests/sync/loopback_server.h"

namespace ragd::test {

using Json = nlohmann::json;

inline std::string doc_id(int i) { return "doc-" + std::to_string(i); }
inline std::string token(int i, int version) { return "zqc" + std::to_string(i) + "v" + std::to_string(version) + "x"; }
inline std::string text_of(int i, int version) {
  return token(i, version) + " the vpn tunnel drops after the firewall rule update on the printer queue " +
         std::to_string(i);
}

inline constexpr int kShards = 4;

// The documents (id -> text) of shard `s`'s store on the node at `port`,
// read one by one through its collection's documents route; nullopt when
// the node does not hold the shard (404), or stopped holding it while it
// was read (a retirement). The ids are doc-0..79: a store holding any
// other document, or more than it lists, reads as "<extra documents>".
inline std::optional<std::map<std::string, std::string>> shard_contents(uint16_t port, uint32_t s) {
  const std::string base = "/v1/collections/" + cluster::shard_collection(s);
  HttpResult st = http_get(port, base + "/stats");
  if (st.status == 404) return std::nullopt;
  EXPECT_EQ(st.status, 200) << st.body;
  std::map<std::string, std::string> out;
  for (int i = 0; i < 80; ++i) {
    HttpResult r = http_get(port, base + "/documents/" + doc_id(i));
    if (r.status == 404) continue;
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status == 200) out[doc_id(i)] = Json::parse(r.body).value("text", "");
  }
  HttpResult again = http_get(port, base + "/stats");
  if (again.status == 404) return std::nullopt;
  if (Json::parse(again.body).value("documents", uint64_t{0}) != out.size()) out["<extra documents>"] = "";
  return out;
}

// The NATS servers' client URLs.
inline std::vector<std::string> nats_urls(const ClusterServers& s) {
  std::vector<std::string> urls;
  for (uint16_t p : s.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(p));
  return urls;
}

// A peer the test puts in the shard map in front of a real node (its port
// in `target`, read at each request): it passes every request on, except
// those `fail_when` picks (by the request's JSON body), which it answers
// with 503. Counts the failed ones and the 200s per shard_phase.
class ProxyPeer {
 public:
  ProxyPeer(uint16_t& target, std::function<bool(const Json&)> fail_when)
      : target_(target),
        fail_when_(std::move(fail_when)),
        server_([this](const sync::testing::Request& r) { return serve(r); }, true) {}
  std::string url() const { return server_.url(); }
  int failed() const { return failed_; }
  int passed(const std::string& phase) const {
    std::lock_guard lock(mu_);
    auto it = passed_.find(phase);
    return it == passed_.end() ? 0 : it->second;
  }

 private:
  sync::testing::Response serve(const sync::testing::Request& r) {
    sync::testing::Response out;
    const Json req = Json::parse(r.body, nullptr, false);
    if (req.is_object() && fail_when_(req)) {
      ++failed_;
      out.status = 503;
      out.body = R"({"error":{"code":"unavailable","message":"the test's peer fails here"}})";
      return out;
    }
    HttpResult up = http_request(target_, r.method, r.target, r.body, "application/json", {}, 3);
    out.status = up.status == 0 ? 502 : up.status;
    out.body = up.body;
    if (req.is_object() && up.status == 200) {
      std::lock_guard lock(mu_);
      ++passed_[req.value("shard_phase", "")];
    }
    return out;
  }
  uint16_t& target_;
  std::function<bool(const Json&)> fail_when_;
  std::atomic<int> failed_{0};
  mutable std::mutex mu_;
  std::map<std::string, int> passed_;
  sync::testing::LoopbackServer server_;
};

// Searches and writes while replicas move: one thread searches for the
// first token of doc-0..39 through `search_ports` in turn (each search must
// find its document), another writes doc-40..59 (versions 1-3) through
// `write_port` (each must be acknowledged), until stop().
class Traffic {
 public:
  Traffic(std::vector<uint16_t> search_ports, uint16_t write_port) {
    searcher_ = std::thread([this, ports = std::move(search_ports)] {
      for (size_t n = 0; !done_; ++n) {
        const uint16_t port = ports[n % ports.size()];
        const int i = static_cast<int>(n % 40);
        HttpResult r =
            http_post(port, "/v1/search", Json{{"query", token(i, 0)}, {"k", 5}, {"mode", "lexical"}}.dump());
        bool found = false;
        if (r.status == 200) {
          const Json body = Json::parse(r.body);
          for (const auto& h : body["hits"]) found = found || h["doc_id"] == doc_id(i);
        }
        ++searches_;
        if (!found) fail("port " + std::to_string(port) + " " + doc_id(i) + ": HTTP " + std::to_string(r.status) +
                         " " + r.body.substr(0, 300));
      }
    });
    writer_ = std::thread([this, write_port] {
      for (int n = 0; !done_; ++n) {
        const int i = 40 + n % 20, version = 1 + (n / 20) % 3;
        Json docs = Json::array({{{"id", doc_id(i)}, {"title", "Doc " + std::to_string(i)},
                                  {"text", text_of(i, version)}, {"kind", "runbook"}}});
        HttpResult w = http_post(write_port, "/v1/documents", Json{{"documents", docs}}.dump());
        if (w.status == 200 && Json::parse(w.body).value("ingested", 0) == 1) {
          std::lock_guard lock(mu_);
          written_[i] = version;
          ++writes_;
        } else {
          fail("write " + doc_id(i) + ": HTTP " + std::to_string(w.status) + " " + w.body.substr(0, 300));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  ~Traffic() { stop(); }
  void stop() {
    done_ = true;
    if (searcher_.joinable()) searcher_.join();
    if (writer_.joinable()) writer_.join();
  }
  // After stop(): no search or write failed, and enough of each ran.
  void expect_no_failures() {
    std::lock_guard lock(mu_);
    std::string all;
    for (const auto& f : failures_) all += f + "\n";
    EXPECT_TRUE(failures_.empty()) << failures_.size() << " of " << searches_ << " searches or writes failed:\n"
                                   << all;
    std::printf("during the moves: %d searches, %d writes acknowledged\n", searches_.load(), writes_);
    EXPECT_GT(searches_, 20);
    EXPECT_GT(writes_, 20);
  }
  // The acknowledged writes (doc -> version) into `latest`.
  void add_written(std::map<int, int>& latest) {
    std::lock_guard lock(mu_);
    for (const auto& [i, v] : written_) latest[i] = v;
  }

 private:
  void fail(const std::string& what) {
    std::lock_guard lock(mu_);
    failures_.push_back(what);
  }
  std::atomic<bool> done_{false};
  std::atomic<int> searches_{0};
  std::mutex mu_;
  int writes_ = 0;                     // guarded by mu_
  std::map<int, int> written_;         // guarded by mu_
  std::vector<std::string> failures_;  // guarded by mu_
  std::thread searcher_, writer_;
};

// Three NATS servers, one etcd (or three), a tiny GloVe file; ragd nodes on
// demand.
class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!servers_.available()) {
      GTEST_SKIP() << "nats-server or etcd is not installed (scripts/install-deps.sh test installs both)";
    }
    if (tls()) {
      // The cluster's authority, the servers' certificate (NATS, etcd, and
      // nodes serving HTTPS) and the nodes' client certificate.
      const fs::path pki = tmp_.path / "pki";
      servers_.tls_ca = pki / "ca.pem";
      servers_.tls_cert = pki / "server.pem";
      servers_.tls_key = pki / "server.key";
      servers_.tls_client_cert = pki / "node.pem";
      servers_.tls_client_key = pki / "node.key";
      const CertIssuer ca{servers_.tls_ca, pki / "ca.key"};
      ASSERT_EQ(make_cert(ca.cert_file, ca.key_file, "ragd test authority", "", nullptr, true), "");
      // clientAuth too: etcd's JSON gateway dials its own member with it.
      ASSERT_EQ(make_cert(servers_.tls_cert, servers_.tls_key, "localhost", "serverAuth,clientAuth", &ca, false), "");
      ASSERT_EQ(make_cert(servers_.tls_client_cert, servers_.tls_client_key, "node", "clientAuth", &ca, false), "");
    }
    ASSERT_TRUE(servers_.start(tmp_.path, 3, etcd_members())) << "nats-server or etcd did not start; logs in "
                                                             << tmp_.path;
    std::vector<std::string> texts;
    for (int i = 0; i < 60; ++i) {
      for (int v = 0; v < 4; ++v) texts.push_back(text_of(i, v));
    }
    glove_ = tmp_.path / "glove.bin";
    make_tiny_glove(glove_, texts);
  }

  // etcd members to start: one, or three for a test that kills one.
  virtual size_t etcd_members() const { return 1; }
  // NATS and etcd that speak TLS only and verify their clients
  // (ClusterServers::tls_cert).
  virtual bool tls() const { return false; }

  // Node `id` of `nodes`; started by start_node().
  // A publish waits `publish_timeout_ms` for JetStream's ack.
  // `extra`: more `serve` arguments.
  ServerProcess& node(const std::string& id, const std::vector<std::string>& nodes, int shard_replicas,
                      int publish_timeout_ms = 20000, int shards = kShards, std::vector<std::string> extra = {}) {
    const fs::path file = tmp_.path / (id + ".toml");
    write_file(file, servers_.cluster_file(id, nodes, shards, shard_replicas, 3, publish_timeout_ms));
    auto& p = nodes_[id];
    extra.insert(extra.begin(), {"--cluster", file.string()});
    p = std::make_unique<ServerProcess>(tmp_.path / ("data-" + id), glove_, std::move(extra));
    return *p;
  }

  // Puts peer `id` at `url` (a proxy of the test's) first in the shard map
  // before `others` for every shard, so that a node asks it before them,
  // and live in etcd under a lease of the test's own. Before the nodes
  // start; node `config_of`'s cluster file names etcd and the prefix.
  void put_first_in_map(const std::string& id, const std::string& url, const std::vector<std::string>& others,
                        const std::string& config_of) {
    auto options = cluster::read_cluster_options(tmp_.path / (config_of + ".toml"));
    ASSERT_TRUE(options.is_ok()) << options.status().to_string();
    cluster::Etcd etcd(options->etcd, 5);
    cluster::ShardMap map;
    for (uint32_t s = 0; s < options->shards; ++s) {
      map.replicas.push_back({id});
      map.replicas.back().insert(map.replicas.back().end(), others.begin(), others.end());
    }
    ASSERT_TRUE(etcd.put(cluster::shard_map_key(*options), cluster::shard_map_to_json(map)).is_ok());
    auto lease = etcd.lease_grant(120);
    ASSERT_TRUE(lease.is_ok());
    ASSERT_TRUE(etcd.put(cluster::etcd_prefix(*options) + "nodes/" + id, url, *lease).is_ok());
  }

  static HttpResult post_docs(uint16_t port, const std::vector<int>& ids, int version) {
    Json docs = Json::array();
    for (int i : ids) {
      docs.push_back({{"id", doc_id(i)}, {"title", "Doc " + std::to_string(i)}, {"text", text_of(i, version)},
                      {"kind", "runbook"}});
    }
    return http_post(port, "/v1/documents", Json{{"documents", docs}}.dump());
  }

  // The ids a lexical search for `tok` finds through `port`; nullopt when
  // the search failed.
  static std::optional<std::set<std::string>> search(uint16_t port, const std::string& tok) {
    HttpResult r = http_post(port, "/v1/search", Json{{"query", tok}, {"k", 5}, {"mode", "lexical"}}.dump());
    if (r.status != 200) return std::nullopt;
    std::set<std::string> ids;
    const Json body = Json::parse(r.body);
    for (const auto& h : body["hits"]) ids.insert(h["doc_id"].get<std::string>());
    return ids;
  }

  // Whether a search through `port` for document `i`'s first token finds it.
  static bool finds(uint16_t port, int i) {
    auto got = search(port, token(i, 0));
    return got && got->count(doc_id(i)) == 1;
  }

  // The document's text in its shard's store on the node at `port`; "" when
  // the store has no such document (404). Any other answer fails the test:
  // a node that is down or a store that errs must not pass for "deleted".
  static std::string stored_text(uint16_t port, int i) {
    const uint32_t s = cluster::shard_of(doc_id(i), kShards);
    HttpResult r = http_get(port, "/v1/collections/" + cluster::shard_collection(s) + "/documents/" + doc_id(i));
    if (r.status == 404) return "";
    EXPECT_EQ(r.status, 200) << "GET " << doc_id(i) << " on port " << port << ": " << r.body;
    if (r.status != 200) return "<no answer: HTTP " + std::to_string(r.status) + ">";
    return Json::parse(r.body).value("text", "");
  }

  // `ragd keys create` in the store at `data`: the new key's secret.
  static std::string create_key(const fs::path& data, const std::string& name, const std::string& role,
                                const std::string& groups) {
    std::vector<std::string> args{"keys", "create", "--data", data.string(), "--name", name, "--role", role};
    if (!groups.empty()) args.insert(args.end(), {"--groups", groups});
    std::string out;
    EXPECT_EQ(run_ragd(args, &out), 0) << out;
    return out.substr(0, out.find('\n'));
  }

  // Whether `node`'s durable consumer of shard `s` is on the NATS servers.
  bool has_consumer(uint32_t s, const std::string& node) {
    if (!js_) {
      auto js = cluster::JetStream::connect(nats_urls(servers_), "ragd-test");
      EXPECT_TRUE(js.is_ok()) << js.status().to_string();
      if (!js.is_ok()) return false;
      js_ = std::move(js).value();
    }
    auto names = js_->consumer_names("t_S" + std::to_string(s));
    EXPECT_TRUE(names.is_ok()) << names.status().to_string();
    if (!names.is_ok()) return false;
    return std::find(names->begin(), names->end(), cluster::consumer_name(node, s)) != names->end();
  }

  // Every node of `ids` has applied each shard it holds up to its stream's
  // last sequence (read from JetStream).
  bool level_everywhere(const std::vector<std::string>& ids) {
    if (!js_) {
      auto js = cluster::JetStream::connect(nats_urls(servers_), "ragd-test");
      if (!js.is_ok()) return false;
      js_ = std::move(js).value();
    }
    for (const auto& id : ids) {
      HttpResult st = http_get(nodes_[id]->port(), "/v1/stats");
      if (st.status != 200) return false;
      const Json body = Json::parse(st.body);
      for (const auto& sh : body["cluster"]["applying"]) {
        auto last = js_->last_sequence("t_S" + std::to_string(sh["shard"].get<uint32_t>()));
        if (!last.is_ok() || sh["applied"].get<uint64_t>() != *last) return false;
      }
    }
    return true;
  }

  // Every replica `map` names holds exactly the acknowledged documents of
  // its shard (`latest`: doc -> version; the last version of each, each
  // once), waiting up to 10 s for each; the nodes of nodes_ it does not name
  // (but those in `skip`, not running) hold no copy.
  void expect_map_holds(const cluster::ShardMap& map, const std::map<int, int>& latest, uint32_t shards,
                        const std::set<std::string>& skip = {}) {
    for (uint32_t s = 0; s < shards; ++s) {
      std::map<std::string, std::string> want;
      for (const auto& [i, v] : latest) {
        if (cluster::shard_of(doc_id(i), shards) == s) want[doc_id(i)] = text_of(i, v);
      }
      for (const auto& [id, p] : nodes_) {
        if (skip.count(id)) continue;
        const auto& r = map.replicas[s];
        std::optional<std::map<std::string, std::string>> have;
        if (std::find(r.begin(), r.end(), id) != r.end()) {
          EXPECT_TRUE(wait_until([&] { return (have = shard_contents(p->port(), s)) && *have == want; }, 10000))
              << "shard " << s << " on " << id << ": " << (have ? have->size() : 0) << " documents, want "
              << want.size();
        } else {
          EXPECT_FALSE(shard_contents(p->port(), s).has_value()) << "shard " << s << " still on " << id;
        }
      }
    }
  }

  // Every node that held a replica of a shard in `before` and not in
  // `after` (and is in nodes_, but not in `skip`) neither applies the shard
  // nor has its collection any more: its copy retired.
  bool left_copies_gone(const cluster::ShardMap& before, const cluster::ShardMap& after, uint32_t shards,
                        const std::set<std::string>& skip = {}) {
    for (uint32_t s = 0; s < shards; ++s) {
      for (const auto& id : before.replicas[s]) {
        const auto& now = after.replicas[s];
        if (skip.count(id) || !nodes_.count(id) || std::find(now.begin(), now.end(), id) != now.end()) continue;
        HttpResult st = http_get(nodes_[id]->port(), "/v1/stats");
        if (st.status != 200) return false;
        const Json body = Json::parse(st.body);
        for (const auto& sh : body["cluster"]["applying"]) {
          if (sh["shard"] == s) return false;
        }
        if (http_get(nodes_[id]->port(), "/v1/collections/" + cluster::shard_collection(s) + "/stats").status != 404)
          return false;
      }
    }
    return true;
  }

  static uint64_t stored_documents(uint16_t port) {
    uint64_t n = 0;
    for (uint32_t s = 0; s < kShards; ++s) {
      HttpResult r = http_get(port, "/v1/collections/" + cluster::shard_collection(s) + "/stats");
      if (r.status == 200) n += Json::parse(r.body).value("documents", uint64_t{0});
    }
    return n;
  }

  TempDir tmp_{"cluster"};
  ClusterServers servers_;
  fs::path glove_;
  std::map<std::string, std::unique_ptr<ServerProcess>> nodes_;
  std::unique_ptr<cluster::JetStream> js_;  // level_everywhere()'s and has_consumer()'s
};

}  // namespace ragd::test
