// Kill -9 right after acknowledgements (cluster/README.md, "Apply path"):
// two nodes that both materialise every shard, four rounds of writes,
// deletes and a rewrite through node a, each followed at once by SIGKILL of
// a node (the writer itself in odd rounds) and its restart, one round with
// one of the three NATS servers killed; then node b's data directory is
// wiped. Afterwards every node's stores hold exactly the last acknowledged
// content of every document, deletes stay deleted, nothing else is there,
// and every node applied every stream to its end. 15-25 s: labelled slow.
#include <gtest/gtest.h>

#include "cluster/jetstream.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

TEST_F(ClusterTest, KillNineAfterAcksLosesNothingAndAppliesNothingTwice) {
  // Both nodes materialise every shard.
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();

  constexpr int kDocs = 40;
  std::map<int, int> latest;  // acknowledged: doc -> version (-1: deleted)
  for (int round = 0; round < 4; ++round) {
    // Round 2 runs with one of the three NATS servers killed: the streams'
    // quorum (2 of 3) still acknowledges.
    if (round == 2) servers_.nats[2]->kill_hard();
    std::vector<int> ids;
    for (int i = round * 5; i < kDocs; ++i) ids.push_back(i);
    HttpResult w = post_docs(a.port(), ids, round);
    ASSERT_EQ(w.status, 200) << w.body << "\n" << a.log();
    for (int i : ids) latest[i] = round;
    // Delete two of the documents just written, then write one back.
    for (int i : {round * 5, round * 5 + 1}) {
      HttpResult d = http_request(a.port(), "DELETE", "/v1/documents/" + doc_id(i));
      ASSERT_EQ(d.status, 200) << d.body;
      latest[i] = -1;
    }
    ASSERT_EQ(post_docs(a.port(), {round * 5 + 1}, round + 10).status, 200);
    latest[round * 5 + 1] = round + 10;
    if (round == 2) servers_.start_nats(2);
    // Right after the acknowledgements, before the appliers can have caught
    // up: SIGKILL one node (the writer itself in odd rounds), restart it.
    ServerProcess& victim = round % 2 == 0 ? b : a;
    victim.kill_hard();
    ASSERT_TRUE(victim.start(30)) << victim.log();
  }

  // A wiped node rebuilds its shards by replaying the streams: its durable
  // consumers' positions are ahead of its now empty stores, and the stores'
  // position is the one that counts.
  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(30)) << b.log();

  size_t live = 0;
  for (const auto& [i, v] : latest) live += v >= 0 ? 1 : 0;
  for (ServerProcess* n : {&a, &b}) {
    for (const auto& [i, v] : latest) {
      const std::string want = v >= 0 ? text_of(i, v) : "";
      EXPECT_TRUE(wait_until([&] { return stored_text(n->port(), i) == want; }, 20000))
          << "document " << i << " on port " << n->port() << ": want '" << want << "', have '"
          << stored_text(n->port(), i) << "'";
    }
    // Nothing more than the live documents (no resurrected delete).
    EXPECT_EQ(stored_documents(n->port()), live);
  }
  // Every replica applied each shard's stream to its last message: the
  // applied sequence (kept with the documents) equals JetStream's.
  std::vector<std::string> urls;
  for (uint16_t p : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(p));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  for (uint32_t s = 0; s < kShards; ++s) {
    auto last = (*js)->last_sequence("t_S" + std::to_string(s));
    ASSERT_TRUE(last.is_ok()) << last.status().to_string();
    EXPECT_GT(*last, 0u);
    for (ServerProcess* n : {&a, &b}) {
      uint64_t applied = 0;
      EXPECT_TRUE(wait_until([&] {
        HttpResult st = http_get(n->port(), "/v1/stats");
        if (st.status != 200) return false;
        const Json j = Json::parse(st.body);
        for (const auto& sh : j["cluster"]["applying"]) {
          if (sh["shard"] == s) applied = sh["applied"].get<uint64_t>();
        }
        return applied == *last;
      }, 10000)) << "shard " << s << " on port " << n->port() << ": applied " << applied << " of " << *last;
    }
  }
}

}  // namespace
}  // namespace ragd::test
