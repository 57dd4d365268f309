// A ragd cluster of real processes on loopback (cluster_fixture.h): writes
// go through one node and are read through the other. The unit tests of
// the shard hash, the shard map, the messages and the cluster file need no
// servers. The kill -9 test is cluster_kill_slow_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cluster/message.h"
#include "cluster/node.h"
#include "cluster/options.h"
#include "cluster/shard.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

TEST_F(ClusterTest, WriteThroughOneNodeReadThroughAnother) {
  // One replica per shard: node b holds half the shards, so its searches
  // must reach node a's shards over HTTP.
  ServerProcess& a = node("a", {"a", "b"}, 1, 3000);
  ServerProcess& b = node("b", {"a", "b"}, 1, 3000);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  std::vector<int> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(i);
  const auto w0 = std::chrono::steady_clock::now();
  HttpResult w = post_docs(a.port(), ids, 0);
  const double write_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count();
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(Json::parse(w.body)["ingested"], 30);

  for (int i : ids) {
    const bool found = wait_until([&] {
      auto got = search(b.port(), token(i, 0));
      return got && got->count(doc_id(i)) == 1;
    }, 20000);
    ASSERT_TRUE(found) << "document " << i << " not found through node b\nnode a:\n" << a.log() << "\nnode b:\n" << b.log();
  }
  // Both nodes hold documents: the read really crossed nodes.
  EXPECT_GT(stored_documents(a.port()), 0u);
  EXPECT_GT(stored_documents(b.port()), 0u);
  EXPECT_EQ(stored_documents(a.port()) + stored_documents(b.port()), 30u);

  // Figures (one run, loopback, shared machine): a search through the
  // coordinator (4 shards on 2 nodes over HTTP) against one shard's own
  // search on the same node.
  auto p50 = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::vector<double> fanout, direct;
  const std::string q = Json{{"query", "vpn tunnel firewall"}, {"k", 10}, {"mode", "hybrid"}}.dump();
  for (int r = 0; r < 40; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(http_post(b.port(), "/v1/search", q).status, 200);
    auto t1 = std::chrono::steady_clock::now();
    EXPECT_EQ(http_post(b.port(), "/v1/collections/shard-1/search", q).status, 200);
    auto t2 = std::chrono::steady_clock::now();
    fanout.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    direct.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  std::cout << "[ figures ] write of 30 documents acknowledged in " << write_ms << " ms; search p50 through the "
            << "coordinator " << p50(fanout) << " ms, one shard directly " << p50(direct) << " ms\n";

  // A delete through b disappears from searches through a.
  HttpResult d = http_request(b.port(), "DELETE", "/v1/documents/" + doc_id(7));
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_TRUE(wait_until([&] {
    auto got = search(a.port(), token(7, 0));
    return got && got->count(doc_id(7)) == 0;
  }, 20000));

  // With one node down, its shards have no replica: the search fails with
  // 503 rather than answering from half the shards.
  a.kill_hard();
  EXPECT_TRUE(wait_until([&] { return http_post(b.port(), "/v1/search", R"({"query":"vpn","k":5})").status == 503; },
                         10000));

  // Cut off from NATS, a node acknowledges no write: 503 once the publish
  // timeout has passed, naming JetStream.
  for (auto& n : servers_.nats) n->kill_hard();
  const auto t0 = std::chrono::steady_clock::now();
  HttpResult refused = post_docs(b.port(), {50}, 0);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("JetStream did not acknowledge"), std::string::npos) << refused.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(ClusterUnitTest, ShardOfIsStableAndSpreads) {
  // Fixed values: every node and every version must agree forever.
  EXPECT_EQ(cluster::shard_of("INC0012345", 8), cluster::shard_of("INC0012345", 8));
  std::vector<int> counts(8);
  for (int i = 0; i < 8000; ++i) ++counts[cluster::shard_of("doc-" + std::to_string(i), 8)];
  for (int c : counts) EXPECT_NEAR(c, 1000, 150);
}

TEST(ClusterUnitTest, ShardMapIsDealtRoundRobin) {
  auto m = cluster::deal_shard_map({"a", "b", "c"}, 4, 2);
  ASSERT_EQ(m.replicas.size(), 4u);
  EXPECT_EQ(m.replicas[0], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.replicas[2], (std::vector<std::string>{"c", "a"}));
  auto back = cluster::shard_map_from_json(cluster::shard_map_to_json(m), 4);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->replicas, m.replicas);
  EXPECT_FALSE(cluster::shard_map_from_json(cluster::shard_map_to_json(m), 8).is_ok());
  EXPECT_FALSE(cluster::shard_map_from_json("{", 4).is_ok());
}

TEST(ClusterUnitTest, MessagesRoundTripEveryField) {
  cluster::WriteMessage m;
  m.doc.id = "INC1";
  m.doc.title = "VPN drops";
  m.doc.kind = "ticket";
  m.doc.source = "servicenow";
  m.doc.url = "https://x/INC1";
  m.doc.metadata = {{"priority", "2"}, {"group", "net"}};
  m.doc.acl = {"it", "net"};
  m.doc.created_at = 1700000000;
  m.doc.updated_at = 1700000100;
  m.doc.text = "body";
  m.doc.blocks = {Block{{"A", "B"}, "resolution", "restart the tunnel"}};
  auto back = cluster::decode_message(cluster::encode_message(m));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_FALSE(back->remove);
  EXPECT_EQ(Store::content_hash(back->doc), Store::content_hash(m.doc));
  EXPECT_EQ(back->doc.blocks.at(0).section_path, m.doc.blocks[0].section_path);
  cluster::WriteMessage del;
  del.remove = true;
  del.doc.id = "INC2";
  back = cluster::decode_message(cluster::encode_message(del));
  ASSERT_TRUE(back.is_ok());
  EXPECT_TRUE(back->remove);
  EXPECT_EQ(back->doc.id, "INC2");
  // Anything else is refused, never a crash.
  for (const char* bad : {"", "{", "[]", R"({"op":"put","id":"x"})", R"({"op":"zap","id":"x"})",
                          R"({"op":"put","id":"x","title":1})"}) {
    EXPECT_FALSE(cluster::decode_message(bad).is_ok()) << bad;
  }
}

TEST(ClusterUnitTest, ClusterFileErrorsNameFileAndLine) {
  TempDir tmp("cluster-file");
  const fs::path f = tmp.path / "c.toml";
  write_file(f, "node_id = \"a\"\nnats = [\"nats://127.0.0.1:4222\"]\netcd = [\"http://127.0.0.1:2379\"]\n"
                "nodes = [\"a\", \"b\"]\nshards = 4\n");
  auto ok = cluster::read_cluster_options(f);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(ok->shards, 4u);
  EXPECT_EQ(ok->nodes.size(), 2u);
  write_file(f, "node_id = \"a\"\nshardz = 4\n");
  auto bad = cluster::read_cluster_options(f);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("c.toml:2"), std::string::npos) << bad.status().message();
  write_file(f, "node_id = \"a\"\nnats = [\"nats://x\"]\netcd = [\"http://y\"]\nnodes = [\"b\"]\n");
  bad = cluster::read_cluster_options(f);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("must list this node"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace ragd::test
