// A partition (cluster/README.md, "Partitions"): every NATS server and the
// etcd member are stopped (SIGSTOP: they keep their connections open and
// answer nothing, as servers behind a cut network do). Node a refuses
// every write with 503 and never acknowledges one, says so in /healthz
// and /metrics, and goes on answering searches from the shards it holds.
// Once the servers resume, writes are acknowledged again. 20-30 s:
// labelled slow.
#include <gtest/gtest.h>

#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

TEST_F(ClusterTest, ANodeCutOffFromNatsAndEtcdRefusesWritesAndSaysSo) {
  ServerProcess& a = node("a", {"a", "b"}, 2, 3000);
  ServerProcess& b = node("b", {"a", "b"}, 2, 3000);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  std::vector<int> first;
  for (int i = 0; i < 10; ++i) first.push_back(i);
  ASSERT_EQ(post_docs(a.port(), first, 0).status, 200);
  ASSERT_TRUE(wait_until([&] {
    for (int i : first) {
      if (stored_text(a.port(), i) != text_of(i, 0)) return false;
    }
    return true;
  }, 20000));
  // Healthy before the cut (an etcd read that timed out on a loaded machine
  // says "unreachable" until the next one answers: at most a renewal later).
  Json healthy;
  EXPECT_TRUE(wait_until([&] {
    healthy = Json::parse(http_get(a.port(), "/healthz").body);
    return healthy["status"] == "ok";
  }, 10000)) << healthy.dump();
  EXPECT_EQ(healthy["cluster"]["writes"], "accepted");

  for (auto& n : servers_.nats) n->pause();
  for (auto& e : servers_.etcd) e->pause();

  // Every write for 12 s: 503, none acknowledged. (Each usually within the
  // publish timeout, 3 s; a publish already waiting in libnats when the
  // connection is given up can take longer, so the bound is loose.)
  std::vector<std::string> acknowledged;
  int refused = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(12);
  for (int n = 0; std::chrono::steady_clock::now() < until; ++n) {
    const auto t0 = std::chrono::steady_clock::now();
    HttpResult w = n % 3 == 2 ? http_request(a.port(), "DELETE", "/v1/documents/" + doc_id(1))
                              : post_docs(a.port(), {20 + n}, 0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (w.status == 200) acknowledged.push_back(w.body);
    EXPECT_EQ(w.status, 503) << w.body;
    EXPECT_LT(s, 20.0) << w.body;
    refused += w.status == 503 ? 1 : 0;
  }
  EXPECT_TRUE(acknowledged.empty()) << acknowledged.size() << " writes acknowledged while cut off";
  EXPECT_GE(refused, 2);
  // It says so, once the NATS client has given the silent connection up
  // (unanswered pings) and it has been down for longer than a publish may
  // wait; from then on a write is refused at once, naming the cause.
  Json health;
  EXPECT_TRUE(wait_until([&] {
    health = Json::parse(http_get(a.port(), "/healthz").body);
    return health["status"] == "degraded" && health["cluster"]["etcd"] == "unreachable" &&
           health["cluster"]["writes"] == "refused";
  }, 40000)) << health.dump();
  EXPECT_EQ(health["cluster"]["nats"], "disconnected");
  const auto t0 = std::chrono::steady_clock::now();
  HttpResult fast = post_docs(a.port(), {49}, 0);
  EXPECT_EQ(fast.status, 503) << fast.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_NE(fast.body.find("lost its connection to NATS"), std::string::npos) << fast.body;
  EXPECT_EQ(total(series(a.port(), "ragd_cluster_etcd_reachable")), 0.0);
  // Searches go on from the shards a holds (every one: 2 replicas, 2 nodes).
  for (int i : first) {
    auto got = search(a.port(), token(i, 0));
    ASSERT_TRUE(got.has_value()) << "search for " << doc_id(i) << " failed while cut off";
    EXPECT_EQ(got->count(doc_id(i)), 1u);
  }

  for (auto& n : servers_.nats) n->resume();
  for (auto& e : servers_.etcd) e->resume();
  // Writes are taken again once the connection is back, and applied.
  HttpResult w;
  EXPECT_TRUE(wait_until([&] { return (w = post_docs(a.port(), {50}, 0)).status == 200; }, 30000)) << w.body;
  EXPECT_TRUE(wait_until([&] { return stored_text(b.port(), 50) == text_of(50, 0); }, 20000));
  EXPECT_TRUE(wait_until([&] { return Json::parse(http_get(a.port(), "/healthz").body)["status"] == "ok"; }, 20000));
}

}  // namespace
}  // namespace ragd::test
