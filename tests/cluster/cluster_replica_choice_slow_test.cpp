// The coordinator's choice of replica (coordinator.cpp, Replica): a replica
// still replaying its shard is not searched while another one is level
// with the stream. Node b's store is wiped and b restarted: while it
// replays 1,500 messages, searches must find the documents written last,
// which its stores do not have yet: through b itself (it holds every shard,
// so it would answer them all in process) and through c, which holds none
// and asks b first for half the shards (the map's order). 15-30 s:
// labelled slow.
#include <gtest/gtest.h>
#include <signal.h>

#include "cluster/jetstream.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

TEST_F(ClusterTest, AReplicaStillReplayingIsNotSearched) {
  // b replays (no peer snapshot): that is what is searched around.
  servers_.cluster_file_extra = "snapshot_bootstrap = false\n";
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  // c joins the map a and b made: it holds nothing.
  ServerProcess& c = node("c", {"a", "b", "c"}, 2);
  ASSERT_TRUE(c.start(30)) << c.log();
  constexpr int kDocs = 1500;
  for (int from = 0; from < kDocs; from += 250) {
    std::vector<int> ids;
    for (int i = from; i < from + 250; ++i) ids.push_back(i);
    HttpResult w = post_docs(a.port(), ids, 0);
    ASSERT_EQ(w.status, 200) << w.body;
  }
  std::vector<std::string> urls;
  for (uint16_t p : servers_.nats_ports) urls.push_back("nats://127.0.0.1:" + std::to_string(p));
  auto js = cluster::JetStream::connect(urls, "ragd-test");
  ASSERT_TRUE(js.is_ok()) << js.status().to_string();
  std::map<uint32_t, uint64_t> last;
  for (uint32_t s = 0; s < kShards; ++s) {
    auto got = (*js)->last_sequence("t_S" + std::to_string(s));
    ASSERT_TRUE(got.is_ok());
    last[s] = *got;
  }
  // How many shards of the node at `port` are short of their stream's end
  // (-1: no answer).
  auto behind = [&](uint16_t port) {
    HttpResult st = http_get(port, "/v1/stats");
    if (st.status != 200) return -1;
    const Json body = Json::parse(st.body);
    int n = 0;
    for (const auto& sh : body["cluster"]["applying"]) n += sh["applied"].get<uint64_t>() < last[sh["shard"]] ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return behind(a.port()) == 0 && behind(b.port()) == 0; }, 60000));

  b.kill_hard();
  fs::remove_all(tmp_.path / "data-b");
  ASSERT_TRUE(b.start(30)) << b.log();
  int searched_while_behind = 0, searches = 0;
  std::vector<std::string> missed;
  for (int n = 0; n < 400; ++n) {
    const int lagging = behind(b.port());
    if (lagging == 0) break;
    const int i = kDocs - 1 - n % 100;  // among the last written: the last a replay reaches
    auto got = search((n % 2 ? c : b).port(), token(i, 0));
    ++searches;
    if (!got || got->count(doc_id(i)) == 0)
      missed.push_back(doc_id(i) + (n % 2 ? " through c" : " through b") + (got ? "" : " (search failed)"));
    // Still replaying after the search, so it ran during the replay.
    if (lagging > 0 && behind(b.port()) > 0) ++searched_while_behind;
  }
  EXPECT_TRUE(missed.empty()) << missed.size() << " of " << searches << " searches missed their document, "
                              << "first " << missed.front();
  // Otherwise the test proved nothing: the replay ended too soon.
  EXPECT_GE(searched_while_behind, 3) << "b replayed its shards before the searches could run; write more documents";
  std::printf("%d searches through b and c while b replayed, %zu missed\n", searched_while_behind, missed.size());
  // And b catches up in the end.
  EXPECT_TRUE(wait_until([&] { return behind(b.port()) == 0; }, 60000));
}

// Hedged reads (ClusterOptions::hedge_after_ms): a replica that stops
// answering while its lease lives on (a stalled process: SIGSTOP, with a
// lease far longer than the test) must not hold a search up for the
// request timeout (10 s): the shard's other replica is asked after 200 ms.
// c holds no shard and asks a first for half of them (the map's order).
TEST_F(ClusterTest, AStalledReplicaIsHedgedAround) {
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  // a's lease outlives the test: a stalled a stays live in etcd.
  const fs::path a_file = tmp_.path / "a.toml";
  std::string text = servers_.cluster_file("a", {"a", "b"}, kShards, 2, 3, 20000);
  text.replace(text.find("lease_ttl_seconds = 2"), 21, "lease_ttl_seconds = 120");
  write_file(a_file, text);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  ServerProcess& c = node("c", {"a", "b", "c"}, 2);
  ASSERT_TRUE(c.start(30)) << c.log();
  std::vector<int> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(i);
  ASSERT_EQ(post_docs(a.port(), ids, 0).status, 200);
  // b holds every shard: once it finds them all itself, it can answer for a.
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(wait_until([&] { auto got = search(b.port(), token(i, 0)); return got && got->count(doc_id(i)); },
                           30000))
        << doc_id(i) << " not applied on b";
  }
  const auto sent_before = series(c.port(), "ragd_cluster_search_hedged_requests_total")["{result=\"sent\"}"];
  ASSERT_EQ(::kill(a.pid(), SIGSTOP), 0);
  std::vector<double> took;
  for (int i = 1; i <= 6; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto got = search(c.port(), token(i, 0));
    took.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_TRUE(got && got->count(doc_id(i))) << doc_id(i) << " with a stalled";
  }
  ::kill(a.pid(), SIGCONT);
  for (double s : took) EXPECT_LT(s, 3.0) << "a search waited on the stalled replica";
  const auto sent = series(c.port(), "ragd_cluster_search_hedged_requests_total")["{result=\"sent\"}"];
  EXPECT_GT(sent, sent_before) << "no request was hedged";
  std::printf("searches through c with a stalled: %.3f %.3f %.3f %.3f %.3f %.3f s\n", took[0], took[1], took[2],
              took[3], took[4], took[5]);
}

}  // namespace
}  // namespace ragd::test
