// sync::ParallelPosts against a loopback server: requests run side by side
// and come back as they finish, each judged as post_json() judges an
// answer; a deadline with none finished returns nothing; requests still
// running are abandoned by abandon_all() or when it goes.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "sync/http.h"
#include "tests/sync/loopback_server.h"

namespace ragd::sync {
namespace {

using testing::LoopbackServer;
using Clock = std::chrono::steady_clock;

// "/wait/<ms>" answers its body after that many ms; "/status/<code>" with
// that status.
testing::Response answer(const testing::Request& r) {
  if (r.path.rfind("/wait/", 0) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(r.path.substr(6))));
    return {200, {}, r.body};
  }
  if (r.path.rfind("/status/", 0) == 0) return {std::stoi(r.path.substr(8)), {}, "{}"};
  return {404, {}, "{}"};
}

TEST(ParallelPosts, RequestsRunSideBySideAndComeBackAsTheyFinish) {
  LoopbackServer server(answer, /*concurrent=*/true);
  const std::string base = server.url();
  HttpClient owner, a, b, c;
  const auto t0 = Clock::now();
  {
    ParallelPosts posts(owner);
    ASSERT_TRUE(posts.start(a, base + "/wait/600", R"({"n":0})", 0).is_ok());
    ASSERT_TRUE(posts.start(b, base + "/wait/300", R"({"n":1})", 1).is_ok());
    ASSERT_TRUE(posts.start(c, base + "/wait/10", R"({"n":2})", 2).is_ok());
    EXPECT_EQ(posts.running(), 3u);
    posts.pump();  // sends them; the caller would do other work now
    std::vector<size_t> order;
    while (auto done = posts.next(Clock::now() + std::chrono::seconds(5))) {
      ASSERT_TRUE(done->response.is_ok()) << done->response.status().message();
      EXPECT_EQ(done->response->body, R"({"n":)" + std::to_string(done->tag) + "}") << "each its own body";
      order.push_back(done->tag);
    }
    EXPECT_EQ(order, (std::vector<size_t>{2, 1, 0})) << "the fastest first";
    EXPECT_EQ(posts.running(), 0u);
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  EXPECT_LT(ms, 850) << "side by side, not one after another (910 ms)";
}

TEST(ParallelPosts, ADeadlineWithNoneFinishedReturnsNothingAndTheRestAreAbandoned) {
  LoopbackServer server(answer, /*concurrent=*/true);
  const std::string base = server.url();
  HttpClient owner, a;
  const auto t0 = Clock::now();
  {
    ParallelPosts posts(owner);
    ASSERT_TRUE(posts.start(a, base + "/wait/1500", "{}", 7).is_ok());
    EXPECT_FALSE(posts.next(Clock::now() + std::chrono::milliseconds(100)).has_value());
    EXPECT_EQ(posts.running(), 1u);
    posts.abandon_all();
    EXPECT_EQ(posts.running(), 0u);
    EXPECT_FALSE(posts.next(Clock::now() + std::chrono::milliseconds(10)).has_value());
    // The batch takes new requests after it gave up the others.
    HttpClient b;
    ASSERT_TRUE(posts.start(b, base + "/wait/1", R"({"again":1})", 8).is_ok());
    auto again = posts.next(Clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(again && again->tag == 8 && again->response.is_ok());
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  EXPECT_LT(ms, 1000) << "going does not wait for the request it abandons";
  // The client that ran the abandoned request works again.
  auto again = a.post_json(base + "/wait/1", "{}");
  ASSERT_TRUE(again.is_ok()) << again.status().message();
}

TEST(ParallelPosts, AnswersAreJudgedAsPostJsonJudgesThem) {
  LoopbackServer server(answer, /*concurrent=*/true);
  const std::string base = server.url();
  HttpClient owner, c400, c401, c404, c503, closed;
  ParallelPosts posts(owner);
  ASSERT_TRUE(posts.start(c400, base + "/status/400", "{}", 400).is_ok());
  ASSERT_TRUE(posts.start(c401, base + "/status/401", "{}", 401).is_ok());
  ASSERT_TRUE(posts.start(c404, base + "/status/404", "{}", 404).is_ok());
  ASSERT_TRUE(posts.start(c503, base + "/status/503", "{}", 503).is_ok());
  ASSERT_TRUE(posts.start(closed, "http://127.0.0.1:1/x", "{}", 1).is_ok());
  std::map<size_t, StatusCode> got;
  while (auto done = posts.next(Clock::now() + std::chrono::seconds(10))) {
    ASSERT_FALSE(done->response.is_ok()) << done->tag;
    got[done->tag] = done->response.status().code();
  }
  EXPECT_EQ(got[400], StatusCode::kInvalidArgument) << "the request's own fault";
  EXPECT_EQ(got[401], StatusCode::kFailedPrecondition);
  EXPECT_EQ(got[404], StatusCode::kNotFound);
  EXPECT_EQ(got[503], StatusCode::kUnavailable);
  EXPECT_EQ(got[1], StatusCode::kUnavailable) << "nothing listens there";
}

}  // namespace
}  // namespace ragd::sync
