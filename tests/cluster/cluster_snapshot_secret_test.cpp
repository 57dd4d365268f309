// Peer snapshots between nodes that require API keys (cluster/README.md,
// "Snapshots" and "Between nodes"): a node's own snapshot request carries
// no key, so without the cluster secret the peer refuses it and the
// replica says why (its log and /v1/stats) and replays the stream; with
// the secret the request is signed and a wiped replica loads the peer's
// snapshot. Real nats-server, etcd and ragd processes.
#include <gtest/gtest.h>

#include <fstream>

#include "cluster/jetstream.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

HttpResult with_key(uint16_t port, const std::string& method, const std::string& target, const std::string& key,
                    const std::string& body = {}) {
  return http_request(port, method, target, body, "application/json", {"Authorization: Bearer " + key});
}

// The node's /v1/stats read with its admin key; null when it does not answer.
Json stats_of(uint16_t port, const std::string& key) {
  HttpResult st = with_key(port, "GET", "/v1/stats", key);
  return st.status == 200 ? Json::parse(st.body) : Json();
}

// Every shard the node applies has applied its stream's last sequence.
bool level(uint16_t port, const std::string& key, cluster::JetStream& js) {
  const Json body = stats_of(port, key);
  if (body.is_null() || body["cluster"]["applying"].size() != kShards) return false;
  for (const auto& sh : body["cluster"]["applying"]) {
    auto last = js.last_sequence("t_S" + std::to_string(sh["shard"].get<uint32_t>()));
    if (!last.is_ok() || sh["applied"].get<uint64_t>() != *last) return false;
  }
  return true;
}

// `ragd keys create --role admin` in `data`: the key.
std::string admin_key(const fs::path& data) {
  std::string out;
  EXPECT_EQ(run_ragd({"keys", "create", "--data", data.string(), "--name", "admin", "--role", "admin"}, &out), 0)
      << out;
  return out.substr(0, out.find('\n'));
}

TEST_F(ClusterTest, WithKeysAWipedReplicaLoadsAPeersSnapshotOnlyWithTheClusterSecret) {
  const fs::path data_a = tmp_.path / "data-a", data_b = tmp_.path / "data-b";
  const std::string key_a = admin_key(data_a);
  std::string key_b = admin_key(data_b);
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  auto js = cluster::JetStream::connect(nats_urls(servers_), "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  Json docs = Json::array();
  for (int i = 0; i < 30; ++i) {
    docs.push_back({{"id", doc_id(i)}, {"title", "Doc"}, {"text", text_of(i, 0)}, {"kind", "runbook"}});
  }
  HttpResult wrote = with_key(a.port(), "POST", "/v1/documents", key_a, Json{{"documents", docs}}.dump());
  ASSERT_EQ(wrote.status, 200) << wrote.body;
  ASSERT_TRUE(wait_until([&] { return level(a.port(), key_a, **js) && level(b.port(), key_b, **js); }, 20000));

  // No secret: a refuses b's request (it carries no key). b says why, in
  // its log and /v1/stats, and replays the streams.
  b.kill_hard();
  fs::remove_all(data_b);
  key_b = admin_key(data_b);
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port(), key_b, **js); }, 30000)) << b.log();
  Json stats = stats_of(b.port(), key_b);
  ASSERT_EQ(stats["cluster"]["applying"].size(), static_cast<size_t>(kShards)) << stats;
  for (const auto& sh : stats["cluster"]["applying"]) {
    EXPECT_FALSE(sh.contains("snapshot")) << sh;
    EXPECT_GE(sh["snapshot_failures"].get<uint64_t>(), 1u) << sh;
    const std::string why = sh.value("snapshot_error", "");
    EXPECT_NE(why.find("peer a refused this node's snapshot request"), std::string::npos) << sh;
    EXPECT_NE(why.find("set the same secret_file on every node"), std::string::npos) << sh;
  }
  EXPECT_NE(b.log().find("set the same secret_file on every node"), std::string::npos) << b.log();
  EXPECT_TRUE(wait_until([&] {
    HttpResult r = with_key(b.port(), "POST", "/v1/search", key_b,
                            Json{{"query", token(17, 0)}, {"k", 3}, {"mode", "lexical"}}.dump());
    return r.status == 200 && r.body.find("\"" + doc_id(17) + "\"") != std::string::npos;
  }, 10000)) << "the replayed copy answers";

  // With a secret on both nodes, b's request is signed: wiped again, it
  // loads a's snapshot of every shard.
  const std::string secret = "b7e4c1d9a2f06e8b3c5d7f9a1b3c5e7d-snapshot-secret";
  write_file(tmp_.path / "cluster.secret", secret + "\n");
  fs::permissions(tmp_.path / "cluster.secret", fs::perms::owner_read | fs::perms::owner_write);
  for (const char* id : {"a", "b"}) {
    std::ofstream(tmp_.path / (std::string(id) + ".toml"), std::ios::app) << "secret_file = \"cluster.secret\"\n";
  }
  ASSERT_EQ(b.stop(), 0);
  ASSERT_EQ(a.stop(), 0);
  ASSERT_TRUE(a.start(30)) << a.log();
  fs::remove_all(data_b);
  key_b = admin_key(data_b);
  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return level(b.port(), key_b, **js); }, 30000)) << b.log();
  stats = stats_of(b.port(), key_b);
  ASSERT_EQ(stats["cluster"]["applying"].size(), static_cast<size_t>(kShards)) << stats;
  for (const auto& sh : stats["cluster"]["applying"]) {
    ASSERT_TRUE(sh.contains("snapshot")) << sh;
    EXPECT_EQ(sh["snapshot"]["from"], "a") << sh;
    auto last = (*js)->last_sequence("t_S" + std::to_string(sh["shard"].get<uint32_t>()));
    ASSERT_TRUE(last.is_ok());
    EXPECT_EQ(sh["snapshot"]["sequence"].get<uint64_t>(), *last) << sh;
    EXPECT_EQ(sh["snapshot_failures"], 0) << sh;
    EXPECT_FALSE(sh.contains("snapshot_error")) << sh;
  }
  for (int i : {0, 17, 29}) {
    HttpResult r = with_key(b.port(), "GET",
                            "/v1/collections/" + cluster::shard_collection(cluster::shard_of(doc_id(i), kShards)) +
                                "/documents/" + doc_id(i),
                            key_b);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Json::parse(r.body).value("text", ""), text_of(i, 0));
  }
  // A key is still no way to a snapshot: only a signed request is.
  HttpResult direct = with_key(a.port(), "POST", "/v1/collections/shard-0/search", key_a,
                               R"({"query":"snapshot","shard_phase":"snapshot"})");
  EXPECT_EQ(direct.status, 403) << direct.body;
}

}  // namespace
}  // namespace ragd::test
