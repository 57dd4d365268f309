// Rebalancing (cluster/rebalance.h): a fifth node joins a 4-node cluster
// and `ragd cluster rebalance` moves replicas to it while searches and
// writes go on through other nodes. Afterwards no search failed, every
// acknowledged write is on every replica the final map names, each shard's
// replicas hold the same documents, and the old copies are gone. 20-40 s:
// labelled slow.
#include <gtest/gtest.h>

#include <thread>

#include "cluster/etcd.h"
#include "cluster/options.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

constexpr int kMoveShards = 8;

TEST_F(ClusterTest, AFifthNodeTakesItsShareWhileSearchesAndWritesGoOn) {
  const std::vector<std::string> four{"n1", "n2", "n3", "n4"};
  for (const auto& id : four) ASSERT_TRUE(node(id, four, 2, 20000, kMoveShards).start(30)) << nodes_[id]->log();
  std::map<int, int> latest;  // acknowledged: doc -> version
  std::vector<int> first;
  for (int i = 0; i < 40; ++i) first.push_back(i);
  ASSERT_EQ(post_docs(nodes_["n1"]->port(), first, 0).status, 200);
  for (int i : first) latest[i] = 0;
  // Every replica has applied them: a search without a consistency token
  // may be answered by any replica, and one still replaying would miss
  // them (eventual consistency, not what this test is about).
  ASSERT_TRUE(wait_until([&] { return level_everywhere(four); }, 20000));

  ServerProcess& n5 = node("n5", {"n1", "n2", "n3", "n4", "n5"}, 2, 20000, kMoveShards);
  ASSERT_TRUE(n5.start(30)) << n5.log();
  auto options = cluster::read_cluster_options(tmp_.path / "n5.toml");
  ASSERT_TRUE(options.is_ok()) << options.status().to_string();
  cluster::Etcd etcd(options->etcd, 5);
  ASSERT_TRUE(wait_until([&] {
    auto live = cluster::read_live_nodes(etcd, *options);
    return live.is_ok() && live->size() == 5;
  }, 10000));
  auto before = cluster::read_shard_map(etcd, *options);
  ASSERT_TRUE(before.is_ok());
  EXPECT_TRUE(before->shards_of("n5").empty());
  const std::string n5_file = (tmp_.path / "n5.toml").string();
  std::string out;
  // A dry run prints the plan and changes nothing.
  ASSERT_EQ(run_ragd({"cluster", "rebalance", "--cluster", n5_file, "--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("would move shard"), std::string::npos) << out;
  EXPECT_EQ(cluster::read_shard_map(etcd, *options)->revision, before->revision);

  // Searches through n2 and n5 (which holds nothing yet, then its share),
  // writes through n3, all through the move.
  const uint16_t n5_port = n5.port();
  Traffic traffic({nodes_["n2"]->port(), n5_port}, nodes_["n3"]->port());

  const int rc = run_ragd({"cluster", "rebalance", "--cluster", n5_file, "--timeout", "90"}, &out);
  auto after = cluster::read_shard_map(etcd, *options);
  // A switch waits for the new replica to catch up: the moment the
  // rebalance returns, n5's shards hold every document written before it
  // began.
  std::vector<std::string> short_of;
  for (uint32_t s : after.is_ok() ? after->shards_of("n5") : std::vector<uint32_t>{}) {
    const auto have = shard_contents(n5_port, s);
    for (int i = 0; i < 40; ++i) {
      if (cluster::shard_of(doc_id(i), kMoveShards) == s && (!have || have->count(doc_id(i)) == 0))
        short_of.push_back(doc_id(i));
    }
  }
  // The old copies retire 3 s (retire_grace_seconds) after their switch,
  // while the searches and writes still run: wait until every node a shard
  // left neither applies it nor has its collection.
  const bool retired =
      after.is_ok() && wait_until([&] { return left_copies_gone(*before, *after, kMoveShards); }, 20000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  traffic.stop();

  ASSERT_EQ(rc, 0) << out << "\n" << n5.log();
  EXPECT_NE(out.find("switched"), std::string::npos) << out;
  EXPECT_TRUE(short_of.empty()) << short_of.size() << " documents missing on n5 at the switch, first "
                                << short_of.front();
  EXPECT_TRUE(retired);
  traffic.expect_no_failures();
  traffic.add_written(latest);

  // The map: 16 replicas over 5 nodes is 3 or 4 each, n5 got its 3, each
  // shard still has 2 distinct replicas, nothing is pending.
  ASSERT_TRUE(after.is_ok()) << after.status().to_string();
  EXPECT_TRUE(after->moves.empty());
  EXPECT_GT(after->revision, before->revision);
  std::map<std::string, size_t> load;
  for (const auto& r : after->replicas) {
    ASSERT_EQ(r.size(), 2u);
    EXPECT_NE(r[0], r[1]);
    for (const auto& n : r) ++load[n];
  }
  EXPECT_EQ(load["n5"], 3u);
  for (const auto& [n, c] : load) EXPECT_TRUE(c == 3 || c == 4) << n << " holds " << c;
  // n5 loaded each of its shards from a peer replica's snapshot (the
  // shards held documents), rather than replaying the streams.
  {
    const Json n5_stats = Json::parse(http_get(n5_port, "/v1/stats").body);
    size_t loaded = 0;
    for (const auto& sh : n5_stats["cluster"]["applying"]) {
      EXPECT_TRUE(sh.contains("snapshot")) << sh;
      if (!sh.contains("snapshot")) continue;
      const auto& was = before->replicas[sh["shard"].get<uint32_t>()];
      EXPECT_NE(std::find(was.begin(), was.end(), sh["snapshot"]["from"].get<std::string>()), was.end()) << sh;
      ++loaded;
    }
    EXPECT_EQ(loaded, 3u) << n5_stats["cluster"];
  }

  // Every replica the map names holds exactly the acknowledged documents
  // of its shard (the last version of each); the nodes a shard left hold
  // no copy of it.
  expect_map_holds(*after, latest, kMoveShards);

  // Nothing more to move; the cluster's status is all well.
  EXPECT_EQ(run_ragd({"cluster", "rebalance", "--cluster", n5_file}, &out), 0) << out;
  EXPECT_NE(out.find("balanced"), std::string::npos) << out;
  EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "n1.toml").string()}, &out), 0) << out;

  // Draining n5 moves its three replicas back: it ends with none, every
  // shard's two replicas still hold its documents.
  ASSERT_EQ(run_ragd({"cluster", "rebalance", "--cluster", n5_file, "--drain", "n5", "--timeout", "90"}, &out), 0)
      << out;
  auto drained = cluster::read_shard_map(etcd, *options);
  ASSERT_TRUE(drained.is_ok());
  EXPECT_TRUE(drained->shards_of("n5").empty());
  for (uint32_t s = 0; s < kMoveShards; ++s) {
    ASSERT_EQ(drained->replicas[s].size(), 2u);
    for (const auto& id : drained->replicas[s]) {
      std::optional<std::map<std::string, std::string>> have;
      EXPECT_TRUE(wait_until([&] { return (have = shard_contents(nodes_[id]->port(), s)).has_value(); }, 10000));
      size_t want = 0;
      for (const auto& [i, v] : latest) want += cluster::shard_of(doc_id(i), kMoveShards) == s ? 1 : 0;
      EXPECT_EQ(have ? have->size() : 0, want) << "shard " << s << " on " << id;  // an extra one counts too
    }
  }
  EXPECT_TRUE(wait_until([&] {
    for (uint32_t s = 0; s < kMoveShards; ++s) {
      if (shard_contents(n5_port, s)) return false;
    }
    return true;
  }, 20000)) << "n5 still holds a shard after the grace";
}

// An operator's rebalance that drains a node which is down (killed, its
// lease gone) moves its replicas to the live nodes and deletes its durable
// consumers, which would otherwise stay on the NATS servers until it came
// back; the live nodes' consumers stay.
TEST_F(ClusterTest, ARebalanceDrainingADownNodeDeletesItsConsumers) {
  const std::vector<std::string> three{"n1", "n2", "n3"};
  for (const auto& id : three) ASSERT_TRUE(node(id, three, 2).start(30)) << nodes_[id]->log();
  ASSERT_EQ(post_docs(nodes_["n1"]->port(), {0, 1, 2, 3, 4, 5, 6, 7}, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return level_everywhere(three); }, 20000));
  auto options = cluster::read_cluster_options(tmp_.path / "n1.toml");
  ASSERT_TRUE(options.is_ok()) << options.status().to_string();
  cluster::Etcd etcd(options->etcd, 5);
  auto before = cluster::read_shard_map(etcd, *options);
  ASSERT_TRUE(before.is_ok());
  const std::vector<uint32_t> held = before->shards_of("n3");
  ASSERT_FALSE(held.empty());
  for (uint32_t s : held) ASSERT_TRUE(has_consumer(s, "n3")) << "shard " << s;

  nodes_["n3"]->kill_hard();
  ASSERT_TRUE(wait_until([&] {
    auto live = cluster::read_live_nodes(etcd, *options);
    return live.is_ok() && live->size() == 2;
  }, 15000));
  std::string out;
  ASSERT_EQ(run_ragd({"cluster", "rebalance", "--cluster", (tmp_.path / "n1.toml").string(), "--drain", "n3",
                      "--timeout", "60"},
                     &out),
            0)
      << out;
  EXPECT_NE(out.find("deleted n3's consumer of shard"), std::string::npos) << out;
  auto after = cluster::read_shard_map(etcd, *options);
  ASSERT_TRUE(after.is_ok());
  EXPECT_TRUE(after->shards_of("n3").empty()) << cluster::shard_map_to_json(*after);
  for (uint32_t s : held) EXPECT_FALSE(has_consumer(s, "n3")) << "n3's consumer of shard " << s << " stayed";
  for (uint32_t s = 0; s < after->replicas.size(); ++s) {
    for (const auto& n : after->replicas[s]) EXPECT_TRUE(has_consumer(s, n)) << n << " on shard " << s;
  }
}

}  // namespace
}  // namespace ragd::test
