// BatchScheduler: generations on many threads share forward passes and get
// the tokens they get alone; cancellation stays per sequence.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "model/batch_scheduler.h"
#include "model/generator.h"
#include "tests/model/golden_data.h"

namespace ragd {
namespace {

const std::filesystem::path kDir = testing::golden_models_dir() / "llama-mini";

std::vector<std::vector<int32_t>> prompts_from(const std::filesystem::path& json, int n) {
  std::ifstream in(json);
  const auto base = nlohmann::json::parse(in)["prompt"]["token_ids"].get<std::vector<int32_t>>();
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> p;
    const size_t len = 3 + static_cast<size_t>(i) * 23 % 150;
    for (size_t j = 0; j < len; ++j) p.push_back(base[(j * (i + 2) + static_cast<size_t>(i)) % base.size()]);
    out.push_back(std::move(p));
  }
  return out;
}

GenerateOptions greedy(int max_tokens) {
  GenerateOptions go;
  go.max_tokens = max_tokens;
  go.stop_at_eog = false;
  go.should_stop = [](int) { return Status::ok(); };  // prompts in 64-token chunks
  go.prompt_chunk = 64;
  return go;
}

// Each prompt generated alone, one after another.
std::vector<std::vector<int32_t>> run_alone(const Generator& gen, const std::vector<std::vector<int32_t>>& prompts,
                                            DecoderSessionOptions so, int max_tokens, int extra_per_prompt) {
  std::vector<std::vector<int32_t>> out(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    DecoderSession s(gen.model_shared(), so);
    auto g = gen.generate(s, prompts[i], greedy(max_tokens + extra_per_prompt * static_cast<int>(i)));
    EXPECT_TRUE(g.is_ok());
    if (g.is_ok()) out[i] = g->tokens;
  }
  return out;
}

// Each prompt generated on a thread of its own through `sched`, all at once.
std::vector<std::vector<int32_t>> run_together(const Generator& gen, BatchScheduler& sched,
                                               const std::vector<std::vector<int32_t>>& prompts,
                                               DecoderSessionOptions so, int max_tokens, int extra_per_prompt) {
  so.scheduler = &sched;
  std::vector<std::vector<int32_t>> out(prompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      DecoderSession s(gen.model_shared(), so);
      auto g = gen.generate(s, prompts[i], greedy(max_tokens + extra_per_prompt * static_cast<int>(i)));
      if (g.is_ok()) out[i] = g->tokens;
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// llama-mini Q8_0, twelve prompts of its golden text, sessions of 256
// positions on 2 threads.
class SchedulerOnMini : public ::testing::Test {
 protected:
  static constexpr int n = 12;
  void SetUp() override {
    const auto model_path = kDir / "llama-mini-q8_0.gguf";
    RAGD_NEED_TESTDATA(model_path);
    auto m = DecoderModel::load(model_path.string());
    ASSERT_TRUE(m.is_ok());
    model = *m;
    gen = std::make_unique<Generator>(model, nullptr);
    prompts = prompts_from(kDir / "llama-mini-q8_0.kvf16.json", n);
    so.n_ctx = 256;
    so.n_threads = 2;
  }
  std::shared_ptr<const DecoderModel> model;
  std::unique_ptr<Generator> gen;
  std::vector<std::vector<int32_t>> prompts;
  DecoderSessionOptions so;
};

TEST_F(SchedulerOnMini, ConcurrentGenerationsMatchAlone) {
  const auto alone = run_alone(*gen, prompts, so, 20, 1);
  BatchSchedulerOptions bo;
  bo.max_sequences = 8;  // fewer than the threads: some wait for a slot
  bo.n_threads = 2;
  BatchScheduler sched(model, bo);
  const auto batched = run_together(*gen, sched, prompts, so, 20, 1);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(batched[static_cast<size_t>(i)], alone[static_cast<size_t>(i)]) << "sequence " << i;
  }
  const BatchSchedulerStats st = sched.stats();
  std::printf("[sched] %lld passes, %lld rows (%lld decode), at most %lld sequences in a pass\n",
              static_cast<long long>(st.passes), static_cast<long long>(st.rows),
              static_cast<long long>(st.decode_rows), static_cast<long long>(st.max_items));
  EXPECT_GT(st.max_items, 1);
  EXPECT_LE(st.max_items, 8);
  // Shared passes: far fewer passes than decode steps.
  EXPECT_LT(st.passes, st.decode_rows * 3 / 4);
}

// Twelve requests arriving together with short prompts (as after a prefix
// cache hit) are prefilled within the prompt budget per pass, in several
// passes, rather than all in the first one; each still gets its tokens.
TEST_F(SchedulerOnMini, ABurstOfShortPromptsKeepsToThePromptBudget) {
  for (auto& p : prompts) p.resize(std::min<size_t>(p.size(), 3 + p.size() % 10));  // 3 to 12 tokens
  const auto alone = run_alone(*gen, prompts, so, 6, 0);
  BatchSchedulerOptions bo;
  bo.max_sequences = 16;
  bo.prefill_chunk = 64;
  bo.prefill_tokens = 16;
  bo.n_threads = 2;
  bo.gather_wait = std::chrono::milliseconds(20);
  BatchScheduler sched(model, bo);
  EXPECT_EQ(run_together(*gen, sched, prompts, so, 6, 0), alone);
  // A pass holds at most the 16-token budget of prompt plus one step (one
  // token, no drafts here) per running session; all twelve prompts in one
  // pass would be far more.
  const BatchSchedulerStats st = sched.stats();
  size_t total = 0;
  for (const auto& p : prompts) total += p.size();
  ASSERT_GT(total, 16u + n);
  EXPECT_LE(st.max_rows, 16 + n);
  EXPECT_GE(st.max_rows, 3);
}

TEST(BatchScheduler, CancelledSequenceLeavesOthersRunning) {
  const auto model_path = kDir / "llama-mini-q8_0.gguf";
  RAGD_NEED_TESTDATA(model_path);
  auto model = DecoderModel::load(model_path.string());
  ASSERT_TRUE(model.is_ok());
  Generator gen(*model, nullptr);
  const auto prompts = prompts_from(kDir / "llama-mini-q8_0.kvf16.json", 4);
  BatchSchedulerOptions bo;
  bo.n_threads = 2;
  BatchScheduler sched(*model, bo);
  DecoderSessionOptions so;
  so.n_ctx = 256;
  so.scheduler = &sched;
  std::vector<Result<Generation>> out(4, Status::internal("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      DecoderSession s(*model, so);
      GenerateOptions go = greedy(40);
      if (i == 1) {
        go.should_stop = [](int n_gen) {
          return n_gen >= 5 ? Status::cancelled("client went away") : Status::ok();
        };
      }
      out[static_cast<size_t>(i)] = gen.generate(s, prompts[static_cast<size_t>(i)], go);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(out[static_cast<size_t>(i)].is_ok()) << i;
    if (i == 1) {
      EXPECT_EQ(out[1]->finish, FinishReason::kCancelled);
      EXPECT_EQ(out[1]->tokens.size(), 5u);
    } else {
      EXPECT_EQ(out[static_cast<size_t>(i)]->finish, FinishReason::kMaxTokens);
      EXPECT_EQ(out[static_cast<size_t>(i)]->tokens.size(), 40u);
    }
  }
}

TEST(BatchScheduler, BadTokensFailOnlyTheirRequest) {
  const auto model_path = kDir / "llama-mini-q8_0.gguf";
  RAGD_NEED_TESTDATA(model_path);
  auto model = DecoderModel::load(model_path.string());
  ASSERT_TRUE(model.is_ok());
  BatchScheduler sched(*model, {});
  DecoderSessionOptions so;
  so.n_ctx = 16;
  so.scheduler = &sched;
  DecoderSession s(*model, so);
  std::vector<float> logits;
  const int32_t bad[] = {5, 1 << 30};
  EXPECT_EQ(s.eval(bad, &logits).code(), StatusCode::kInvalidArgument);
  std::vector<int32_t> many(17, 3);
  EXPECT_EQ(s.eval(many, &logits).code(), StatusCode::kResourceExhausted);
  const int32_t ok[] = {5, 6, 7};
  EXPECT_TRUE(s.eval(ok, &logits).is_ok());
  EXPECT_EQ(s.n_past(), 3);
  EXPECT_EQ(logits.size(), static_cast<size_t>(s.n_vocab()));
}

}  // namespace
}  // namespace ragd
