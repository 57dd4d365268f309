// BERT encoder conformance against llama.cpp's embeddings in
// ../shared/testdata/models/bert-mini (token ids taken from the golden JSON).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/bert.h"
#include "model/bert_embedder.h"
#include "tests/model/golden_data.h"

namespace ragd {
namespace {

const std::filesystem::path kDir = testing::golden_models_dir() / "bert-mini";

struct Case {
  const char* model;
  const char* golden;
  PoolingType pooling;
  float max_abs;        // on normalised embeddings
  double max_one_minus_cos;
};

class BertGolden : public ::testing::TestWithParam<Case> {};

TEST_P(BertGolden, EmbeddingsMatchLlamaCpp) {
  const Case& c = GetParam();
  RAGD_NEED_TESTDATA(kDir / c.golden);
  RAGD_NEED_TESTDATA(kDir / c.model);
  std::ifstream in(kDir / c.golden);
  const auto j = nlohmann::json::parse(in);
  std::vector<std::vector<int32_t>> seqs;
  std::vector<std::vector<float>> want;
  for (const auto& d : j["data"]) {
    seqs.push_back(d["token_ids"].get<std::vector<int32_t>>());
    want.push_back(d["embedding"].get<std::vector<float>>());
  }
  auto model = BertModel::load((kDir / c.model).string());
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  std::vector<float> got;
  // Encoded all together (one batch of different lengths), like the golden run.
  ASSERT_TRUE((*model)->encode(seqs, c.pooling, true, got, 2).is_ok());
  const int E = (*model)->config().n_embd;
  ASSERT_EQ(got.size(), seqs.size() * static_cast<size_t>(E));
  float max_abs = 0;
  double worst = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    double dot = 0;
    for (int d = 0; d < E; ++d) {
      const float g = got[s * E + d], w = want[s][static_cast<size_t>(d)];
      max_abs = std::max(max_abs, std::fabs(g - w));
      dot += static_cast<double>(g) * w;
    }
    worst = std::max(worst, 1.0 - dot);
  }
  std::printf("[golden] %-24s max|d| %.3g  max(1-cos) %.3g\n", c.golden, max_abs, worst);
  EXPECT_LE(max_abs, c.max_abs);
  EXPECT_LE(worst, c.max_one_minus_cos);
  // Encoding one sequence alone gives the same vector (masking is right).
  std::vector<float> single;
  ASSERT_TRUE((*model)->encode(std::span(seqs).subspan(3, 1), c.pooling, true, single, 1).is_ok());
  for (int d = 0; d < E; ++d) EXPECT_NEAR(single[static_cast<size_t>(d)], got[3 * static_cast<size_t>(E) + d], 1e-5);
}

// The Embedder end to end: tok's WordPiece ids and our pooled vectors.
TEST(BertEmbedderGolden, TokenizesAndEmbedsLikeLlamaCpp) {
  for (const char* golden : {"bert-mini-f32.cls.json", "bert-mini-f32.mean.json"}) {
    RAGD_NEED_TESTDATA(kDir / golden);
    std::ifstream in(kDir / golden);
    const auto j = nlohmann::json::parse(in);
    BertEmbedderOptions o;
    o.pooling = j["pooling"] == "mean" ? PoolingType::kMean : PoolingType::kNone;
    auto e = BertEmbedder::load((kDir / "bert-mini-f32.gguf").string(), o);
    ASSERT_TRUE(e.is_ok()) << e.status().to_string();
    std::vector<std::string> texts;
    for (const auto& d : j["data"]) {
      texts.push_back(d["text"].get<std::string>());
      EXPECT_EQ((*e)->tokenize(texts.back()), d["token_ids"].get<std::vector<int32_t>>()) << texts.back();
    }
    std::vector<float> got;
    ASSERT_TRUE((*e)->embed(texts, EmbedRole::kPassage, got).is_ok());
    ASSERT_EQ(got.size(), texts.size() * 128);
    for (size_t s = 0; s < texts.size(); ++s) {
      double dot = 0;
      const auto want = j["data"][s]["embedding"].get<std::vector<float>>();
      for (int d = 0; d < 128; ++d) dot += static_cast<double>(got[s * 128 + d]) * want[static_cast<size_t>(d)];
      EXPECT_GE(dot, 0.9999) << texts[s];
    }
    EXPECT_NE((*e)->fingerprint().find(o.pooling == PoolingType::kMean ? ":mean:" : ":cls:"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BertGolden,
                         ::testing::Values(Case{"bert-mini-f32.gguf", "bert-mini-f32.cls.json", PoolingType::kNone, 2e-3f, 3e-5},
                                           Case{"bert-mini-f32.gguf", "bert-mini-f32.mean.json", PoolingType::kMean, 2e-3f, 3e-5},
                                           Case{"bert-mini-f16.gguf", "bert-mini-f16.cls.json", PoolingType::kNone, 5e-3f, 1e-4},
                                           Case{"bert-mini-f16.gguf", "bert-mini-f16.mean.json", PoolingType::kMean, 5e-3f, 1e-4}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return testing::golden_case_name(info.param.golden);
                         });

}  // namespace
}  // namespace ragd
