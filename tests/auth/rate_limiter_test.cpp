#include "auth/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace ragd::auth {
namespace {

struct FakeClock {
  double t = 1000.0;
};

std::unique_ptr<RateLimiter> make(FakeClock& clock, double rate, double burst, size_t max_keys = 100000) {
  RateLimiterOptions o;
  o.rate_per_second = rate;
  o.burst = burst;
  o.max_keys = max_keys;
  o.clock = [&clock] { return clock.t; };
  auto r = RateLimiter::make(o);
  EXPECT_TRUE(r) << r.status().to_string();
  return std::move(r).value();
}

TEST(RateLimiter, BurstThenRefusedWithRetryAfter) {
  FakeClock clock;
  auto rl = make(clock, /*rate=*/2, /*burst=*/5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl->acquire("k").allowed) << i;
  RateDecision d = rl->acquire("k");
  EXPECT_FALSE(d.allowed);
  EXPECT_DOUBLE_EQ(d.retry_after_seconds, 0.5);  // one token at 2/s
  EXPECT_EQ(d.retry_after_header(), 1);
  // A refused request spends nothing: after 0.5 s exactly one more passes.
  clock.t += 0.5;
  EXPECT_TRUE(rl->acquire("k").allowed);
  EXPECT_FALSE(rl->acquire("k").allowed);
}

TEST(RateLimiter, RefillsAtTheRateAndCapsAtBurst) {
  FakeClock clock;
  auto rl = make(clock, 10, 3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rl->acquire("k").allowed);
  clock.t += 3600;  // a long quiet spell still gives only `burst`
  int passed = 0;
  while (rl->acquire("k").allowed) ++passed;
  EXPECT_EQ(passed, 3);
  // Over 10 s of steady traffic at 20/s, about rate * 10 pass.
  passed = 0;
  for (int i = 0; i < 200; ++i) {
    clock.t += 0.05;
    passed += rl->acquire("k").allowed;
  }
  EXPECT_NEAR(passed, 100, 1);
}

TEST(RateLimiter, KeysHaveSeparateBuckets) {
  FakeClock clock;
  auto rl = make(clock, 1, 2);
  EXPECT_TRUE(rl->acquire("a").allowed);
  EXPECT_TRUE(rl->acquire("a").allowed);
  EXPECT_FALSE(rl->acquire("a").allowed);
  EXPECT_TRUE(rl->acquire("b").allowed);
}

TEST(RateLimiter, CostAboveBurstAndBadCosts) {
  FakeClock clock;
  auto rl = make(clock, 4, 8);
  RateDecision d = rl->acquire("k", 9);
  EXPECT_FALSE(d.allowed);
  EXPECT_GE(d.retry_after_header(), 1);
  EXPECT_TRUE(rl->acquire("k", 8).allowed);  // the refused one spent nothing
  RateDecision slow = rl->acquire("k", 2);
  EXPECT_FALSE(slow.allowed);
  EXPECT_DOUBLE_EQ(slow.retry_after_seconds, 0.5);
}

TEST(RateLimiter, ClockGoingBackwardsEarnsNothing) {
  FakeClock clock;
  auto rl = make(clock, 1, 1);
  EXPECT_TRUE(rl->acquire("k").allowed);
  clock.t -= 100;
  EXPECT_FALSE(rl->acquire("k").allowed);
  clock.t += 101;
  EXPECT_TRUE(rl->acquire("k").allowed);
}

TEST(RateLimiter, BadOptionsAreRefused) {
  for (auto [rate, burst] : {std::pair{0.0, 5.0}, {-1.0, 5.0}, {1.0, 0.5}, {1.0 / 0.0, 5.0}, {1.0, 0.0 / 0.0}}) {
    RateLimiterOptions o;
    o.rate_per_second = rate;
    o.burst = burst;
    auto r = RateLimiter::make(o);
    EXPECT_FALSE(r) << rate << " " << burst;
    if (!r) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(RateLimiter, MemoryIsBoundedAndRefilledBucketsGoFirst) {
  FakeClock clock;
  auto rl = make(clock, 1, 2, /*max_keys=*/160);
  for (int i = 0; i < 5000; ++i) rl->acquire("key-" + std::to_string(i));
  EXPECT_LE(rl->size(), 160u);
  // A busy key survives a flood of keys that refill before it does.
  auto busy = make(clock, 1, 2, 160);
  ASSERT_TRUE(busy->acquire("busy").allowed);
  ASSERT_TRUE(busy->acquire("busy").allowed);
  for (int i = 0; i < 2000; ++i) {
    busy->acquire("idle-" + std::to_string(i), 0);  // cost 0: buckets stay full
  }
  EXPECT_FALSE(busy->acquire("busy").allowed);
}

TEST(RateLimiter, ConcurrentAcquiresNeverOverspend) {
  FakeClock clock;  // frozen: exactly `burst` may pass in total
  auto rl = make(clock, 1, 1000);
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) passed += rl->acquire("shared").allowed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed.load(), 1000);
}

}  // namespace
}  // namespace ragd::auth
