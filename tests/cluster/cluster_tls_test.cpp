// TLS to NATS and etcd (cluster/README.md, "TLS"): three NATS servers and
// an etcd member that speak TLS only, with certificates the cluster's own
// authority signed, and ask every client for a certificate it signed. A node with the files
// joins, writes and searches, and `ragd cluster status` reads the cluster;
// a node without its client certificate, without the authority, or with
// plain URLs does not start, and says which of them to check.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sync/http.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

class ClusterTlsTest : public ClusterTest {
 protected:
  bool tls() const override { return true; }

  // A node started with `file_text` as its cluster file: whether it came
  // up, and its log.
  std::pair<bool, std::string> try_node(const std::string& id, const std::string& file_text) {
    const fs::path file = tmp_.path / (id + ".toml");
    write_file(file, file_text);
    ServerProcess p(tmp_.path / ("data-" + id), glove_, {"--cluster", file.string()});
    const bool up = p.start(40);
    return {up, p.log()};
  }

  static std::string without(std::string text, const std::string& key) {
    const size_t at = text.find(key + " = ");
    if (at != std::string::npos) text.erase(at, text.find('\n', at) + 1 - at);
    return text;
  }

  static std::string replaced(std::string text, const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
      text.replace(at, from.size(), to);
    }
    return text;
  }
};

TEST_F(ClusterTlsTest, ANodeJoinsOverTlsAndOneWithoutItsFilesIsRefused) {
  ServerProcess& a = node("a", {"a"}, 1);  // every shard on a (the map it deals first)
  ASSERT_TRUE(a.start(60)) << a.log();
  ASSERT_EQ(post_docs(a.port(), {1, 2, 3}, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return finds(a.port(), 2); }, 20000)) << a.log();
  std::string status;
  EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string()}, &status), 0) << status;
  EXPECT_EQ(status.find("error"), std::string::npos) << status;

  const std::string file_b = servers_.cluster_file("b", {"a", "b"}, kShards, 1, 3, 20000);
  ASSERT_NE(file_b.find("tls://"), std::string::npos);
  ASSERT_NE(file_b.find("https://"), std::string::npos);

  auto [up, log] = try_node("b", without(without(file_b, "tls_cert_file"), "tls_key_file"));
  EXPECT_FALSE(up) << "NATS verifies its clients: no certificate, no connection";
  EXPECT_NE(log.find("set tls_cert_file"), std::string::npos) << log;
  EXPECT_EQ(log.find("set tls_ca_file"), std::string::npos) << log;

  std::tie(up, log) = try_node("c", without(file_b, "tls_ca_file"));
  EXPECT_FALSE(up) << "the servers' certificate is not in the system's store";
  EXPECT_NE(log.find("set tls_ca_file"), std::string::npos) << log;
  EXPECT_EQ(log.find("set tls_cert_file"), std::string::npos) << log;

  std::tie(up, log) = try_node("d", replaced(file_b, "tls://", "nats://"));
  EXPECT_FALSE(up) << "plain NATS to a server that requires TLS";
  EXPECT_NE(log.find("tls:// when the servers require TLS"), std::string::npos) << log;

  std::tie(up, log) = try_node("e", replaced(file_b, "https://", "http://"));
  EXPECT_FALSE(up) << "plain HTTP to an etcd that serves HTTPS";
  EXPECT_NE(log.find("etcd unreachable"), std::string::npos) << log;
  EXPECT_NE(log.find("https:// when the members require TLS"), std::string::npos) << log;

  // A client certificate from another authority: NATS refuses it.
  const fs::path other = tmp_.path / "other";
  const CertIssuer other_ca{other / "ca.pem", other / "ca.key"};
  ASSERT_EQ(make_cert(other_ca.cert_file, other_ca.key_file, "another authority", "", nullptr, true), "");
  ASSERT_EQ(make_cert(other / "node.pem", other / "node.key", "node", "clientAuth", &other_ca, false), "");
  std::tie(up, log) = try_node("g", replaced(replaced(file_b, servers_.tls_client_cert.string(),
                                                      (other / "node.pem").string()),
                                             servers_.tls_client_key.string(), (other / "node.key").string()));
  EXPECT_FALSE(up) << "a client certificate the cluster's authority did not sign";
  EXPECT_NE(log.find("connecting to NATS"), std::string::npos) << log;

  // A malformed file is refused before anything is dialled.
  std::tie(up, log) = try_node("f", without(file_b, "tls_key_file"));
  EXPECT_FALSE(up);
  EXPECT_NE(log.find("both or neither"), std::string::npos) << log;

  // Node a kept working through all of it.
  EXPECT_EQ(post_docs(a.port(), {4}, 0).status, 200);
  EXPECT_TRUE(wait_until([&] { return finds(a.port(), 4); }, 20000));
}

// Nodes that serve HTTPS (--tls-cert) advertise https:// URLs, and a
// coordinator reaches its peers' shards over HTTPS, verifying them against
// tls_ca_file (the peers' certificate is in no system store: without it
// every search that needs b's shards would fail with 503).
TEST_F(ClusterTlsTest, NodesServingHttpsSearchEachOtherAgainstTheClustersAuthority) {
  const std::vector<std::string> https{"--tls-cert", servers_.tls_cert.string(), "--tls-key",
                                       servers_.tls_key.string()};
  sync::HttpOptions o;
  o.tls_ca_file = servers_.tls_ca.string();
  o.max_attempts = 1;
  sync::HttpClient client(o);
  auto url = [](uint16_t port, const std::string& path) { return "https://127.0.0.1:" + std::to_string(port) + path; };
  for (const std::string id : {"a", "b"}) {
    ServerProcess& p = node(id, {"a", "b"}, 1, 20000, kShards, https);
    p.set_ready_probe([&](uint16_t port) {
      sync::HttpClient probe(o);
      auto r = probe.get(url(port, "/healthz"));
      return r.is_ok() && r->status == 200;
    });
    ASSERT_TRUE(p.start(60)) << p.log();
  }
  const uint16_t a = nodes_["a"]->port();
  Json docs = Json::array();
  std::set<uint32_t> shards;
  for (int i = 0; i < 12; ++i) {
    docs.push_back({{"id", doc_id(i)}, {"title", "Doc"}, {"text", text_of(i, 0)}});
    shards.insert(cluster::shard_of(doc_id(i), kShards));
  }
  ASSERT_EQ(shards.size(), static_cast<size_t>(kShards)) << "the documents reach b's shards too";
  auto wrote = client.post_json(url(a, "/v1/documents"), Json{{"documents", docs}}.dump());
  ASSERT_TRUE(wrote.is_ok()) << wrote.status().message();
  for (int i = 0; i < 12; ++i) {
    const std::string q = Json{{"query", token(i, 0)}, {"k", 3}, {"mode", "lexical"}}.dump();
    std::string last;
    EXPECT_TRUE(wait_until([&] {
      auto r = client.post_json(url(a, "/v1/search"), q);
      if (!r.is_ok()) {
        last = r.status().message();
        return false;
      }
      last = r->body;
      return r->body.find(doc_id(i) + "\"") != std::string::npos;
    }, 20000)) << doc_id(i) << " on shard " << cluster::shard_of(doc_id(i), kShards) << ": " << last;
  }
  // `ragd cluster status` reads both nodes' /v1/stats over HTTPS too.
  std::string status;
  EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string()}, &status), 0) << status;
  EXPECT_EQ(status.find("error"), std::string::npos) << status;
}

// A wiped replica of nodes that serve HTTPS loads its peer's snapshot over
// HTTPS, verified against tls_ca_file, in requests signed with the cluster
// secret (cluster/README.md, "Snapshots").
TEST_F(ClusterTlsTest, AWipedReplicaLoadsAPeersSnapshotOverHttpsWithASecret) {
  const std::vector<std::string> https{"--tls-cert", servers_.tls_cert.string(), "--tls-key",
                                       servers_.tls_key.string(), "--insecure-no-auth"};
  write_file(tmp_.path / "cluster.secret", "c3a5e7f9b1d3f5a7c9e1b3d5f7a9c1e3-tls-snapshot\n");
  fs::permissions(tmp_.path / "cluster.secret", fs::perms::owner_read | fs::perms::owner_write);
  servers_.cluster_file_extra = "secret_file = \"cluster.secret\"\n";
  sync::HttpOptions o;
  o.tls_ca_file = servers_.tls_ca.string();
  o.max_attempts = 1;
  sync::HttpClient client(o);
  auto url = [](uint16_t port, const std::string& path) { return "https://127.0.0.1:" + std::to_string(port) + path; };
  auto stats = [&](uint16_t port) {
    auto r = client.get(url(port, "/v1/stats"));
    return r.is_ok() && r->status == 200 ? Json::parse(r->body) : Json();
  };
  std::vector<std::string> nats;
  for (uint16_t p : servers_.nats_ports) nats.push_back("tls://127.0.0.1:" + std::to_string(p));
  cluster::TlsFiles tls{servers_.tls_ca, servers_.tls_client_cert, servers_.tls_client_key};
  auto js = cluster::JetStream::connect(nats, "ragd-test", tls);
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  auto level = [&](uint16_t port) {
    const Json body = stats(port);
    if (body.is_null() || body["cluster"]["applying"].size() != kShards) return false;
    for (const auto& sh : body["cluster"]["applying"]) {
      auto last = (*js)->last_sequence("t_S" + std::to_string(sh["shard"].get<uint32_t>()));
      if (!last.is_ok() || sh["applied"].get<uint64_t>() != *last) return false;
    }
    return true;
  };
  for (const std::string id : {"a", "b"}) {
    ServerProcess& p = node(id, {"a", "b"}, 2, 20000, kShards, https);
    p.set_ready_probe([&](uint16_t port) {
      sync::HttpClient probe(o);
      auto r = probe.get(url(port, "/healthz"));
      return r.is_ok() && r->status == 200;
    });
    ASSERT_TRUE(p.start(60)) << p.log();
  }
  ServerProcess& a = *nodes_["a"];
  ServerProcess& b = *nodes_["b"];
  Json docs = Json::array();
  for (int i = 0; i < 20; ++i) docs.push_back({{"id", doc_id(i)}, {"title", "Doc"}, {"text", text_of(i, 0)}});
  auto wrote = client.post_json(url(a.port(), "/v1/documents"), Json{{"documents", docs}}.dump());
  ASSERT_TRUE(wrote.is_ok()) << wrote.status().message();
  ASSERT_TRUE(wait_until([&] { return level(a.port()) && level(b.port()); }, 30000))
      << stats(a.port()).dump() << "\n" << stats(b.port()).dump();

  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(60)) << b.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port()); }, 30000)) << b.log();
  const Json st = stats(b.port());
  for (const auto& sh : st["cluster"]["applying"]) {
    ASSERT_TRUE(sh.contains("snapshot")) << sh;
    EXPECT_EQ(sh["snapshot"]["from"], "a") << sh;
    EXPECT_EQ(sh["snapshot_failures"], 0) << sh;
  }
  EXPECT_NE(b.log().find("loaded peer a's snapshot"), std::string::npos) << b.log();
  // b answers from the loaded copies (a shard replica answers no unsigned
  // GET with a secret: through the default collection).
  for (int i : {3, 11, 19}) {
    auto r = client.post_json(url(b.port(), "/v1/search"),
                              Json{{"query", token(i, 0)}, {"k", 3}, {"mode", "lexical"}}.dump());
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_NE(r->body.find("\"" + doc_id(i) + "\""), std::string::npos) << r->body;
  }
}

}  // namespace
}  // namespace ragd::test
