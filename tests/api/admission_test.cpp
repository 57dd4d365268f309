// The generation routes' admission queue: slots in arrival order, waiters
// woken by callback (no thread parked), withdraw at the deadline, 503 when
// full, and places given back by whichever ticket goes away.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "api/admission.h"

namespace ragd::api {
namespace {

TEST(AdmissionQueue, RunsAtOnceWhenFreeQueuesThenRefuses) {
  AdmissionQueue q(1, 2);
  auto a = q.admit();
  ASSERT_TRUE(a.is_ok());
  EXPECT_TRUE((*a)->running());
  auto b = q.admit();
  auto c = q.admit();
  ASSERT_TRUE(b.is_ok() && c.is_ok());
  EXPECT_FALSE((*b)->running());
  EXPECT_EQ(q.running(), 1);
  EXPECT_EQ(q.waiting(), 2);
  auto d = q.admit();
  ASSERT_FALSE(d.is_ok());
  EXPECT_EQ(d.status().code(), StatusCode::kUnavailable);
}

TEST(AdmissionQueue, FreedSlotsWakeTheOldestWaiterFirst) {
  AdmissionQueue q(1, 4);
  auto first = std::move(q.admit()).value();
  auto second = std::move(q.admit()).value();
  auto third = std::move(q.admit()).value();
  std::vector<int> woken;
  second->when_running([&] { woken.push_back(2); });
  third->when_running([&] { woken.push_back(3); });
  EXPECT_TRUE(woken.empty());
  first.reset();  // gives the slot to `second`
  ASSERT_EQ(woken, std::vector<int>{2});
  EXPECT_TRUE(second->running());
  EXPECT_FALSE(third->running());
  second.reset();
  ASSERT_EQ(woken, (std::vector<int>{2, 3}));
  EXPECT_EQ(q.running(), 1);
  EXPECT_EQ(q.waiting(), 0);
  // A ticket that already runs wakes at once.
  bool now = false;
  third->when_running([&] { now = true; });
  EXPECT_TRUE(now);
}

TEST(AdmissionQueue, WithdrawGivesThePlaceBackUnlessTheSlotCameFirst) {
  AdmissionQueue q(1, 1);
  auto running = std::move(q.admit()).value();
  auto waiting = std::move(q.admit()).value();
  bool woken = false;
  waiting->when_running([&] { woken = true; });
  EXPECT_FALSE(q.admit().is_ok());  // full
  EXPECT_FALSE(waiting->withdraw());  // the deadline passed first
  EXPECT_EQ(q.waiting(), 0);
  auto again = q.admit();  // its place is free again
  ASSERT_TRUE(again.is_ok());
  running.reset();  // the slot goes to `again`, not to the withdrawn ticket
  EXPECT_FALSE(woken);
  EXPECT_TRUE((*again)->running());
  EXPECT_TRUE((*again)->withdraw());  // running already: keeps the slot
  waiting.reset();
  EXPECT_EQ(q.running(), 1);
}

TEST(AdmissionQueue, ManyThreadsNeverExceedTheSlots) {
  AdmissionQueue q(2, 64);
  std::atomic<int> inside{0}, most{0}, done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      auto t = q.admit();
      ASSERT_TRUE(t.is_ok());
      std::atomic<bool> go{false};
      (*t)->when_running([&] { go = true; });
      while (!go.load()) std::this_thread::yield();
      int now = ++inside;
      int m = most.load();
      while (now > m && !most.compare_exchange_weak(m, now)) {}
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      --inside;
      t->reset();
      ++done;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 16);
  EXPECT_LE(most.load(), 2);
  EXPECT_EQ(q.running(), 0);
  EXPECT_EQ(q.waiting(), 0);
}

}  // namespace
}  // namespace ragd::api
