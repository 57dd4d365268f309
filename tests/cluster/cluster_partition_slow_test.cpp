// A partition (cluster/README.md, "Partitions"): every NATS server and the
// etcd member are stopped (SIGSTOP: they keep their connections open and
// answer nothing, as servers behind a cut network do). Node a refuses
// every write with 503 and never acknowledges one, says so in /healthz
// and /metrics, and goes on answering searches from the shards it holds.
// Once the servers resume, writes are acknowledged again. 20-30 s:
// labelled slow. ASilentNatsServerIsLeftForAnotherWithinItsPings: one NATS
// server silent behind a cut proxy, the node moves to another.
// ASilentNatsServerDoesNotHoldUpTheLeaseRenewal: the etcd lease outlives a
// long silence.
#include <gtest/gtest.h>

#include "tests/cluster/cluster_fixture.h"
#include "tests/cluster/tcp_proxy.h"

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
  const auto paused_at = std::chrono::steady_clock::now();
  // When /healthz first says NATS is away (its server silent, or the
  // connection given up).
  std::atomic<double> nats_gone_s{-1};
  std::atomic<bool> watching{true};
  std::thread watcher([&] {
    while (watching && nats_gone_s < 0) {
      HttpResult h = http_get(a.port(), "/healthz");
      const Json j = Json::parse(h.body, nullptr, false);
      if (j.is_object() && j.value("cluster", Json::object()).value("nats", "") == "disconnected") {
        nats_gone_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - paused_at).count();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  // Every write for 12 s: 503, none acknowledged. The first within about
  // 1.5 s (no acknowledgement for 0.5 s, no PONG for 1 s: the server is
  // silent), the later ones within 0.5 s (a PING asked again at most that
  // often), then at once (down longer than the publish timeout). The bound
  // leaves room for a PING caught behind libnats' reconnect attempts (2 s
  // each) on a loaded machine; before the PING, a write waited the publish
  // timeout, and one then inside libnats when it gave the connection up
  // 5.3-5.9 s.
  std::vector<std::string> acknowledged;
  int refused = 0;
  double slowest = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(12);
  for (int n = 0; std::chrono::steady_clock::now() < until; ++n) {
    const auto t0 = std::chrono::steady_clock::now();
    HttpResult w = n % 3 == 2 ? http_request(a.port(), "DELETE", "/v1/documents/" + doc_id(1))
                              : post_docs(a.port(), {20 + n}, 0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (w.status == 200) acknowledged.push_back(w.body);
    EXPECT_EQ(w.status, 503) << w.body;
    EXPECT_LT(s, 6.0) << w.body;
    slowest = std::max(slowest, s);
    if (s > 0.1) {
      std::printf("  write %d at %.2f s: %d in %.2f s\n", n, std::chrono::duration<double>(t0 - paused_at).count(),
                  w.status, s);
    }
    refused += w.status == 503 ? 1 : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(acknowledged.empty()) << acknowledged.size() << " writes acknowledged while cut off";
  EXPECT_GE(refused, 2);
  // It says so, once its server has been silent (or the connection given
  // up) for longer than a publish may wait; from then on a write is
  // refused at once, naming the cause.
  Json health;
  EXPECT_TRUE(wait_until([&] {
    health = Json::parse(http_get(a.port(), "/healthz").body);
    return health["status"] == "degraded" && health["cluster"]["etcd"] == "unreachable" &&
           health["cluster"]["writes"] == "refused";
  }, 40000)) << health.dump();
  EXPECT_EQ(health["cluster"]["nats"], "disconnected");
  watching = false;
  watcher.join();
  std::printf("NATS away in /healthz %.2f s after the stop; %d writes refused, the slowest in %.2f s\n",
              nats_gone_s.load(), refused, slowest);
  EXPECT_GE(nats_gone_s.load(), 0.0);
  EXPECT_LT(nats_gone_s.load(), 8.0);
  const auto t0 = std::chrono::steady_clock::now();
  HttpResult fast = post_docs(a.port(), {49}, 0);
  EXPECT_EQ(fast.status, 503) << fast.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
  // Named: its server silent (a PING asked again, unanswered), or the
  // connection lost.
  EXPECT_TRUE(fast.body.find("lost its connection to NATS") != std::string::npos ||
              fast.body.find("has stopped answering") != std::string::npos)
      << fast.body;
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

// A silent NATS server (cluster/README.md, "Partitions"): node a reaches
// the NATS cluster through a proxy in front of server 0 (its file names
// the proxy alone; it learns the other servers from server 0's INFO). The
// test cuts the proxy while a writer thread writes one document at a time
// through a: the connection stays open and carries nothing, as behind a
// cut network. a must give the silent server up as its pings say and move
// to another server of the cluster: the first write acknowledged after the
// cut comes within 8 s (two unanswered pings 2 s apart, then a reconnect).
// Meanwhile writes fail fast: the first within 4 s (no acknowledgement
// for 0.5 s, then no PONG for 1 s: 1.5 s, with room for a loaded 2-core
// machine; before, each waited the publish timeout, 3 s), at least three
// within 1 s; never 200 unless JetStream
// took it (every acknowledged document is then applied). About 20 s.
TEST_F(ClusterTest, ASilentNatsServerIsLeftForAnotherWithinItsPings) {
  TcpProxy proxy(servers_.nats_ports[0]);
  ServerProcess& a = node("a", {"a"}, 1, 3000);
  {
    const fs::path file = tmp_.path / "a.toml";
    std::string text = read_file(file);
    const size_t from = text.find("nats = [");
    ASSERT_NE(from, std::string::npos) << text;
    const size_t to = text.find('\n', from);
    text.replace(from, to - from, "nats = [\"nats://127.0.0.1:" + std::to_string(proxy.port()) + "\"]");
    write_file(file, text);
  }
  ASSERT_TRUE(a.start(30)) << a.log();
  std::vector<int> first;
  for (int i = 0; i < 10; ++i) first.push_back(i);
  ASSERT_EQ(post_docs(a.port(), first, 0).status, 200);

  struct Write {
    int id;
    int status;
    double started_s, took_s;  // since the cut
    std::string body;
  };
  std::mutex mu;
  std::vector<Write> writes;  // guarded by mu
  std::atomic<bool> cut{false}, done{false};
  std::chrono::steady_clock::time_point cut_at;  // set before `cut`
  std::thread writer([&] {
    for (int n = 0; !done; ++n) {
      const int i = 100 + n;
      const auto t0 = std::chrono::steady_clock::now();
      HttpResult w = post_docs(a.port(), {i}, 0);
      const auto t1 = std::chrono::steady_clock::now();
      if (cut) {
        std::lock_guard lock(mu);
        writes.push_back({i, w.status, std::chrono::duration<double>(t0 - cut_at).count(),
                          std::chrono::duration<double>(t1 - t0).count(), w.body.substr(0, 300)});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  cut_at = std::chrono::steady_clock::now();
  proxy.cut();
  cut = true;
  // Until a write that started after the cut is acknowledged, and 2 s more.
  double given_up_s = -1;
  wait_until([&] {
    std::lock_guard lock(mu);
    for (const auto& w : writes) {
      if (w.status == 200 && w.started_s > 0 && given_up_s < 0) given_up_s = w.started_s + w.took_s;
    }
    return given_up_s >= 0 && std::chrono::steady_clock::now() - cut_at > std::chrono::duration<double>(given_up_s + 2);
  }, 40000);
  done = true;
  writer.join();
  std::printf("the silent server given up: first write acknowledged %.2f s after the cut\n", given_up_s);
  ASSERT_GE(given_up_s, 0) << "no write acknowledged within 40 s of the cut";
  EXPECT_LT(given_up_s, 8.0);
  std::vector<int> acknowledged;
  double slowest = 0;
  int refused = 0, refused_fast = 0;
  for (const auto& w : writes) {
    if (w.took_s > 0.1) std::printf("  write doc-%d at %.2f s: %d in %.2f s\n", w.id, w.started_s, w.status, w.took_s);
    slowest = std::max(slowest, w.took_s);
    if (w.status == 200) {
      acknowledged.push_back(w.id);
    } else {
      ++refused;
      refused_fast += w.took_s < 1.0 ? 1 : 0;
      EXPECT_EQ(w.status, 503) << w.body;
    }
    EXPECT_LT(w.took_s, 4.0) << "a write waited " << w.took_s << " s: " << w.body;
  }
  std::printf("writes after the cut: %zu, refused %d (%d within 1 s), slowest %.2f s\n", writes.size(), refused,
              refused_fast, slowest);
  EXPECT_GE(refused_fast, 3);
  // Every acknowledged document is applied (through the new server).
  EXPECT_TRUE(wait_until([&] {
    for (int i : acknowledged) {
      if (stored_text(a.port(), i) != text_of(i, 0)) return false;
    }
    return true;
  }, 20000));
}

// A short pause of the NATS servers (cluster/README.md, "Partitions"):
// every server stopped for 2 s, too short for libnats to give the
// connection up (two unanswered pings 2 s apart). A write during the
// pause finds the server silent (503). Then no write for 6 s: the
// silence, back-dated a PING's wait, is older than the publish timeout
// (3 s) by then, and a write is refused without a publish; nothing but a
// PING of the node's own can end it. /healthz must say writes are accepted
// again within 3 s of the resume with no write made, and the next write
// must be acknowledged. (With the silence cleared only by a publish's PING
// or a reconnect, every later write was refused for ever: the test fails.)
// About 15 s.
TEST_F(ClusterTest, ASilenceEndsWithoutAWriteAfterAShortPause) {
  ServerProcess& a = node("a", {"a"}, 1, 3000);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_EQ(post_docs(a.port(), {1}, 0).status, 200);
  // No answer within the last nats_silent_after_ms: the write below PINGs
  // at its first timeout.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  for (auto& n : servers_.nats) n->pause();
  const auto paused_at = std::chrono::steady_clock::now();
  HttpResult during = post_docs(a.port(), {2}, 0);
  EXPECT_EQ(during.status, 503) << during.body;
  // Refused for the server's silence (a PING unanswered), not a timeout.
  EXPECT_NE(during.body.find("has not answered"), std::string::npos) << during.body;
  std::this_thread::sleep_until(paused_at + std::chrono::seconds(2));
  for (auto& n : servers_.nats) n->resume();
  const auto resumed_at = std::chrono::steady_clock::now();
  Json health;
  EXPECT_TRUE(wait_until([&] {
    health = Json::parse(http_get(a.port(), "/healthz").body, nullptr, false);
    return health.is_object() && health.value("cluster", Json::object()).value("writes", "") == "accepted" &&
           health["cluster"].value("nats", "") == "connected";
  }, 3000)) << health.dump();
  std::printf("writes accepted in /healthz %.2f s after the resume\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - resumed_at).count());
  std::this_thread::sleep_until(resumed_at + std::chrono::seconds(6));
  HttpResult after = post_docs(a.port(), {3}, 0);
  EXPECT_EQ(after.status, 200) << after.body;
  EXPECT_TRUE(wait_until([&] { return stored_text(a.port(), 3) == text_of(3, 0); }, 20000));
}

// The etcd lease is renewed whatever NATS does (cluster/README.md,
// "Partitions"): node a's lease is 2 s, a PING waits 3 s for its PONG
// (nats_silent_after_ms) and the NATS client pings every 10 s, so that a
// silence lasts 20-30 s before the client gives the connection up. Every
// NATS server is stopped and one write finds the server silent; for 12 s
// (four of the PING's waits) the node's registration in etcd stays under
// the same lease, never gone, and /healthz says the lease is held, while
// the silence lasts (a write at the end is still refused for it). (With
// the PING asked again on the thread that renews the lease, each held the
// renewal for 3 s: the lease lapsed and the node registered again under a
// new one, and the test fails.) About 30 s (29-35 s).
TEST_F(ClusterTest, ASilentNatsServerDoesNotHoldUpTheLeaseRenewal) {
  servers_.cluster_file_extra = "nats_first_ack_ms = 100\nnats_silent_after_ms = 3000\n"
                                "nats_silent_recheck_ms = 100\nnats_ping_interval_ms = 10000\n";
  ServerProcess& a = node("a", {"a"}, 1, 5000);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_EQ(post_docs(a.port(), {1}, 0).status, 200);
  auto options = cluster::read_cluster_options(tmp_.path / "a.toml");
  ASSERT_TRUE(options.is_ok()) << options.status().to_string();
  cluster::Etcd etcd(options->etcd, 5);
  const std::string key = cluster::etcd_prefix(*options) + "nodes/a";
  auto registered = etcd.get(key);
  ASSERT_TRUE(registered.is_ok() && registered->has_value()) << key;
  const int64_t lease = (*registered)->lease;

  for (auto& n : servers_.nats) n->pause();
  HttpResult during = post_docs(a.port(), {2}, 0);
  EXPECT_EQ(during.status, 503) << during.body;
  EXPECT_NE(during.body.find("has not answered"), std::string::npos) << during.body;
  const auto silent_at = std::chrono::steady_clock::now();
  int looks = 0, lost = 0, renewed_under_another = 0, lapsed = 0;
  Json health;
  while (std::chrono::steady_clock::now() < silent_at + std::chrono::seconds(12)) {
    auto got = etcd.get(key);
    if (got.is_ok()) {
      ++looks;
      if (!got->has_value()) {
        ++lost;
      } else if ((*got)->lease != lease) {
        ++renewed_under_another;
      }
    }
    health = Json::parse(http_get(a.port(), "/healthz").body, nullptr, false);
    if (health.is_object() && health.value("cluster", Json::object()).value("lease", "") != "held") ++lapsed;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("12 s of silence: %d looks at the registration, %d without it, %d under another lease; /healthz "
              "said the lease lapsed %d times\n",
              looks, lost, renewed_under_another, lapsed);
  // The silence lasted the whole time (else there was nothing to hold the
  // renewal up): /healthz says NATS is away, and a write now is refused for
  // a server connected but silent (Node::cut_off_reason), not for a
  // connection libnats gave up and is reconnecting ("has lost its
  // connection"), which /healthz would call disconnected too.
  ASSERT_TRUE(health.is_object()) << health.dump();
  EXPECT_EQ(health.value("cluster", Json::object()).value("nats", ""), "disconnected") << health.dump();
  HttpResult after = post_docs(a.port(), {2}, 0);
  EXPECT_EQ(after.status, 503) << after.body;
  EXPECT_NE(after.body.find("has stopped answering"), std::string::npos) << after.body;
  EXPECT_GT(looks, 50);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(renewed_under_another, 0);
  EXPECT_EQ(lapsed, 0);

  for (auto& n : servers_.nats) n->resume();
  EXPECT_TRUE(wait_until([&] { return post_docs(a.port(), {3}, 0).status == 200; }, 15000));
  EXPECT_TRUE(wait_until([&] { return stored_text(a.port(), 3) == text_of(3, 0); }, 20000));
}

}  // namespace
}  // namespace ragd::test
