// A cluster on loopback for the tests: three nats-server processes in one
// JetStream cluster, one etcd member, and `ragd serve --cluster` nodes, all
// started and killed by the test (tests/api/test_support.h for the ragd
// side). Skips when nats-server or etcd is not installed.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/node.h"
#include "cluster/shard.h"
#include "tests/api/test_support.h"
#include "tests/api/tls_test_support.h"
#include "tests/cluster/cluster_servers.h"

namespace ragd::test {

using Json = nlohmann::json;

inline std::string doc_id(int i) { return "doc-" + std::to_string(i); }
inline std::string token(int i, int version) { return "zqc" + std::to_string(i) + "v" + std::to_string(version) + "x"; }
inline std::string text_of(int i, int version) {
  return token(i, version) + " the vpn tunnel drops after the firewall rule update on the printer queue " +
         std::to_string(i);
}

inline constexpr int kShards = 4;

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
};

}  // namespace ragd::test
