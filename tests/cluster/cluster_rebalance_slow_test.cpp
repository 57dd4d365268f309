// Rebalancing (cluster/rebalance.h): a fifth node joins a 4-node cluster
// and `ragd cluster rebalance` moves replicas to it while searches and
// writes go on through other nodes. Afterwards no search failed, every
// acknowledged write is on every replica the final map names, each shard's
// replicas hold the same documents, and the old copies are gone. 20-40 s:
// labelled slow.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "cluster/etcd.h"
#include "cluster/jetstream.h"
#include "cluster/options.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

constexpr int kMoveShards = 8;

// The documents (id -> text) of shard `s`'s store on the node at `port`,
// read one by one through its collection's documents route; nullopt when
// the node does not hold the shard (404), or stopped holding it while it
// was read (a retirement). The ids are doc-0..79: a store holding any
// other document, or more than it lists, reads as "<extra documents>".
std::optional<std::map<std::string, std::string>> shard_contents(uint16_t port, uint32_t s) {
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
  std::vector<std::string> urls;
  for (uint16_t p : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(p));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  ASSERT_TRUE(wait_until([&] {
    for (const auto& id : four) {
      HttpResult st = http_get(nodes_[id]->port(), "/v1/stats");
      if (st.status != 200) return false;
      const Json body = Json::parse(st.body);
      for (const auto& sh : body["cluster"]["applying"]) {
        auto last = (*js)->last_sequence("t_S" + std::to_string(sh["shard"].get<uint32_t>()));
        if (!last.is_ok() || sh["applied"].get<uint64_t>() != *last) return false;
      }
    }
    return true;
  }, 20000));

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
  const uint16_t n2_port = nodes_["n2"]->port(), n3_port = nodes_["n3"]->port(), n5_port = n5.port();
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, writes{0};
  std::mutex mu;
  std::vector<std::string> failures;  // guarded by mu
  std::thread searcher([&] {
    for (int n = 0; !done; ++n) {
      const uint16_t port = n % 2 ? n5_port : n2_port;
      const int i = n % 40;
      HttpResult r = http_post(port, "/v1/search", Json{{"query", token(i, 0)}, {"k", 5}, {"mode", "lexical"}}.dump());
      bool found = false;
      if (r.status == 200) {
        const Json body = Json::parse(r.body);
        for (const auto& h : body["hits"]) found = found || h["doc_id"] == doc_id(i);
      }
      ++searches;
      if (!found) {
        std::lock_guard lock(mu);
        failures.push_back("port " + std::to_string(port) + " " + doc_id(i) + ": HTTP " + std::to_string(r.status) +
                           " " + r.body.substr(0, 300));
      }
    }
  });
  std::map<int, int> written;  // guarded by mu: acknowledged while moving
  std::thread writer([&] {
    for (int n = 0; !done; ++n) {
      const int i = 40 + n % 20, version = 1 + (n / 20) % 3;
      HttpResult w = post_docs(n3_port, {i}, version);
      std::lock_guard lock(mu);
      if (w.status == 200 && Json::parse(w.body).value("ingested", 0) == 1) {
        written[i] = version;
        ++writes;
      } else {
        failures.push_back("write " + doc_id(i) + ": HTTP " + std::to_string(w.status) + " " + w.body.substr(0, 300));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

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
  const bool retired = after.is_ok() && wait_until([&] {
    for (uint32_t s = 0; s < kMoveShards; ++s) {
      for (const auto& id : before->replicas[s]) {
        const auto& now = after->replicas[s];
        if (std::find(now.begin(), now.end(), id) != now.end()) continue;
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
  }, 20000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  done = true;
  searcher.join();
  writer.join();

  ASSERT_EQ(rc, 0) << out << "\n" << n5.log();
  EXPECT_NE(out.find("switched"), std::string::npos) << out;
  EXPECT_TRUE(short_of.empty()) << short_of.size() << " documents missing on n5 at the switch, first "
                                << short_of.front();
  EXPECT_TRUE(retired);
  {
    std::lock_guard lock(mu);
    std::string all;
    for (const auto& f : failures) all += f + "\n";
    EXPECT_TRUE(failures.empty()) << failures.size() << " of " << searches << " searches or writes failed:\n" << all;
    std::printf("during the rebalance: %d searches, %d writes acknowledged\n", searches.load(), writes.load());
    EXPECT_GT(searches, 20);
    EXPECT_GT(writes, 20);
    for (const auto& [i, v] : written) latest[i] = v;
  }

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
  for (uint32_t s = 0; s < kMoveShards; ++s) {
    std::map<std::string, std::string> want;
    for (const auto& [i, v] : latest) {
      if (cluster::shard_of(doc_id(i), kMoveShards) == s) want[doc_id(i)] = text_of(i, v);
    }
    for (const auto& [id, p] : nodes_) {
      const auto& r = after->replicas[s];
      const bool holds = std::find(r.begin(), r.end(), id) != r.end();
      std::optional<std::map<std::string, std::string>> have;
      if (holds) {
        EXPECT_TRUE(wait_until([&] { return (have = shard_contents(p->port(), s)) && *have == want; }, 10000))
            << "shard " << s << " on " << id << ": " << (have ? have->size() : 0) << " documents, want "
            << want.size();
      } else {
        EXPECT_FALSE(shard_contents(p->port(), s).has_value()) << "shard " << s << " still on " << id;
      }
    }
  }

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

}  // namespace
}  // namespace ragd::test
