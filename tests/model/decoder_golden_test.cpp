// Decoder conformance against llama.cpp's golden outputs in
// ../shared/testdata/models (see its README for formats and tolerances).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/llama.h"
#include "tests/model/golden_data.h"

namespace ragd {
namespace {

const std::filesystem::path kModels = testing::golden_models_dir();

struct Golden {
  std::vector<int32_t> prompt;
  std::vector<int32_t> greedy;
  std::vector<float> step_margins;
  std::vector<float> logits_last;
};

bool load_golden(const std::filesystem::path& json_path, Golden* g) {
  std::ifstream in(json_path);
  if (!in) return false;
  const auto j = nlohmann::json::parse(in);
  g->prompt = j["prompt"]["token_ids"].get<std::vector<int32_t>>();
  g->greedy = j["greedy"]["token_ids"].get<std::vector<int32_t>>();
  g->step_margins = j["greedy"]["step_margins"].get<std::vector<float>>();
  const auto bin = json_path.parent_path() / j["logits_last_file"].get<std::string>();
  std::ifstream lb(bin, std::ios::binary);
  if (!lb) return false;
  lb.seekg(0, std::ios::end);
  const auto bytes = static_cast<size_t>(lb.tellg());
  lb.seekg(0);
  g->logits_last.resize(bytes / 4);
  lb.read(reinterpret_cast<char*>(g->logits_last.data()), static_cast<std::streamsize>(bytes));
  return true;
}

int argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

struct RunResult {
  float max_abs_diff = 0;
  float max_abs_golden = 0;
  double cosine = 0;
  int ids_equal_prefix = 0;
  std::vector<int32_t> ids;
};

// Runs the prompt, compares the last logits, then decodes greedily n steps.
RunResult run(const std::string& model_file, const Golden& g, KvType kv, int n_steps, int n_threads = 2) {
  RunResult r;
  auto model = DecoderModel::load(model_file);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  if (!model.is_ok()) return r;
  DecoderSessionOptions so;
  so.kv_type = kv;
  so.n_ctx = 512;
  so.n_threads = n_threads;
  DecoderSession s(*model, so);
  std::vector<float> logits;
  Status st = s.eval(g.prompt, &logits);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(logits.size(), g.logits_last.size());
  if (logits.size() != g.logits_last.size()) return r;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    r.max_abs_diff = std::max(r.max_abs_diff, std::fabs(logits[i] - g.logits_last[i]));
    r.max_abs_golden = std::max(r.max_abs_golden, std::fabs(g.logits_last[i]));
    dot += static_cast<double>(logits[i]) * g.logits_last[i];
    na += static_cast<double>(logits[i]) * logits[i];
    nb += static_cast<double>(g.logits_last[i]) * g.logits_last[i];
  }
  r.cosine = dot / std::sqrt(na * nb);
  bool same = true;
  for (int step = 0; step < n_steps; ++step) {
    const int32_t id = argmax(logits);
    r.ids.push_back(id);
    if (same && step < static_cast<int>(g.greedy.size()) && id == g.greedy[static_cast<size_t>(step)]) {
      ++r.ids_equal_prefix;
    } else {
      same = false;
    }
    const int32_t next = id;
    st = s.eval(std::span<const int32_t>(&next, 1), &logits);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
  }
  return r;
}

struct Case {
  const char* dir;
  const char* model;
  const char* golden;   // json basename
  KvType kv;
  float tol_rel;        // of L = max|golden logit|
  int n_equal_ids;      // greedy ids that must match
};

class DecoderGolden : public ::testing::TestWithParam<Case> {};

TEST_P(DecoderGolden, LogitsAndGreedyMatchLlamaCpp) {
  const Case& c = GetParam();
  const auto json = kModels / c.dir / c.golden;
  const auto model = kModels / c.dir / c.model;
  RAGD_NEED_TESTDATA(json);
  RAGD_NEED_TESTDATA(model);
  Golden g;
  ASSERT_TRUE(load_golden(json, &g)) << json;
  const int steps = static_cast<int>(g.greedy.size());
  RunResult r = run(model.string(), g, c.kv, steps);
  const float L = r.max_abs_golden;
  std::printf("[golden] %-28s max|dlogit| %.3g (%.2e L, L=%.1f) cos %.8f greedy %d/%d\n", c.golden,
              r.max_abs_diff, r.max_abs_diff / L, L, r.cosine, r.ids_equal_prefix, steps);
  EXPECT_LE(r.max_abs_diff, c.tol_rel * L);
  EXPECT_GE(r.ids_equal_prefix, c.n_equal_ids);
}

INSTANTIATE_TEST_SUITE_P(
    Models, DecoderGolden,
    ::testing::Values(
        Case{"stories260K", "stories260K.gguf", "stories260K.greedy.kvf32.json", KvType::kF32, 1e-5f, 200},
        Case{"stories260K", "stories260K.gguf", "stories260K.greedy.kvf16.json", KvType::kF16, 5e-4f, 37},
        Case{"llama-mini", "llama-mini-f32.gguf", "llama-mini-f32.kvf32.json", KvType::kF32, 1e-5f, 32},
        Case{"llama-mini", "llama-mini-f32.gguf", "llama-mini-f32.kvf16.json", KvType::kF16, 5e-4f, 32},
        Case{"llama-mini", "llama-mini-f16.gguf", "llama-mini-f16.kvf32.json", KvType::kF32, 2e-3f, 32},
        Case{"llama-mini", "llama-mini-f16.gguf", "llama-mini-f16.kvf16.json", KvType::kF16, 2e-3f, 32},
        Case{"llama-mini", "llama-mini-q8_0.gguf", "llama-mini-q8_0.kvf32.json", KvType::kF32, 0.03f, 32},
        Case{"llama-mini", "llama-mini-q8_0.gguf", "llama-mini-q8_0.kvf16.json", KvType::kF16, 0.03f, 32},
        Case{"qwen2-mini", "qwen2-mini-f32.gguf", "qwen2-mini-f32.kvf32.json", KvType::kF32, 1e-5f, 32},
        Case{"qwen2-mini", "qwen2-mini-f32.gguf", "qwen2-mini-f32.kvf16.json", KvType::kF16, 5e-4f, 32}),
    [](const ::testing::TestParamInfo<Case>& info) { return testing::golden_case_name(info.param.golden); });

}  // namespace
}  // namespace ragd
