// SerialWorker: one thread for every task, tasks in submission order,
// results and exceptions through the future, queued tasks run before the
// destructor returns.
#include "ragd/serial_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ragd {
namespace {

TEST(SerialWorker, RunsTasksInOrderOnOneLongLivedThread) {
  SerialWorker worker;
  std::vector<int> order;  // touched only by the worker thread
  std::set<std::thread::id> threads;
  std::vector<std::future<int>> results;
  for (int i = 0; i < 200; ++i) {
    results.push_back(worker.submit([&order, &threads, i] {
      order.push_back(i);
      threads.insert(std::this_thread::get_id());
      return i * i;
    }));
  }
  for (int i = 0; i < 200; ++i) EXPECT_EQ(results[static_cast<size_t>(i)].get(), i * i);
  ASSERT_EQ(order.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_NE(*threads.begin(), std::this_thread::get_id());
}

TEST(SerialWorker, CarriesExceptionsAndKeepsWorking) {
  SerialWorker worker;
  auto bad = worker.submit([]() -> int { throw std::runtime_error("write failed"); });
  EXPECT_THROW(bad.get(), std::runtime_error);
  EXPECT_EQ(worker.submit([] { return 7; }).get(), 7);
}

TEST(SerialWorker, DestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    SerialWorker worker;
    for (int i = 0; i < 50; ++i) {
      (void)worker.submit([&ran] {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        ++ran;
      });
    }
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(SerialWorker, SubmitFromManyThreads) {
  SerialWorker worker;
  int sum = 0;  // only the worker thread adds
  std::vector<std::thread> callers;
  std::atomic<int> done{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int i = 1; i <= 100; ++i) worker.submit([&sum, i] { sum += i; }).get();
      ++done;
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(done.load(), 4);
  EXPECT_EQ(worker.submit([&sum] { return sum; }).get(), 4 * 5050);
}

}  // namespace
}  // namespace ragd
