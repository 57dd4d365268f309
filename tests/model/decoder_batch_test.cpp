// DecoderBatch: eight sequences with different prompts and lengths decoded
// in shared forward passes give each sequence the greedy tokens (and the
// logits, bit for bit) it gets alone, on llama.cpp's golden models (F32, F16,
// Q8_0 weights; llama and qwen2) and on a builder-made Q4_K model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/decoder_batch.h"
#include "model/llama.h"
#include "tests/model/golden_data.h"
#include "tests/model/tiny_models.h"

namespace ragd {
namespace {

constexpr int kSeqs = 8;
constexpr int kSteps = 24;
constexpr size_t kChunk = 64;  // prompt chunk, alone and batched

int argmax(const float* v, size_t n) { return static_cast<int>(std::max_element(v, v + n) - v); }

// Prompt i: a slice of `base` whose start and length differ per sequence
// (lengths from 5 to well over one chunk), so positions and cache lengths
// all differ.
std::vector<std::vector<int32_t>> make_prompts(const std::vector<int32_t>& base) {
  std::vector<std::vector<int32_t>> p;
  const size_t lens[kSeqs] = {5, 90, 17, 33, 12, 70, 1, 48};
  for (int i = 0; i < kSeqs; ++i) {
    std::vector<int32_t> v;
    for (size_t j = 0; j < lens[i]; ++j) v.push_back(base[(j * (i + 1) + 3 * i) % base.size()]);
    p.push_back(std::move(v));
  }
  return p;
}

struct Run {
  std::vector<int32_t> ids;
  std::vector<std::vector<float>> logits;  // after each step
};

Run run_alone(std::shared_ptr<const DecoderModel> model, const DecoderSessionOptions& so,
              const std::vector<int32_t>& prompt) {
  DecoderSession s(model, so);
  std::vector<float> logits;
  for (size_t i = 0; i < prompt.size(); i += kChunk) {
    const auto part = std::span<const int32_t>(prompt).subspan(i, std::min(kChunk, prompt.size() - i));
    EXPECT_TRUE(s.eval(part, &logits).is_ok());
  }
  Run r;
  for (int step = 0; step < kSteps; ++step) {
    const int32_t id = argmax(logits.data(), logits.size());
    r.ids.push_back(id);
    EXPECT_TRUE(s.eval(std::span<const int32_t>(&id, 1), &logits).is_ok());
    r.logits.push_back(logits);
  }
  return r;
}

// Continuous batching: sequence i joins at pass 2*i; its prompt chunks go
// through the same passes as the other sequences' decode steps.
std::vector<Run> run_batched(std::shared_ptr<const DecoderModel> model, const DecoderSessionOptions& so,
                             const std::vector<std::vector<int32_t>>& prompts) {
  DecoderBatch batch(model, so.n_threads);
  const size_t V = static_cast<size_t>(model->config().n_vocab);
  std::vector<std::unique_ptr<DecoderSession>> sessions;
  std::vector<Run> runs(prompts.size());
  std::vector<size_t> fed(prompts.size(), 0);
  std::vector<std::vector<float>> logits(prompts.size(), std::vector<float>(V));
  std::vector<int32_t> next(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) sessions.push_back(std::make_unique<DecoderSession>(model, so));
  for (int pass = 0; pass < 1000; ++pass) {
    std::vector<DecodeItem> items;
    std::vector<size_t> who;
    bool all_done = true;
    for (size_t i = 0; i < prompts.size(); ++i) {
      if (runs[i].ids.size() < kSteps || fed[i] < prompts[i].size()) all_done = false;
      if (pass < static_cast<int>(2 * i) || static_cast<int>(runs[i].logits.size()) == kSteps) continue;
      if (fed[i] < prompts[i].size()) {
        const size_t n = std::min(kChunk, prompts[i].size() - fed[i]);
        items.push_back({sessions[i].get(), std::span<const int32_t>(prompts[i]).subspan(fed[i], n),
                         logits[i].data(), nullptr});
        fed[i] += n;
      } else {
        next[i] = argmax(logits[i].data(), V);
        runs[i].ids.push_back(next[i]);
        items.push_back({sessions[i].get(), std::span<const int32_t>(&next[i], 1), logits[i].data(), nullptr});
      }
      who.push_back(i);
    }
    if (all_done && items.empty()) break;
    const Status st = batch.forward(items);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    if (!st.is_ok()) break;
    for (size_t k = 0; k < who.size(); ++k) {
      const size_t i = who[k];
      if (fed[i] == prompts[i].size() && items[k].tokens.size() == 1 && !runs[i].ids.empty() &&
          runs[i].logits.size() < runs[i].ids.size()) {
        runs[i].logits.push_back(logits[i]);
      }
    }
  }
  return runs;
}

void expect_same(std::shared_ptr<const DecoderModel> model, KvType kv, const std::vector<int32_t>& base) {
  DecoderSessionOptions so;
  so.kv_type = kv;
  so.n_ctx = 256;
  so.n_threads = 2;
  const auto prompts = make_prompts(base);
  const auto batched = run_batched(model, so, prompts);
  int differing_logits = 0;
  for (int i = 0; i < kSeqs; ++i) {
    const Run alone = run_alone(model, so, prompts[static_cast<size_t>(i)]);
    ASSERT_EQ(batched[static_cast<size_t>(i)].ids.size(), static_cast<size_t>(kSteps)) << "sequence " << i;
    EXPECT_EQ(batched[static_cast<size_t>(i)].ids, alone.ids) << "sequence " << i;
    for (int t = 0; t < kSteps; ++t) {
      differing_logits += batched[static_cast<size_t>(i)].logits[static_cast<size_t>(t)] !=
                          alone.logits[static_cast<size_t>(t)];
    }
  }
  EXPECT_EQ(differing_logits, 0) << "steps whose logits differ from the sequence alone";
}

std::vector<int32_t> golden_prompt(const std::filesystem::path& json) {
  std::ifstream in(json);
  const auto j = nlohmann::json::parse(in);
  return j["prompt"]["token_ids"].get<std::vector<int32_t>>();
}

struct Case {
  const char* dir;
  const char* model;
  const char* golden;
  KvType kv;
};

class DecoderBatchGolden : public ::testing::TestWithParam<Case> {};

TEST_P(DecoderBatchGolden, EightSequencesDecodeAsAlone) {
  const Case& c = GetParam();
  const auto dir = testing::golden_models_dir() / c.dir;
  RAGD_NEED_TESTDATA(dir / c.model);
  RAGD_NEED_TESTDATA(dir / c.golden);
  auto model = DecoderModel::load((dir / c.model).string());
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  expect_same(*model, c.kv, golden_prompt(dir / c.golden));
}

INSTANTIATE_TEST_SUITE_P(
    Models, DecoderBatchGolden,
    ::testing::Values(Case{"llama-mini", "llama-mini-q8_0.gguf", "llama-mini-q8_0.kvf16.json", KvType::kF16},
                      Case{"llama-mini", "llama-mini-f16.gguf", "llama-mini-f16.kvf16.json", KvType::kF16},
                      Case{"llama-mini", "llama-mini-f32.gguf", "llama-mini-f32.kvf32.json", KvType::kF32},
                      Case{"qwen2-mini", "qwen2-mini-f32.gguf", "qwen2-mini-f32.kvf16.json", KvType::kF16}),
    [](const ::testing::TestParamInfo<Case>& info) { return testing::golden_case_name(info.param.golden); });

TEST(DecoderBatch, Q4KSequencesDecodeAsAlone) {
  testing_tiny::TinySpec spec;
  spec.vocab = 300;
  spec.embd = 256;
  spec.ff = 512;
  spec.heads = 4;
  spec.heads_kv = 2;
  spec.ctx = 256;
  spec.wtype = GgmlType::Q4_K;
  spec.with_tokenizer = false;
  const std::string path = testing_tiny::write_tiny_decoder(spec, nullptr, "batch_q4k");
  auto model = DecoderModel::load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  ASSERT_EQ((*model)->gguf().tensor("blk.0.attn_q.weight")->type, GgmlType::Q4_K);
  std::vector<int32_t> base;
  for (int i = 0; i < 120; ++i) base.push_back((i * 37 + 11) % spec.vocab);
  expect_same(*model, KvType::kF16, base);
}

TEST(DecoderBatch, RefusesBadItems) {
  testing_tiny::TinySpec spec;
  const std::string path = testing_tiny::write_tiny_decoder(spec, nullptr, "batch_bad");
  auto model = DecoderModel::load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(model.is_ok());
  DecoderSessionOptions so;
  so.n_ctx = 8;
  DecoderSession a(*model, so), b(*model, so);
  DecoderBatch batch(*model, 1);
  const int32_t ok[] = {1, 2};
  const int32_t bad[] = {1, 999};
  const int32_t many[10] = {};
  DecodeItem twice[] = {{&a, ok}, {&a, ok}};
  EXPECT_FALSE(batch.forward(twice).is_ok());
  DecodeItem out_of_vocab[] = {{&a, ok}, {&b, bad}};
  EXPECT_FALSE(batch.forward(out_of_vocab).is_ok());
  DecodeItem too_long[] = {{&a, many}};
  EXPECT_EQ(batch.forward(too_long).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(a.n_past(), 0);
  EXPECT_EQ(b.n_past(), 0);
  DecodeItem fine[] = {{&a, ok}, {&b, ok}};
  std::vector<float> la(static_cast<size_t>(a.n_vocab()));
  fine[0].logits_last = la.data();
  EXPECT_TRUE(batch.forward(fine).is_ok());
  EXPECT_EQ(a.n_past(), 2);
  EXPECT_EQ(b.n_past(), 2);
}

}  // namespace
}  // namespace ragd
