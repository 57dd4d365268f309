// Two keyed writers creating one document at once (cluster/README.md,
// "Keyed writes"): both lookups may find no document before either write
// is in the log; the writes are published as creations
// (Nats-Expected-Last-Subject-Sequence: 0), so JetStream stores the first
// and refuses the second, whose caller gets 409, not 200.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

HttpResult keyed_post(uint16_t port, const std::string& secret, const Json& docs) {
  return http_request(port, "POST", "/v1/documents", Json{{"documents", docs}}.dump(), "application/json",
                      {"Authorization: Bearer " + secret});
}

TEST_F(ClusterTest, TwoKeyedWritersCreatingOneDocumentAreNotBothAcknowledged) {
  const fs::path data = tmp_.path / "data-a";
  auto key = [&](const std::string& name, const std::string& role, const std::string& groups) {
    return create_key(data, name, role, groups);
  };
  const std::string hr = key("hr-writer", "writer", "hr");
  const std::string eng = key("eng-writer", "writer", "eng");
  fs::create_directories(tmp_.path / "data-b");
  fs::copy_file(data / "keys.json", tmp_.path / "data-b" / "keys.json");
  ServerProcess& a = node("a", {"a", "b"}, 2);
  ServerProcess& b = node("b", {"a", "b"}, 2);
  ASSERT_TRUE(a.start(30)) << a.log();
  ASSERT_TRUE(b.start(30)) << b.log();
  auto doc = [](int i, int version, const std::string& group) {
    return Json{{"id", doc_id(i)}, {"title", "Doc " + std::to_string(i)}, {"text", text_of(i, version)},
                {"acl", Json::array({group})}};
  };

  // Round i: hr creates doc-i through a while eng creates it through b,
  // both let go at the same moment.
  constexpr int kRounds = 30;
  int both_acknowledged = 0, conflicts = 0, refused_by_lookup = 0;
  std::map<int, std::string> winner;  // doc -> "hr" | "eng"
  for (int i = 0; i < kRounds; ++i) {
    std::atomic<int> ready{0};
    HttpResult by_hr, by_eng;
    auto go = [&](HttpResult& out, uint16_t port, const std::string& secret, const std::string& group, int v) {
      ++ready;
      while (ready < 2) std::this_thread::yield();
      out = keyed_post(port, secret, Json::array({doc(i, v, group)}));
    };
    std::thread t1(go, std::ref(by_hr), a.port(), std::cref(hr), "hr", 0);
    std::thread t2(go, std::ref(by_eng), b.port(), std::cref(eng), "eng", 1);
    t1.join();
    t2.join();
    const std::string round = "round " + std::to_string(i) + ": hr " + std::to_string(by_hr.status) + " " +
                              by_hr.body.substr(0, 300) + " | eng " + std::to_string(by_eng.status) + " " +
                              by_eng.body.substr(0, 300);
    if (by_hr.status == 200 && by_eng.status == 200) ++both_acknowledged;
    ASSERT_TRUE(by_hr.status == 200 || by_eng.status == 200) << round;
    const HttpResult& loser = by_hr.status == 200 ? by_eng : by_hr;
    winner[i] = by_hr.status == 200 ? "hr" : "eng";
    if (loser.status == 409) {
      ++conflicts;
      EXPECT_NE(loser.body.find("reached the log first"), std::string::npos) << round;
      EXPECT_NE(loser.body.find(doc_id(i) + ": not written"), std::string::npos) << round;
    } else {
      // Its lookup already saw the winner's message: the ACL check refuses it.
      EXPECT_EQ(loser.status, 403) << round;
      ++refused_by_lookup;
    }
  }
  std::printf("%d rounds: %d lost at the log (409), %d at the lookup (403), %d both acknowledged\n", kRounds,
              conflicts, refused_by_lookup, both_acknowledged);
  EXPECT_EQ(both_acknowledged, 0);
  // The race was met: without the creation check these rounds were both 200.
  EXPECT_GT(conflicts, 0) << "no round raced; the test proves nothing";

  // Every replica holds the acknowledged creation, and only it.
  // Read with the winner's own key (an admin's key holds no groups).
  auto stored = [&](uint16_t port, int i, const std::string& who) {
    const uint32_t s = cluster::shard_of(doc_id(i), kShards);
    HttpResult r = http_request(port, "GET", "/v1/collections/" + cluster::shard_collection(s) + "/documents/" +
                                doc_id(i), "", "application/json",
                                {"Authorization: Bearer " + (who == "hr" ? hr : eng)});
    return r.status == 200 ? Json::parse(r.body).value("text", "") : "<HTTP " + std::to_string(r.status) + ">";
  };
  for (ServerProcess* n : {&a, &b}) {
    for (const auto& [i, who] : winner) {
      const std::string want = text_of(i, who == "hr" ? 0 : 1);
      EXPECT_TRUE(wait_until([&] { return stored(n->port(), i, who) == want; }, 20000))
          << doc_id(i) << " on port " << n->port() << ": want " << who << "'s, have " << stored(n->port(), i, who);
    }
  }
  // A document that exists is replaced as before: no creation check.
  const auto& [first, who] = *winner.begin();
  const std::string& owner = who == "hr" ? hr : eng;
  HttpResult again = keyed_post(a.port(), owner, Json::array({doc(first, 3, who)}));
  EXPECT_EQ(again.status, 200) << again.body;
}

}  // namespace
}  // namespace ragd::test
