// Automatic rebalancing (cluster/auto_rebalance.h): with auto_rebalance on,
// the nodes give a fifth node its share on their own, and make the replicas
// of a node killed for good again on the others after dead_after_seconds,
// while searches and writes go on; a node back within that time moves
// nothing. Labelled slow (25-40 s each).
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "cluster/etcd.h"
#include "cluster/options.h"
#include "cluster/rebalance.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/cluster/tcp_proxy.h"

namespace ragd::test {
namespace {

constexpr int kDeadAfterSeconds = 6;
// Below dead_after_seconds, as it must be (check_cluster_options).
constexpr int kAbsenceWatchSeconds = 5;

class ClusterAutoRebalanceTest : public ClusterTest {
 protected:
  void SetUp() override {
    servers_.cluster_file_extra = "auto_rebalance = true\ndead_after_seconds = " +
                                  std::to_string(kDeadAfterSeconds) +
                                  "\nabsence_watch_seconds = " + std::to_string(kAbsenceWatchSeconds) + "\n";
    ClusterTest::SetUp();
  }

  // Starts `ids` (of `nodes`), writes doc-0..39 through the first and waits
  // until every node applied them; the etcd client and the options for the
  // map. `etcd_through`: node id -> the port of a proxy that node reaches
  // etcd through (its cluster file names the proxy instead of the member).
  void start_cluster(const std::vector<std::string>& ids, int shards,
                     const std::map<std::string, uint16_t>& etcd_through = {}) {
    for (const auto& id : ids) {
      ServerProcess& p = node(id, ids, 2, 20000, shards);
      if (auto proxy = etcd_through.find(id); proxy != etcd_through.end()) {
        const fs::path file = tmp_.path / (id + ".toml");
        std::string text = read_file(file);
        const std::string member = "\"http://127.0.0.1:" + std::to_string(servers_.etcd_port) + "\"";
        const size_t at = text.find(member);
        ASSERT_NE(at, std::string::npos) << text;
        text.replace(at, member.size(), "\"http://127.0.0.1:" + std::to_string(proxy->second) + "\"");
        write_file(file, text);
      }
      ASSERT_TRUE(p.start(30)) << p.log();
    }
    std::vector<int> first;
    for (int i = 0; i < 40; ++i) first.push_back(i);
    ASSERT_EQ(post_docs(nodes_[ids[0]]->port(), first, 0).status, 200);
    for (int i : first) latest_[i] = 0;
    ASSERT_TRUE(wait_until([&] { return level_everywhere(ids); }, 20000));
    auto o = cluster::read_cluster_options(tmp_.path / (ids[0] + ".toml"));
    ASSERT_TRUE(o.is_ok()) << o.status().to_string();
    options_ = *o;
    etcd_ = std::make_unique<cluster::Etcd>(options_.etcd, 5);
  }

  cluster::ShardMap map() {
    auto m = cluster::read_shard_map(*etcd_, options_);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    return m.is_ok() ? *m : cluster::ShardMap{};
  }

  // No moves pending, nobody holds the rebalance lock, and `done(map)`.
  bool settled(const std::function<bool(const cluster::ShardMap&)>& done) {
    auto m = cluster::read_shard_map(*etcd_, options_);
    auto st = cluster::read_rebalance_state(*etcd_, options_);
    return m.is_ok() && st.is_ok() && m->moves.empty() && !st->lock && done(*m);
  }

  // Waits up to `ms` until the map has settled with every shard on two
  // replicas, none of them on `gone`.
  bool settled_without(const std::string& gone, int ms) {
    return wait_until([&] {
      return settled([&](const cluster::ShardMap& m) {
        for (const auto& r : m.replicas) {
          if (r.size() != 2 || std::find(r.begin(), r.end(), gone) != r.end()) return false;
        }
        return true;
      });
    }, ms);
  }

  // The reasons the nodes of `ids` give in /v1/stats for an automatic
  // rebalance they run or ran, joined; the moves they switched.
  std::string reasons(const std::vector<std::string>& ids, uint64_t* switched = nullptr) {
    std::string out;
    for (const auto& id : ids) {
      HttpResult st = http_get(nodes_[id]->port(), "/v1/stats");
      if (st.status != 200) continue;
      const Json ar = Json::parse(st.body)["cluster"].value("auto_rebalance", Json::object());
      if (!ar.value("reason", "").empty()) out += id + ": " + ar.value("reason", "") + "\n";
      if (switched) *switched += ar.value("switched", uint64_t{0});
    }
    return out;
  }

  // Waits up to 10 s for node `gone`'s absence record in etcd; its key and
  // value.
  std::optional<cluster::EtcdKeyValue> absence_record(const std::string& gone) {
    std::optional<cluster::EtcdKeyValue> record;
    wait_until([&] {
      auto got = etcd_->get(cluster::absent_key(options_, gone));
      if (got.is_ok()) record = *got;
      return record.has_value();
    }, 10000);
    return record;
  }

  // Starts `ids` (stopped) side by side, as a cluster started again at
  // once; returns when every one is up.
  void start_together(const std::vector<std::string>& ids) {
    std::vector<std::thread> starts;
    std::vector<char> started(ids.size(), 0);
    for (size_t k = 0; k < ids.size(); ++k) {
      starts.emplace_back([&, k] { started[k] = nodes_.at(ids[k])->start(30) ? 1 : 0; });
    }
    for (auto& t : starts) t.join();
    for (size_t k = 0; k < ids.size(); ++k) ASSERT_TRUE(started[k]) << nodes_[ids[k]]->log();
  }

  // Whether node `id`'s /v1/stats calls node `gone` dead; `seen`: its
  // automatic rebalancer's state as last read.
  bool calls_dead(const std::string& id, const std::string& gone, Json& seen) {
    HttpResult st = http_get(nodes_[id]->port(), "/v1/stats");
    if (st.status != 200) return false;
    seen = Json::parse(st.body)["cluster"].value("auto_rebalance", Json::object());
    for (const auto& d : seen.value("dead", Json::array())) {
      if (d == gone) return true;
    }
    return false;
  }

  std::map<int, int> latest_;  // acknowledged: doc -> version
  cluster::ClusterOptions options_;
  std::unique_ptr<cluster::Etcd> etcd_;
};

size_t count_of(const cluster::ShardMap& m, const std::string& node) { return m.shards_of(node).size(); }

TEST_F(ClusterAutoRebalanceTest, AFifthNodeGetsItsShareWithNoOperator) {
  constexpr int kMoveShards = 8;
  const std::vector<std::string> four{"n1", "n2", "n3", "n4"};
  ASSERT_NO_FATAL_FAILURE(start_cluster(four, kMoveShards));
  const cluster::ShardMap before = map();
  // Balanced: nothing moves on its own.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(map().revision, before.revision);

  Traffic traffic({nodes_["n2"]->port(), nodes_["n1"]->port()}, nodes_["n3"]->port());
  ServerProcess& n5 = node("n5", {"n1", "n2", "n3", "n4", "n5"}, 2, 20000, kMoveShards);
  ASSERT_TRUE(n5.start(30)) << n5.log();
  // While it runs, `ragd cluster status` says so, and an operator's run
  // waits for its lock, then finds nothing to move.
  std::string status_out, manual_out;
  int manual_rc = -1;
  std::thread manual;
  bool seen_running = false;
  const bool balanced = wait_until([&] {
    if (!seen_running) {
      auto st = cluster::read_rebalance_state(*etcd_, options_);
      if (st.is_ok() && st->lock) {
        seen_running = true;
        EXPECT_TRUE(st->lock->automatic);
        manual = std::thread([&] {
          manual_rc = run_ragd({"cluster", "rebalance", "--cluster", (tmp_.path / "n5.toml").string(), "--timeout",
                                "60"},
                               &manual_out);
        });
        run_ragd({"cluster", "status", "--cluster", (tmp_.path / "n1.toml").string()}, &status_out);
      }
    }
    return settled([](const cluster::ShardMap& m) { return count_of(m, "n5") == 3; });
  }, 40000);
  if (manual.joinable()) manual.join();
  const cluster::ShardMap after = map();
  const bool retired = wait_until([&] { return left_copies_gone(before, after, kMoveShards); }, 20000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  traffic.stop();

  ASSERT_TRUE(balanced) << "n5 holds " << count_of(map(), "n5") << " replicas; logs:\n" << nodes_["n1"]->log();
  EXPECT_TRUE(retired);
  traffic.expect_no_failures();
  traffic.add_written(latest_);
  EXPECT_TRUE(seen_running);
  EXPECT_NE(status_out.find("rebalance: running, automatic, on node "), std::string::npos) << status_out;
  EXPECT_NE(status_out.find("node n5 joined"), std::string::npos) << status_out;
  // Which node ran it says why, and counts the three moves it switched.
  uint64_t switched = 0;
  const std::string why = reasons({"n1", "n2", "n3", "n4", "n5"}, &switched);
  EXPECT_NE(why.find("node n5 joined: holds 0 replica(s), its share is 3"), std::string::npos) << why;
  EXPECT_EQ(switched, 3u) << why;
  double switched_metric = 0;
  for (const auto& [id, p] : nodes_) {
    switched_metric += total(series(p->port(), "ragd_cluster_auto_rebalance_moves_total"));
  }
  EXPECT_EQ(switched_metric, 3.0);
  std::string logs;
  for (const auto& id : four) logs += nodes_[id]->log();
  EXPECT_NE(logs.find("automatic rebalance: switched shard"), std::string::npos);

  // 16 replicas over 5 nodes: 3 or 4 each; two distinct replicas a shard.
  std::map<std::string, size_t> load;
  for (const auto& r : after.replicas) {
    ASSERT_EQ(r.size(), 2u);
    EXPECT_NE(r[0], r[1]);
    for (const auto& n : r) ++load[n];
  }
  for (const auto& [n, c] : load) EXPECT_TRUE(c == 3 || c == 4) << n << " holds " << c;
  expect_map_holds(after, latest_, kMoveShards);

  EXPECT_EQ(manual_rc, 0) << manual_out;
  EXPECT_NE(manual_out.find("waiting for the rebalance lock, held by "), std::string::npos) << manual_out;
  EXPECT_NE(manual_out.find("(automatic: node n5 joined"), std::string::npos) << manual_out;
  EXPECT_NE(manual_out.find("balanced: nothing to move"), std::string::npos) << manual_out;
  EXPECT_EQ(manual_out.find("planned"), std::string::npos) << manual_out;
}

TEST_F(ClusterAutoRebalanceTest, ADeadNodesReplicasAreMadeAgainAndARestartMovesNothing) {
  const std::vector<std::string> four{"n1", "n2", "n3", "n4"};
  ASSERT_NO_FATAL_FAILURE(start_cluster(four, kShards));
  const cluster::ShardMap before = map();

  // n4 killed, its lease expired (2 s), and back within
  // dead_after_seconds: nothing moves.
  const auto killed_at = std::chrono::steady_clock::now();
  nodes_["n4"]->kill_hard();
  ASSERT_TRUE(wait_until([&] {
    auto live = cluster::read_live_nodes(*etcd_, options_);
    return live.is_ok() && live->count("n4") == 0;
  }, 5000));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // seen absent by the others' looks (every 2 s)
  ASSERT_TRUE(nodes_["n4"]->start(30)) << nodes_["n4"]->log();
  ASSERT_LT(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(kDeadAfterSeconds));
  std::this_thread::sleep_until(killed_at + std::chrono::seconds(kDeadAfterSeconds + 3));
  EXPECT_EQ(map().revision, before.revision) << reasons(four);

  // n3 killed for good, with searches and writes going on through n1 and n2.
  Traffic traffic({nodes_["n1"]->port(), nodes_["n2"]->port()}, nodes_["n1"]->port());
  ASSERT_FALSE(before.shards_of("n3").empty());
  nodes_["n3"]->kill_hard();
  const auto dead_at = std::chrono::steady_clock::now();
  const bool replaced = settled_without("n3", 40000);
  const auto replaced_after = std::chrono::steady_clock::now() - dead_at;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  traffic.stop();
  const cluster::ShardMap after = map();
  ASSERT_TRUE(replaced) << "the map still names n3: " << cluster::shard_map_to_json(after) << "\n"
                        << reasons({"n1", "n2", "n4"});
  // Not before dead_after_seconds.
  EXPECT_GE(replaced_after, std::chrono::seconds(kDeadAfterSeconds));
  traffic.expect_no_failures();
  traffic.add_written(latest_);
  const std::string why = reasons({"n1", "n2", "n4"});
  EXPECT_NE(why.find("node n3 dead (no lease for "), std::string::npos) << why;
  // Every shard back to two live replicas holding every acknowledged
  // document once, its last version.
  expect_map_holds(after, latest_, kShards, {"n3"});
  // The rebalancer deleted n3's durable consumers of the shards it moved;
  // the live replicas' stay.
  const std::vector<uint32_t> held_by_n3 = before.shards_of("n3");
  for (uint32_t s : held_by_n3) {
    EXPECT_FALSE(has_consumer(s, "n3")) << "n3's consumer of shard " << s << " is still on the NATS servers";
    for (const auto& n : after.replicas[s]) EXPECT_TRUE(has_consumer(s, n)) << n << " on shard " << s;
  }
  const std::string driver_logs = nodes_["n1"]->log() + nodes_["n2"]->log() + nodes_["n4"]->log();
  EXPECT_NE(driver_logs.find("automatic rebalance: deleted n3's consumer of shard"), std::string::npos);

  // n3 comes back: the map gives it nothing of what it held, so it deletes
  // its stale copies; then, a live node below its share, it gets a share
  // again, loaded afresh.
  ASSERT_TRUE(nodes_["n3"]->start(30)) << nodes_["n3"]->log();
  EXPECT_TRUE(wait_until([&] {
    return nodes_["n3"]->log().find("deleted the copy of shard") != std::string::npos;
  }, 10000)) << nodes_["n3"]->log();
  {
    // It made no consumer for a shard the map (read after the consumers)
    // does not give it: only for shards coming to it again.
    std::set<uint32_t> consumed;
    for (uint32_t s = 0; s < kShards; ++s) {
      if (has_consumer(s, "n3")) consumed.insert(s);
    }
    const std::vector<uint32_t> given = map().shards_of("n3");
    for (uint32_t s : consumed) {
      EXPECT_NE(std::find(given.begin(), given.end(), s), given.end()) << "n3 made a consumer of shard " << s;
    }
  }
  const bool rebalanced = wait_until([&] {
    return settled([](const cluster::ShardMap& m) { return count_of(m, "n3") == 2; });
  }, 40000);
  ASSERT_TRUE(rebalanced) << cluster::shard_map_to_json(map());
  const cluster::ShardMap last = map();
  EXPECT_TRUE(wait_until([&] { return left_copies_gone(after, last, kShards); }, 20000));
  expect_map_holds(last, latest_, kShards);
  // Back, n3 has consumers of the shards it holds now, and of no other.
  const std::vector<uint32_t> now_n3 = last.shards_of("n3");
  for (uint32_t s = 0; s < kShards; ++s) {
    const bool holds = std::find(now_n3.begin(), now_n3.end(), s) != now_n3.end();
    EXPECT_EQ(has_consumer(s, "n3"), holds) << "shard " << s;
  }
}

// A node's absence counts from one moment every node agrees on
// (cluster/README.md, "Rebalancing"): the first node to see n4's lease go
// records it in etcd with a timer of dead_after_seconds. The test holds
// the rebalance lock (as an operator's run would) while n4 is killed, and
// once the record is there, kills and restarts n1, n2 and n3, the only
// nodes that could drive (keeping the absences watched meanwhile, as a
// node left running would): each starts with no memory of n4. They must
// still call n4 dead dead_after_seconds after the record, not that long
// after their own start; and once the test lets the lock go, the node that
// takes it over moves n4's replicas at once. (Counting from each node's
// own sighting, n1 called n4 dead 8 s after its restart, 14.5 s after the
// kill: the test fails.) About 25 s.
TEST_F(ClusterAutoRebalanceTest, AnAbsenceCountsFromWhenTheLeaseWentWhoeverTakesTheLockOver) {
  const std::vector<std::string> four{"n1", "n2", "n3", "n4"};
  ASSERT_NO_FATAL_FAILURE(start_cluster(four, kShards));
  const std::vector<std::string> drivers{"n1", "n2", "n3"};
  auto lease = etcd_->lease_grant(120);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  const std::string held = cluster::rebalance_lock_to_json({"cli-test", false, "the test holds it", "t"});
  auto put = etcd_->put_if_absent(cluster::rebalance_lock_key(options_), held, *lease);
  ASSERT_TRUE(put.is_ok() && *put == held);

  const auto killed_at = std::chrono::steady_clock::now();
  nodes_["n4"]->kill_hard();
  const std::string absent = cluster::absent_key(options_, "n4");
  const std::optional<cluster::EtcdKeyValue> record = absence_record("n4");
  ASSERT_TRUE(record.has_value()) << "no absence record for n4";
  const auto recorded_at = std::chrono::steady_clock::now();
  const Json rec = Json::parse(record->value, nullptr, false);
  ASSERT_TRUE(rec.is_object()) << record->value;
  EXPECT_NE(std::find(drivers.begin(), drivers.end(), rec.value("by", "")), drivers.end()) << record->value;
  std::printf("n4's absence recorded %.2f s after the kill: %s\n",
              std::chrono::duration<double>(recorded_at - killed_at).count(), record->value.c_str());

  // Every node that could drive starts afresh. While they are down the
  // test watches the absences, as a node left running would: their restart
  // takes longer than absence_watch_seconds, and unwatched for that long
  // n4's absence would count again from their return (as it must after a
  // whole cluster was down: AbsencesCountAgainAfterTheWholeClusterWasDown).
  std::this_thread::sleep_for(std::chrono::seconds(4));
  for (const auto& id : drivers) nodes_[id]->kill_hard();
  ASSERT_TRUE(etcd_->put(cluster::absent_watch_key(options_), "test", *lease).is_ok());
  ASSERT_NO_FATAL_FAILURE(start_together(drivers));
  const auto restarted_at = std::chrono::steady_clock::now();
  // The record outlived them, the same one.
  auto again = etcd_->get(absent);
  ASSERT_TRUE(again.is_ok() && again->has_value());
  EXPECT_EQ((*again)->value, record->value);

  // n1 calls n4 dead once the record is dead_after_seconds old (at its
  // next look, every 2 s), not dead_after_seconds after its own start.
  Json seen;
  ASSERT_TRUE(wait_until([&] { return calls_dead("n1", "n4", seen); }, 20000)) << seen.dump();
  const auto dead_seen_at = std::chrono::steady_clock::now();
  const auto due = std::max(restarted_at, recorded_at + std::chrono::seconds(kDeadAfterSeconds));
  std::printf("n4 dead on n1 %.2f s after the kill, %.2f s after the record, %.2f s after n1-n3 restarted\n",
              std::chrono::duration<double>(dead_seen_at - killed_at).count(),
              std::chrono::duration<double>(dead_seen_at - recorded_at).count(),
              std::chrono::duration<double>(dead_seen_at - restarted_at).count());
  EXPECT_GE(dead_seen_at - killed_at, std::chrono::seconds(kDeadAfterSeconds));
  EXPECT_LT(dead_seen_at - due, std::chrono::milliseconds(3500));

  // The lock goes: a node takes it over and moves n4's replicas at once.
  ASSERT_TRUE(etcd_->lease_revoke(*lease).is_ok());
  const auto released_at = std::chrono::steady_clock::now();
  std::string taken_by, why;
  EXPECT_TRUE(wait_until([&] {
    auto st = cluster::read_rebalance_state(*etcd_, options_);
    if (!st.is_ok() || !st->lock) return false;
    taken_by = st->lock->by;
    why = st->lock->reason;
    return st->lock->automatic;
  }, 4000)) << reasons(drivers);
  std::printf("the lock taken over by %s %.2f s after the test let it go: %s\n", taken_by.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - released_at).count(), why.c_str());
  EXPECT_NE(why.find("node n4 dead"), std::string::npos) << why;
  ASSERT_TRUE(settled_without("n4", 40000)) << cluster::shard_map_to_json(map()) << "\n" << reasons(drivers);
  expect_map_holds(map(), latest_, kShards, {"n4"});
  // Out of the map, its absence ends: the record goes.
  EXPECT_TRUE(wait_until([&] {
    auto got = etcd_->get(absent);
    return got.is_ok() && !got->has_value();
  }, 8000));
}

// A whole cluster restarted (cluster/README.md, "Rebalancing"): n4 is
// killed and its absence recorded; then n1-n3 are killed too and stay
// down until n4's timer has expired and nobody has watched the absences
// for absence_watch_seconds (5 s). n1-n3 come back, n4 does not: n4
// must not be called dead at once (its timer ran while no node could have
// seen it come back), but dead_after_seconds after the restart, from a
// fresh record. (With the records counting regardless, n1 called n4 dead
// at its first look and moved its replicas: the test fails.) About 40 s.
TEST_F(ClusterAutoRebalanceTest, AbsencesCountAgainAfterTheWholeClusterWasDown) {
  const std::vector<std::string> four{"n1", "n2", "n3", "n4"};
  ASSERT_NO_FATAL_FAILURE(start_cluster(four, kShards));
  const std::vector<std::string> drivers{"n1", "n2", "n3"};
  // Put at each look (every 2 s) of every node.
  ASSERT_TRUE(wait_until([&] {
    auto watch = etcd_->get(cluster::absent_watch_key(options_));
    return watch.is_ok() && watch->has_value();
  }, 8000)) << "nobody puts " << cluster::absent_watch_key(options_);
  nodes_["n4"]->kill_hard();
  const std::string absent = cluster::absent_key(options_, "n4");
  const std::optional<cluster::EtcdKeyValue> record = absence_record("n4");
  ASSERT_TRUE(record.has_value()) << "no absence record for n4";
  ASSERT_TRUE(cluster::absence_from_json(record->value).has_value()) << record->value;
  const auto recorded_at = std::chrono::steady_clock::now();
  for (const auto& id : drivers) nodes_[id]->kill_hard();
  const auto down_at = std::chrono::steady_clock::now();
  // Until the watch key's lease (kAbsenceWatchSeconds, renewed at each
  // look) has gone and n4's timer (kDeadAfterSeconds) expired.
  ASSERT_TRUE(wait_until([&] {
    auto watch = etcd_->get(cluster::absent_watch_key(options_));
    return watch.is_ok() && !watch->has_value();
  }, 20000)) << "the watch key outlived every node";
  std::this_thread::sleep_until(std::max(std::chrono::steady_clock::now(),
                                         recorded_at + std::chrono::seconds(kDeadAfterSeconds + 1)));
  std::printf("the cluster down for %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - down_at).count());
  const cluster::ShardMap before = map();

  ASSERT_NO_FATAL_FAILURE(start_together(drivers));
  const auto restarted_at = std::chrono::steady_clock::now();

  // Not dead before dead_after_seconds from the restart (less a look).
  bool dead_early = false;
  Json seen;
  while (std::chrono::steady_clock::now() < restarted_at + std::chrono::seconds(kDeadAfterSeconds - 2)) {
    for (const auto& id : drivers) dead_early = calls_dead(id, "n4", seen) || dead_early;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_FALSE(dead_early) << "n4 called dead within " << kDeadAfterSeconds - 2 << " s of the restart: "
                           << seen.dump();
  EXPECT_EQ(map().revision, before.revision) << reasons(drivers);
  // A fresh record, then dead once it is dead_after_seconds old.
  auto again = etcd_->get(absent);
  ASSERT_TRUE(again.is_ok() && again->has_value());
  EXPECT_NE((*again)->value, record->value);
  EXPECT_TRUE(wait_until([&] { return calls_dead("n1", "n4", seen); }, 15000)) << seen.dump();
  std::printf("n4 dead on n1 %.2f s after the restart\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - restarted_at).count());
}

// A node cut off from etcd alone while it keeps running (cluster/README.md,
// "Partitions"): n3 reaches etcd through a proxy the test cuts (its
// connections held open and silent), NATS and the other nodes still. n3
// says so, keeps acknowledging writes (JetStream makes them durable) and
// answering searches; the others count it dead, make its replicas again
// and delete its consumers; n3 does not make them again while it cannot
// read the map, and a search through it finds documents written since
// (never its stopped copies' answer alone). Back in touch, it reads the new
// map, retires its stale copies and gets a share again; every
// acknowledged document is on every replica once. 40-60 s.
TEST_F(ClusterAutoRebalanceTest, ANodeCutOffFromEtcdAloneLosesItsReplicasAndRetiresThemWhenBack) {
  const std::vector<std::string> three{"n1", "n2", "n3"};
  TcpProxy proxy(servers_.etcd_port);
  ASSERT_NO_FATAL_FAILURE(start_cluster(three, kShards, {{"n3", proxy.port()}}));
  const cluster::ShardMap before = map();
  const std::vector<uint32_t> held_by_n3 = before.shards_of("n3");
  ASSERT_FALSE(held_by_n3.empty());
  ServerProcess& n3 = *nodes_["n3"];

  // Searches through every node, writes through n3, all along.
  Traffic traffic({nodes_["n1"]->port(), nodes_["n2"]->port(), n3.port()}, n3.port());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  proxy.cut();
  const auto cut_at = std::chrono::steady_clock::now();

  // n3 says so: etcd unreachable, its lease lapsed; writes still accepted.
  Json health, stats;
  EXPECT_TRUE(wait_until([&] {
    health = Json::parse(http_get(n3.port(), "/healthz").body);
    return health["cluster"]["etcd"] == "unreachable" && health["cluster"]["lease"] == "lapsed";
  }, 20000)) << health.dump();
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_EQ(health["cluster"]["writes"], "accepted");
  EXPECT_EQ(health["cluster"]["nats"], "connected");
  EXPECT_TRUE(wait_until([&] {
    stats = Json::parse(http_get(n3.port(), "/v1/stats").body)["cluster"];
    return stats.value("etcd", "") == "unreachable" && stats.value("lease", "") == "lapsed";
  }, 20000)) << stats.dump();

  // The others count it dead after dead_after_seconds: its replicas made
  // again on n1 and n2, its consumers deleted.
  const bool replaced = settled_without("n3", 40000);
  const auto replaced_after = std::chrono::steady_clock::now() - cut_at;
  ASSERT_TRUE(replaced) << cluster::shard_map_to_json(map()) << "\n" << reasons({"n1", "n2"});
  EXPECT_GE(replaced_after, std::chrono::seconds(kDeadAfterSeconds));
  for (uint32_t s : held_by_n3) EXPECT_FALSE(has_consumer(s, "n3")) << "shard " << s;

  // New documents through n1, on every shard: n3's copies stay where the
  // deletion left them, say so, and do not make their consumers again; a
  // search through n3 finds each new document.
  std::vector<int> fresh;
  std::set<uint32_t> written;
  for (int i = 60; i < 70; ++i) {
    fresh.push_back(i);
    written.insert(cluster::shard_of(doc_id(i), kShards));
    latest_[i] = 0;
  }
  ASSERT_EQ(post_docs(nodes_["n1"]->port(), fresh, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return level_everywhere({"n1", "n2"}); }, 20000));
  EXPECT_TRUE(wait_until([&] {
    stats = Json::parse(http_get(n3.port(), "/v1/stats").body)["cluster"];
    for (uint32_t s : held_by_n3) {
      if (!written.count(s)) continue;
      bool said = false;
      for (const auto& sh : stats["applying"]) said = said || (sh["shard"] == s && sh.value("consumer", "") == "deleted");
      if (!said) return false;
    }
    return true;
  }, 15000)) << stats.dump();
  for (int i : fresh) {
    auto got = search(n3.port(), token(i, 0));
    ASSERT_TRUE(got.has_value()) << doc_id(i);
    EXPECT_EQ(got->count(doc_id(i)), 1u) << doc_id(i) << " not found through n3";
  }
  for (uint32_t s : held_by_n3) EXPECT_FALSE(has_consumer(s, "n3")) << "n3 made its consumer of shard " << s << " again";
  EXPECT_NE(n3.log().find("applies nothing past sequence"), std::string::npos);

  // Back in touch: n3 retires its stale copies and gets a share again.
  proxy.restore();
  const bool rebalanced = wait_until([&] {
    return settled([](const cluster::ShardMap& m) { return count_of(m, "n3") >= 2; });
  }, 40000);
  const cluster::ShardMap last = map();
  const bool retired = wait_until([&] { return left_copies_gone(before, last, kShards); }, 20000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  traffic.stop();
  ASSERT_TRUE(rebalanced) << cluster::shard_map_to_json(last) << "\n" << reasons(three);
  EXPECT_TRUE(retired) << n3.log();
  traffic.expect_no_failures();
  traffic.add_written(latest_);
  expect_map_holds(last, latest_, kShards);
  const std::vector<uint32_t> now_n3 = last.shards_of("n3");
  for (uint32_t s = 0; s < kShards; ++s) {
    const bool holds = std::find(now_n3.begin(), now_n3.end(), s) != now_n3.end();
    EXPECT_EQ(has_consumer(s, "n3"), holds) << "shard " << s;
  }
  EXPECT_TRUE(wait_until([&] { return Json::parse(http_get(n3.port(), "/healthz").body)["status"] == "ok"; }, 10000));
}

// Three etcd members, and the leader among them killed (SIGKILL) while an
// automatic rebalance moves replicas to a fourth node, with searches and
// writes going on: the run goes on with the other two members (or the next
// driver resumes its moves), n4 gets its share, no replica is lost and
// every replica holds the acknowledged documents. 20-30 s.
class ClusterAutoRebalanceEtcdTest : public ClusterAutoRebalanceTest {
 protected:
  size_t etcd_members() const override { return 3; }

  // The index of the member that leads the etcd cluster; -1 when none says so.
  int etcd_leader() {
    for (size_t i = 0; i < servers_.etcd_ports.size(); ++i) {
      auto st = etcd_->member_status("http://127.0.0.1:" + std::to_string(servers_.etcd_ports[i]));
      if (st.is_ok() && !st->member_id.empty() && st->member_id == st->leader_id) return static_cast<int>(i);
    }
    return -1;
  }
};

TEST_F(ClusterAutoRebalanceEtcdTest, AnEtcdLeaderKilledDuringAnAutomaticRebalance) {
  const std::vector<std::string> three{"n1", "n2", "n3"};
  ASSERT_NO_FATAL_FAILURE(start_cluster(three, kShards));
  const cluster::ShardMap before = map();
  Traffic traffic({nodes_["n1"]->port(), nodes_["n2"]->port()}, nodes_["n3"]->port());
  ServerProcess& n4 = node("n4", {"n1", "n2", "n3", "n4"}, 2, 20000, kShards);
  ASSERT_TRUE(n4.start(30)) << n4.log();
  // A run holds the lock with moves pending: the leader goes.
  ASSERT_TRUE(wait_until([&] {
    auto st = cluster::read_rebalance_state(*etcd_, options_);
    auto m = cluster::read_shard_map(*etcd_, options_);
    return st.is_ok() && st->lock && m.is_ok() && !m->moves.empty();
  }, 30000)) << reasons(three);
  const int leader = etcd_leader();
  ASSERT_GE(leader, 0);
  servers_.etcd[static_cast<size_t>(leader)]->kill_hard();
  std::printf("killed etcd member e%d, the leader\n", leader);

  const bool balanced = wait_until([&] {
    return settled([](const cluster::ShardMap& m) { return count_of(m, "n4") == 2; });
  }, 40000);
  const cluster::ShardMap after = map();
  const bool retired = wait_until([&] { return left_copies_gone(before, after, kShards); }, 20000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  traffic.stop();
  ASSERT_TRUE(balanced) << cluster::shard_map_to_json(after) << "\n" << reasons({"n1", "n2", "n3", "n4"});
  EXPECT_TRUE(retired);
  traffic.expect_no_failures();
  traffic.add_written(latest_);
  for (const auto& r : after.replicas) EXPECT_EQ(r.size(), 2u);
  expect_map_holds(after, latest_, kShards);
  uint64_t switched = 0;
  reasons({"n1", "n2", "n3", "n4"}, &switched);
  EXPECT_EQ(switched, 2u);
}

// The operator's side: a run waits for the lock an automatic one holds;
// --cancel pauses the automatic rebalancers (nothing moves while paused)
// until an operator's run ends.
TEST_F(ClusterAutoRebalanceTest, AnOperatorsCancelPausesTheAutomaticRebalancer) {
  const std::vector<std::string> three{"n1", "n2", "n3"};
  ASSERT_NO_FATAL_FAILURE(start_cluster(three, kShards));
  const std::string file = (tmp_.path / "n1.toml").string();
  std::string out;
  ASSERT_EQ(run_ragd({"cluster", "rebalance", "--cluster", file, "--cancel"}, &out), 0) << out;
  EXPECT_NE(out.find("automatic rebalancing paused"), std::string::npos) << out;
  ASSERT_EQ(run_ragd({"cluster", "status", "--cluster", file}, &out), 0) << out;
  EXPECT_NE(out.find("automatic rebalancing PAUSED"), std::string::npos) << out;

  // A fourth node joins: paused, nothing moves to it.
  ServerProcess& n4 = node("n4", {"n1", "n2", "n3", "n4"}, 2, 20000, kShards);
  ASSERT_TRUE(n4.start(30)) << n4.log();
  const int64_t revision = map().revision;
  std::this_thread::sleep_for(std::chrono::seconds(5));
  EXPECT_EQ(map().revision, revision);
  EXPECT_EQ(count_of(map(), "n4"), 0u);

  // The operator's run gives n4 its share and hands back to the automatic
  // rebalancers.
  ASSERT_EQ(run_ragd({"cluster", "rebalance", "--cluster", file, "--timeout", "60"}, &out), 0) << out;
  EXPECT_NE(out.find("automatic rebalancing resumed"), std::string::npos) << out;
  EXPECT_EQ(count_of(map(), "n4"), 2u);
  auto st = cluster::read_rebalance_state(*etcd_, options_);
  ASSERT_TRUE(st.is_ok());
  EXPECT_FALSE(st->paused);
  EXPECT_FALSE(st->lock);

  // An operator's drain of n4 stays: the automatic rebalancers keep it
  // empty (nothing moves back to it), and `ragd cluster status` lists it.
  ASSERT_EQ(run_ragd({"cluster", "rebalance", "--cluster", file, "--drain", "n4", "--timeout", "60"}, &out), 0)
      << out;
  EXPECT_EQ(count_of(map(), "n4"), 0u);
  const int64_t drained = map().revision;
  std::this_thread::sleep_for(std::chrono::seconds(5));
  EXPECT_EQ(map().revision, drained) << reasons({"n1", "n2", "n3", "n4"});
  ASSERT_EQ(run_ragd({"cluster", "status", "--cluster", file}, &out), 0) << out;
  EXPECT_NE(out.find("drained (kept empty until restarted): n4"), std::string::npos) << out;
}

}  // namespace
}  // namespace ragd::test
