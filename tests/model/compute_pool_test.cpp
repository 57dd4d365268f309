// The generation thread pool: every task runs exactly once, idle workers
// sleep, and a decoder gives the same tokens and logits on 1, 2 and 3 threads.
#include "model/compute_pool.h"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>

#include "model/generator.h"
#include "model/llama.h"
#include "tests/model/tiny_models.h"

namespace ragd {
namespace {

TEST(ComputePool, EveryTaskRunsExactlyOnce) {
  ComputePool pool(3);
  ComputePool::Scope scope(&pool);
  ASSERT_EQ(ComputePool::current(), &pool);
  std::mt19937 rng(3);
  std::vector<std::atomic<int>> hits(400);
  for (int job = 0; job < 3000; ++job) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % hits.size());
    for (int64_t i = 0; i < n; ++i) hits[static_cast<size_t>(i)].store(0);
    parallel_for(n, 3, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "job " << job << " task " << i;
  }
  // More tasks than one job's counter holds: run in parts.
  std::vector<std::atomic<int>> many(70'000);
  parallel_for(static_cast<int64_t>(many.size()), 3, [&](int64_t i) { many[static_cast<size_t>(i)].fetch_add(1); });
  for (size_t i = 0; i < many.size(); ++i) ASSERT_EQ(many[i].load(), 1) << "task " << i;
}

// A task that throws (on a worker or on the caller) stops no other task:
// run() returns after all of them, then throws on the caller's thread, and
// the pool runs the next job as before.
TEST(ComputePool, ATaskThatThrowsIsRethrownAfterEveryTaskRan) {
  ComputePool pool(3);
  ComputePool::Scope scope(&pool);
  for (int64_t bad : {int64_t{0}, int64_t{17}, int64_t{63}}) {
    std::vector<std::atomic<int>> hits(64);
    struct Job {
      std::vector<std::atomic<int>>* hits;
      int64_t bad;
    } job{&hits, bad};
    EXPECT_THROW(pool.run(
                     64,
                     [](void* p, int64_t i) {
                       auto* j = static_cast<Job*>(p);
                       (*j->hits)[static_cast<size_t>(i)].fetch_add(1);
                       if (i == j->bad) throw std::runtime_error("task failed");
                     },
                     &job),
                 std::runtime_error)
        << "task " << bad;
    for (size_t i = 0; i < hits.size(); ++i) EXPECT_EQ(hits[i].load(), 1) << "task " << i;
  }
  std::atomic<int> after{0};
  parallel_for(64, 3, [&](int64_t) { after.fetch_add(1); });
  EXPECT_EQ(after.load(), 64);
}

TEST(ComputePool, OutsideAScopeUsesOpenMpAndRunOutsideAScopeWorks) {
  EXPECT_EQ(ComputePool::current(), nullptr);
  std::atomic<int64_t> sum{0};
  parallel_for(1000, 2, [&](int64_t i) { sum.fetch_add(i); });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
  ComputePool pool(2);
  sum = 0;
  pool.run(
      100, [](void* ctx, int64_t i) { static_cast<std::atomic<int64_t>*>(ctx)->fetch_add(i); }, &sum);
  EXPECT_EQ(sum.load(), 99 * 100 / 2);
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TEST(ComputePool, IdleWorkersSleepButSpinInsideAScope) {
  ComputePool pool(3);
  {
    ComputePool::Scope scope(&pool);
    std::atomic<int> n{0};
    parallel_for(64, 3, [&](int64_t) { n.fetch_add(1); });
    EXPECT_EQ(n.load(), 64);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the grace period
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double idle = process_cpu_seconds() - before;
  EXPECT_LT(idle, 0.05) << "two idle workers used " << idle << " s of CPU in 0.3 s";
  // Inside a scope they wait for work actively (this is what makes them fast).
  double busy = 0;
  {
    ComputePool::Scope scope(&pool);
    const double t0 = process_cpu_seconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    busy = process_cpu_seconds() - t0;
  }
  EXPECT_GT(busy, idle);
}

class PoolDecoder : public ::testing::TestWithParam<GgmlType> {};

// Rows are split between threads but every sum is computed by one thread in
// one order, so the thread count changes nothing, bit for bit.
TEST_P(PoolDecoder, SameTokensAndLogitsOnOneTwoAndThreeThreads) {
  testing_tiny::TinySpec spec;
  spec.embd = 64;
  spec.ff = 160;
  spec.layers = 3;
  spec.wtype = GetParam();
  spec.seed = 21;
  const std::string path =
      testing_tiny::write_tiny_decoder(spec, nullptr, "pool" + std::to_string(static_cast<int>(spec.wtype)));
  auto model = DecoderModel::load(path);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  Generator gen(*model, nullptr);
  GenerateOptions go;
  go.max_tokens = 40;
  go.stop_at_eog = false;
  const std::vector<int32_t> prompt = {1, 5, 9, 20, 33, 7};
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::vector<float>> logits;
  for (int threads : {1, 2, 3}) {
    DecoderSession s(*model, {.n_ctx = 64, .kv_type = KvType::kF16, .n_threads = threads, .n_batch = 256});
    auto g = gen.generate(s, prompt, go);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    tokens.push_back(g->tokens);
    std::vector<float> last;
    const int32_t next = 3;
    ASSERT_TRUE(s.eval(std::span<const int32_t>(&next, 1), &last).is_ok());
    logits.push_back(last);
  }
  EXPECT_EQ(tokens[0].size(), 40u);
  EXPECT_EQ(tokens[0], tokens[1]);
  EXPECT_EQ(tokens[0], tokens[2]);
  EXPECT_EQ(logits[0], logits[1]);
  EXPECT_EQ(logits[0], logits[2]);
  // Two sessions with pools of their own, generating at the same time.
  std::vector<std::vector<int32_t>> par(2);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < par.size(); ++i) {
    threads.emplace_back([&, i] {
      DecoderSession s(*model, {.n_ctx = 64, .kv_type = KvType::kF16, .n_threads = 2, .n_batch = 256});
      auto g = gen.generate(s, prompt, go);
      if (g.is_ok()) par[i] = g->tokens;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(par[0], tokens[0]);
  EXPECT_EQ(par[1], tokens[0]);
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Types, PoolDecoder, ::testing::Values(GgmlType::F32, GgmlType::F16, GgmlType::Q8_0));

}  // namespace
}  // namespace ragd
