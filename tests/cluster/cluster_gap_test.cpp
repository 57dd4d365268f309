// Gaps in a shard's stream (cluster/README.md, "Gaps"): a message that
// leaves the stream before a replica applied it, other than by a ragd
// purge, stops that replica's applier there, says so everywhere an operator
// looks, and lets the applier go on once the operator accepts the gap.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/etcd.h"
#include "cluster/jetstream.h"
#include "cluster/node.h"
#include "cluster/shard.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

// Node `port`'s /v1/stats entry for `shard` (null when it lists none).
Json applying(uint16_t port, uint32_t shard) {
  HttpResult r = http_get(port, "/v1/stats");
  if (r.status != 200) return nullptr;
  const Json stats = Json::parse(r.body);
  for (const auto& sh : stats["cluster"]["applying"]) {
    if (sh["shard"] == shard) return sh;
  }
  return nullptr;
}

// A message deleted from a shard's stream with JetStream's own API
// ($JS.API.STREAM.MSG.DELETE, as `nats stream rmm` does) while one replica
// was down: that replica stops before it, level with nothing, and reports
// it; the other replica, which applied it, is searched meanwhile. Accepted
// with `ragd cluster accept-gap` (which refuses a shard that is not
// stopped), the replica goes on without it.
TEST_F(ClusterTest, AMessageDeletedFromAStreamStopsTheReplicaThatMissedIt) {
  // b replays the stream (a peer's snapshot would hold the message).
  servers_.cluster_file_extra = "snapshot_bootstrap = false\n";
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  b.kill_hard();

  // doc-0 alone first: its token names its shard and sequence.
  HttpResult first = post_docs(a.port(), {0}, 0);
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string tok = Json::parse(first.body)["consistency_token"];
  const uint32_t shard = cluster::shard_of(doc_id(0), kShards);
  const uint64_t lost = std::stoull(tok.substr(tok.find(':') + 1));
  ASSERT_EQ(tok.substr(0, tok.find(':')), std::to_string(shard)) << tok;
  std::vector<int> more, after_gap, elsewhere;
  for (int i = 1; i <= 24; ++i) {
    more.push_back(i);
    (cluster::shard_of(doc_id(i), kShards) == shard ? after_gap : elsewhere).push_back(i);
  }
  ASSERT_FALSE(after_gap.empty());
  ASSERT_EQ(post_docs(a.port(), more, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return stored_documents(a.port()) == 25; }, 20000)) << a.log();

  std::vector<std::string> urls;
  for (uint16_t p : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(p));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  ASSERT_TRUE((*js)->erase_message("t_S" + std::to_string(shard), lost).is_ok());

  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return applying(b.port(), shard).contains("gap"); }, 20000)) << b.log();
  Json st = applying(b.port(), shard);
  EXPECT_EQ(st["gap"]["first"], lost) << st;
  EXPECT_EQ(st["gap"]["last"], lost) << st;
  EXPECT_EQ(st["applied"], lost - 1) << st;
  EXPECT_EQ(st["gaps"], 1) << st;
  // The other shards go on; this one applies nothing past the gap.
  for (int i : elsewhere) {
    EXPECT_TRUE(wait_until([&] { return stored_text(b.port(), i) == text_of(i, 0); }, 20000)) << doc_id(i);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (int i : after_gap) EXPECT_EQ(stored_text(b.port(), i), "") << doc_id(i) << " applied past the gap";
  EXPECT_EQ(stored_text(a.port(), 0), text_of(0, 0)) << "a applied it before it went";

  EXPECT_EQ(series(b.port(), "ragd_cluster_shard_stream_gap_messages")["{shard=\"" + std::to_string(shard) + "\"}"],
            1.0);
  EXPECT_EQ(total(series(b.port(), "ragd_cluster_shard_stream_gaps_total")), 1.0);
  EXPECT_EQ(total(series(a.port(), "ragd_cluster_shard_stream_gaps_total")), 0.0);
  const Json health = Json::parse(http_get(b.port(), "/healthz").body);
  EXPECT_EQ(health["status"], "degraded") << health;
  EXPECT_EQ(health["cluster"]["stopped_at_gap"], Json::array({shard})) << health;
  EXPECT_EQ(Json::parse(http_get(a.port(), "/healthz").body)["status"], "ok");
  const std::string accept = "etcdctl put /ragd/t/gap-accepted/" + std::to_string(shard) + " " + std::to_string(lost);
  EXPECT_NE(b.log().find("GAP in stream t_S" + std::to_string(shard)), std::string::npos) << b.log();
  EXPECT_NE(b.log().find(accept), std::string::npos) << b.log();
  std::string table;
  EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string()}, &table), 0) << table;
  EXPECT_NE(table.find("STOPPED AT A GAP: the stream lacks message " + std::to_string(lost)), std::string::npos)
      << table;
  // Searches through b read the shard on a, which is level.
  for (int i : after_gap) EXPECT_TRUE(finds(b.port(), i)) << doc_id(i);

  // `ragd cluster accept-gap` refuses a shard no replica is stopped at, and
  // a --through past the stream's end; nothing is written.
  const std::string file = (tmp_.path / "a.toml").string();
  const std::string other = std::to_string((shard + 1) % kShards);
  std::string out;
  EXPECT_EQ(run_ragd({"cluster", "accept-gap", "--cluster", file, "--shard", other}, &out), 1) << out;
  EXPECT_NE(out.find("shard " + other + " is not stopped at a gap"), std::string::npos) << out;
  EXPECT_NE(out.find("--through"), std::string::npos) << out;
  EXPECT_EQ(run_ragd({"cluster", "accept-gap", "--cluster", file, "--shard", std::to_string(shard), "--through",
                      "1000000"},
                     &out),
            2)
      << out;
  EXPECT_NE(out.find("past the end"), std::string::npos) << out;
  EXPECT_EQ(run_ragd({"cluster", "accept-gap", "--cluster", file, "--shard", std::to_string(kShards)}, &out), 2)
      << out;
  cluster::Etcd etcd({"http://127.0.0.1:" + std::to_string(servers_.etcd_port)}, 5);
  cluster::ClusterOptions o;
  o.name = "t";
  for (uint32_t s = 0; s < kShards; ++s) {
    auto kv = etcd.get(cluster::gap_accepted_key(o, s));
    ASSERT_TRUE(kv.is_ok());
    EXPECT_FALSE(kv->has_value()) << "shard " << s << ": " << (*kv)->value;
  }
  EXPECT_NE(b.log().find("ragd cluster accept-gap --cluster FILE --shard " + std::to_string(shard)),
            std::string::npos)
      << b.log();
  EXPECT_NE(table.find("`ragd cluster accept-gap --shard " + std::to_string(shard) + "` accepts it"),
            std::string::npos)
      << table;

  // Accepted with the command (the gap b is stopped at): b goes on without
  // doc-0.
  ASSERT_EQ(run_ragd({"cluster", "accept-gap", "--cluster", file, "--shard", std::to_string(shard)}, &out), 0)
      << out;
  EXPECT_NE(out.find("b: message " + std::to_string(lost)), std::string::npos) << out;
  EXPECT_NE(out.find("gaps up to stream sequence " + std::to_string(lost) + " accepted (before: none)"),
            std::string::npos)
      << out;
  auto accepted = etcd.get(cluster::gap_accepted_key(o, shard));
  ASSERT_TRUE(accepted.is_ok());
  ASSERT_TRUE(accepted->has_value());
  EXPECT_EQ((*accepted)->value, std::to_string(lost));
  for (int i : after_gap) {
    EXPECT_TRUE(wait_until([&] { return stored_text(b.port(), i) == text_of(i, 0); }, 20000)) << doc_id(i);
  }
  st = applying(b.port(), shard);
  EXPECT_FALSE(st.contains("gap")) << st;
  EXPECT_EQ(st["gaps"], 1) << st;
  EXPECT_EQ(stored_text(b.port(), 0), "");
  EXPECT_EQ(total(series(b.port(), "ragd_cluster_shard_stream_gap_messages")), 0.0);
  EXPECT_EQ(Json::parse(http_get(b.port(), "/healthz").body)["status"], "ok");
  table.clear();
  EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string()}, &table), 0) << table;
  EXPECT_EQ(table.find("STOPPED"), std::string::npos) << table;
  // Nothing is stopped now; an explicit --through at or below what is
  // accepted leaves it as it is (an acceptance is never lowered).
  EXPECT_EQ(run_ragd({"cluster", "accept-gap", "--cluster", file, "--shard", std::to_string(shard)}, &out), 1) << out;
  EXPECT_EQ(run_ragd({"cluster", "accept-gap", "--cluster", file, "--shard", std::to_string(shard), "--through",
                      std::to_string(lost)},
                     &out),
            0)
      << out;
  EXPECT_NE(out.find("were already accepted; nothing written"), std::string::npos) << out;
  accepted = etcd.get(cluster::gap_accepted_key(o, shard));
  ASSERT_TRUE(accepted.is_ok() && accepted->has_value());
  EXPECT_EQ((*accepted)->value, std::to_string(lost));
}

// A hole at the stream's very end (its last message deleted, nothing
// written since): no message comes to show it, and the replica that missed
// it finds it by looking at the stream while idle. Accepted, it is level.
TEST_F(ClusterTest, AGapAtAStreamsEndIsSeenWithoutANewMessage) {
  servers_.cluster_file_extra = "snapshot_bootstrap = false\n";
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  std::vector<int> first;
  for (int i = 0; i < 12; ++i) first.push_back(i);
  ASSERT_EQ(post_docs(a.port(), first, 0).status, 200);
  ASSERT_TRUE(wait_until([&] { return stored_documents(a.port()) == 12 && stored_documents(b.port()) == 12; }, 20000));
  b.kill_hard();
  // The last message of doc-40's shard, deleted with JetStream's API.
  HttpResult last = post_docs(a.port(), {40}, 0);
  ASSERT_EQ(last.status, 200) << last.body;
  const std::string tok = Json::parse(last.body)["consistency_token"];
  const uint32_t shard = cluster::shard_of(doc_id(40), kShards);
  const uint64_t lost = std::stoull(tok.substr(tok.find(':') + 1));
  ASSERT_TRUE(wait_until([&] { return stored_text(a.port(), 40) == text_of(40, 0); }, 20000));
  std::vector<std::string> urls;
  for (uint16_t p : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(p));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  const std::string stream = "t_S" + std::to_string(shard);
  ASSERT_TRUE((*js)->erase_message(stream, lost).is_ok());
  auto end = (*js)->last_sequence(stream);
  ASSERT_TRUE(end.is_ok());
  ASSERT_EQ(*end, lost);

  ASSERT_TRUE(b.start(30)) << b.log();
  ASSERT_TRUE(wait_until([&] { return applying(b.port(), shard).contains("gap"); }, 15000)) << b.log();
  Json st = applying(b.port(), shard);
  EXPECT_EQ(st["gap"]["first"], lost) << st;
  EXPECT_EQ(st["gap"]["last"], lost) << st;
  EXPECT_EQ(st["applied"], lost - 1) << st;
  EXPECT_EQ(st["gaps"], 1) << st;
  EXPECT_NE(b.log().find("GAP in stream " + stream), std::string::npos) << b.log();
  EXPECT_FALSE(applying(a.port(), shard).contains("gap"));
  end = (*js)->last_sequence(stream);
  ASSERT_TRUE(end.is_ok());
  EXPECT_EQ(*end, lost) << "a message was written after the hole";

  // Accepted: b is level with the stream's end, the hole stepped over.
  auto o = cluster::read_cluster_options(tmp_.path / "b.toml");
  ASSERT_TRUE(o.is_ok());
  cluster::Etcd etcd(o->etcd, 5);
  ASSERT_TRUE(etcd.put(cluster::gap_accepted_key(*o, shard), std::to_string(lost)).is_ok());
  ASSERT_TRUE(wait_until([&] {
    const Json now = applying(b.port(), shard);
    return !now.is_null() && !now.contains("gap") && now["applied"] == lost;
  }, 15000)) << applying(b.port(), shard);
  EXPECT_EQ(stored_text(b.port(), 40), "");
  // And the next message is applied after it.
  ASSERT_EQ(post_docs(a.port(), {40}, 1).status, 200);
  EXPECT_TRUE(wait_until([&] { return stored_text(b.port(), 40) == text_of(40, 1); }, 20000));
}

}  // namespace
}  // namespace ragd::test
