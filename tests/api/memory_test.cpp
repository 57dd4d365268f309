// What keeps the server's memory flat: generations run on a fixed set of
// model threads whatever thread asks (ModelThreads), and /metrics shows the
// process's resident memory and malloc's in-use and free bytes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "service/model_threads.h"
#include "api/metrics.h"
#include "api/process_memory.h"
#include "tests/sanitizer.h"

namespace ragd::api {
namespace {

TEST(ModelThreads, WorkFromManyCallersRunsOnTheFixedThreads) {
  std::mutex mu;
  std::set<std::thread::id> ran_on, callers;
  std::atomic<int> on_caller{0}, runs{0};
  {
    ModelThreads threads(2);
    EXPECT_EQ(threads.size(), 2);
    std::vector<std::thread> th;
    for (int c = 0; c < 8; ++c) {
      th.emplace_back([&] {
        {
          std::lock_guard lock(mu);
          callers.insert(std::this_thread::get_id());
        }
        for (int i = 0; i < 25; ++i) {
          threads.run([&] {
            std::lock_guard lock(mu);
            if (callers.count(std::this_thread::get_id())) ++on_caller;
            ran_on.insert(std::this_thread::get_id());
            ++runs;
          });
        }
      });
    }
    for (auto& x : th) x.join();
  }
  EXPECT_EQ(runs.load(), 200);
  EXPECT_EQ(on_caller.load(), 0);
  EXPECT_GE(ran_on.size(), 1u);
  EXPECT_LE(ran_on.size(), 2u) << "work ran on more threads than the model has";
}

TEST(ModelThreads, RunWaitsForTheWorkAndRethrows) {
  ModelThreads threads(1);
  int value = 0;
  threads.run([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    value = 42;
  });
  EXPECT_EQ(value, 42);
  EXPECT_THROW(threads.run([] { throw std::runtime_error("boom"); }), std::runtime_error);
  threads.run([&] { value = 7; });  // the thread survived the exception
  EXPECT_EQ(value, 7);
}

TEST(ProcessMemory, MallocInUseFollowsALiveBlock) {
  if (ragd::testing::kSanitized) {
    GTEST_SKIP() << "a sanitizer replaces malloc, so glibc's malloc statistics do not see the block";
  }
  const ProcessMemory before = process_memory();
  EXPECT_GT(before.resident_bytes, 0u);
  const size_t n = 48u << 20;
  char* p = static_cast<char*>(std::malloc(n));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, n);
  const ProcessMemory during = process_memory();
  EXPECT_GE(during.malloc_in_use, before.malloc_in_use + n);
  EXPECT_GE(during.resident_bytes, before.resident_bytes + n / 2);
  std::free(p);
  const ProcessMemory after = process_memory();
  EXPECT_LT(after.malloc_in_use, during.malloc_in_use - n / 2);
}

// A block freed after the fixed threshold does not raise it: the next,
// smaller block of over 1 MiB is mapped on its own again (and given back on
// free), instead of coming from an arena that keeps it.
TEST(ProcessMemory, FixedMmapThresholdKeepsLargeBlocksOutOfTheArenas) {
  if (ragd::testing::kSanitized) {
    GTEST_SKIP() << "a sanitizer replaces malloc, so mallopt and glibc's statistics do not apply";
  }
  if (!fix_malloc_mmap_threshold()) GTEST_SKIP() << "GLIBC_TUNABLES sets the mmap threshold";
  void* big = std::malloc(8u << 20);
  ASSERT_NE(big, nullptr);
  std::free(big);  // with a dynamic threshold: now 8 MiB
  const ProcessMemory before = process_memory();
  const size_t n = 3u << 20;
  char* p = static_cast<char*>(std::malloc(n));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, n);
  const ProcessMemory during = process_memory();
  EXPECT_GE(during.malloc_mmapped, before.malloc_mmapped + n);
  std::free(p);
  EXPECT_LE(process_memory().malloc_mmapped, before.malloc_mmapped);
}

TEST(ProcessMemory, MetricsExposeTheGauges) {
  Registry r;
  register_process_memory_metrics(r);
  const std::string text = r.expose();
  for (const char* line : {"# TYPE process_resident_memory_bytes gauge", "ragd_malloc_bytes{state=\"in_use\"} ",
                           "ragd_malloc_bytes{state=\"free\"} ", "ragd_malloc_bytes{state=\"mmapped\"} "}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  // The resident size is filled at scrape time, not left at zero.
  const size_t at = text.find("\nprocess_resident_memory_bytes ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::atof(text.c_str() + at + std::strlen("\nprocess_resident_memory_bytes ")), 1e6);
}

}  // namespace
}  // namespace ragd::api
