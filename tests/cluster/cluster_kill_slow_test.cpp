// Kill -9 under load (cluster/README.md, "Apply path"): two nodes that both
// materialise every shard, three etcd members, four rounds of writes,
// deletes and a rewrite through node a, each followed at once by SIGKILL
// of a node (the writer itself in odd rounds) and its restart; one round
// runs with one of the three NATS servers killed, two with an etcd member
// killed; then node b's data directory is wiped. Searches run through both
// nodes all along. Afterwards every node's stores hold exactly the last
// acknowledged content of every document, deletes stay deleted, nothing
// else is there, every node applied every stream to its end, and every
// search either found its document or failed fast: none answered 200
// without it. 20-40 s: labelled slow.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "cluster/jetstream.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

class ClusterKillTest : public ClusterTest {
 protected:
  size_t etcd_members() const override { return 3; }
};

TEST_F(ClusterKillTest, KillNineAfterAcksLosesNothingAndAppliesNothingTwice) {
  // Both nodes materialise every shard.
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();

  constexpr int kDocs = 40;
  std::map<int, int> latest;  // acknowledged: doc -> version (-1: deleted)
  // Anchors: written once, never changed; the searches look for them.
  std::vector<int> anchors;
  for (int i = 50; i < 60; ++i) anchors.push_back(i);
  ASSERT_EQ(post_docs(a.port(), anchors, 0).status, 200);
  for (int i : anchors) latest[i] = 0;
  ASSERT_TRUE(wait_until([&] {
    for (int i : anchors) {
      for (uint16_t p : {a.port(), b.port()}) {
        if (stored_text(p, i) != text_of(i, 0)) return false;
      }
    }
    return true;
  }, 20000));

  // The searcher reads the nodes' ports here (a restart binds a new one;
  // 0 while a node is down).
  std::atomic<uint16_t> port_a{a.port()}, port_b{b.port()};
  std::atomic<bool> done{false};
  std::mutex mu;
  int found = 0, failed_fast = 0;                  // guarded by mu
  std::vector<std::string> partial, slow, wrong;   // guarded by mu
  std::thread searcher;
  // Stops and joins the searcher however the test leaves (an ASSERT
  // returns early; a joinable thread's destruction would abort the run
  // and leave the servers running).
  struct Joiner {
    std::atomic<bool>& done;
    std::thread& t;
    ~Joiner() {
      done = true;
      if (t.joinable()) t.join();
    }
  } joiner{done, searcher};
  searcher = std::thread([&] {
    for (int n = 0; !done; ++n) {
      const uint16_t port = (n % 2 ? port_b : port_a).load();
      if (port == 0) continue;
      const int i = anchors[n % anchors.size()];
      const auto t0 = std::chrono::steady_clock::now();
      HttpResult r = http_post(port, "/v1/search", Json{{"query", token(i, 0)}, {"k", 5}, {"mode", "lexical"}}.dump());
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      bool hit = false;
      if (r.status == 200) {
        const Json body = Json::parse(r.body);
        for (const auto& h : body["hits"]) hit = hit || h["doc_id"] == doc_id(i);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::lock_guard lock(mu);
      const std::string what = doc_id(i) + " on port " + std::to_string(port) + ": HTTP " +
                               std::to_string(r.status) + " after " + std::to_string(s) + " s " +
                               r.body.substr(0, 200);
      if (hit) {
        ++found;
      } else if (r.status == 200) {
        partial.push_back(what);
      } else if (r.status != 0 && r.status != 503) {
        wrong.push_back(what);
      } else if (s > 12) {
        slow.push_back(what);
      } else {
        ++failed_fast;
      }
    }
  });

  for (int round = 0; round < 4; ++round) {
    // Round 2 runs with one of the three NATS servers killed, rounds 1 and 3
    // with an etcd member killed: the streams' and etcd's quorums (2 of 3)
    // still answer.
    if (round == 2) servers_.nats[2]->kill_hard();
    if (round == 1 || round == 3) servers_.etcd[round == 1 ? 0 : 2]->kill_hard();
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
    if (round == 1 || round == 3) servers_.start_etcd(round == 1 ? 0 : 2);
    // Right after the acknowledgements, before the appliers can have caught
    // up: SIGKILL one node (the writer itself in odd rounds), restart it.
    ServerProcess& victim = round % 2 == 0 ? b : a;
    std::atomic<uint16_t>& victim_port = round % 2 == 0 ? port_b : port_a;
    victim_port = 0;
    victim.kill_hard();
    ASSERT_TRUE(victim.start(30)) << victim.log();
    victim_port = victim.port();
  }

  // A wiped node rebuilds its shards by replaying the streams: its durable
  // consumers' positions are ahead of its now empty stores, and the stores'
  // position is the one that counts.
  port_b = 0;
  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(30)) << b.log();
  port_b = b.port();

  // Searches while b replays, then no more.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  done = true;
  searcher.join();
  {
    std::lock_guard lock(mu);
    auto list = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& x : v) out += "\n  " + x;
      return out;
    };
    EXPECT_TRUE(partial.empty()) << partial.size() << " searches answered 200 without their document:" << list(partial);
    EXPECT_TRUE(wrong.empty()) << "failed with another status than 503:" << list(wrong);
    EXPECT_TRUE(slow.empty()) << "failed after more than 12 s:" << list(slow);
    EXPECT_GT(found, 20);
    std::printf("searches during the faults: %d found their document, %d failed fast (503 or refused)\n", found,
                failed_fast);
  }

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
