// BertModel::encode() on batches larger than its row budget
// (BertLoadOptions::n_batch_tokens): the batch runs as several groups of
// sequences through the same scratch buffers, and every vector must be the
// one the sequence gets when it is encoded alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/bert.h"
#include "model/gguf.h"
#include "model/model_builder.h"

namespace ragd {
namespace {

constexpr int kVocab = 64, kEmbd = 64, kLayers = 2, kHeads = 4, kFf = 128, kCtx = 64;

// A tiny BERT with random weights (all the tensors llama.cpp's bert graph
// reads, biases included) in `type`.
std::string write_tiny_bert(GgmlType type, const std::string& tag) {
  EncoderShape shape;
  shape.n_vocab = kVocab;
  shape.n_embd = kEmbd;
  shape.n_layer = kLayers;
  shape.n_head = kHeads;
  shape.n_ff = kFf;
  shape.n_ctx = kCtx;
  shape.wtype = type;
  NormalWeights rnd(11, /*fresh_per_draw=*/true);
  const float is = 1.0f / std::sqrt(static_cast<float>(kEmbd));
  GgufWriter w;
  const Status st = add_encoder(w, shape, [&](GgufWriter& out, const TensorSlot& t) {
    const auto n = static_cast<size_t>(t.elements());
    float scale = 0.1f, offset = 0.0f;
    if (t.kind == TensorKind::kNormWeight) {
      offset = 1.0f;
    } else if (t.role == "token_embd" || t.role == "position_embd") {
      scale = 0.5f;
    } else if (t.kind == TensorKind::kMatrix && t.role.rfind("attn_", 0) == 0) {
      scale = 2 * is;
    } else if (t.kind == TensorKind::kMatrix && t.role == "ffn_up") {
      scale = is;
    }
    return add_tensor_values(out, t, rnd.draw(n, scale, offset));
  });
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  const auto path = temp_model_path("tiny_bert", tag);
  EXPECT_TRUE(w.write(path).is_ok());
  return path;
}

// 14 sequences of 1..kCtx tokens (one of exactly kCtx), fixed seed.
std::vector<std::vector<int32_t>> random_batch() {
  std::mt19937 rng(3);
  std::vector<std::vector<int32_t>> seqs;
  for (int s = 0; s < 14; ++s) {
    const int n = s == 5 ? kCtx : 1 + static_cast<int>(rng() % 40);
    std::vector<int32_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(rng() % kVocab));
    seqs.push_back(std::move(ids));
  }
  return seqs;
}

std::shared_ptr<const BertModel> load(const std::string& path, int n_batch_tokens) {
  BertLoadOptions o;
  o.n_batch_tokens = n_batch_tokens;
  auto m = BertModel::load(path, o);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? *m : nullptr;
}

struct Case {
  GgmlType type;
  PoolingType pooling;
  const char* name;
  // Largest |difference| allowed between a vector encoded in a group and
  // alone. With F16 weights the activations are rounded to f16 before each
  // matmul (as ggml does), so a different summation order can flip a
  // rounding (one f16 step is ~1e-4 at these magnitudes).
  float tolerance;
};

class BertBatch : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { path_ = write_tiny_bert(GetParam().type, GetParam().name); }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

// A batch of 14 sequences (about 300 tokens) with a budget of 48 rows runs
// as many groups, one sequence (64 tokens) longer than the budget among
// them; each vector equals the sequence encoded alone, and the batch run in
// one group.
TEST_P(BertBatch, GroupedBatchEqualsEachAlone) {
  const auto seqs = random_batch();
  size_t total = 0;
  for (const auto& s : seqs) total += s.size();
  ASSERT_GT(total, 4u * 48u);  // several groups
  auto grouped = load(path_, 48);
  auto whole = load(path_, 100000);
  ASSERT_TRUE(grouped && whole);
  const size_t E = kEmbd;
  std::vector<float> got = {7.0f};  // encode() appends after what is there
  ASSERT_TRUE(grouped->encode(seqs, GetParam().pooling, true, got, 2).is_ok());
  ASSERT_EQ(got.size(), 1 + seqs.size() * E);
  EXPECT_EQ(got[0], 7.0f);
  std::vector<float> one_group;
  ASSERT_TRUE(whole->encode(seqs, GetParam().pooling, true, one_group, 2).is_ok());
  float max_alone = 0, max_whole = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    std::vector<float> alone;
    ASSERT_TRUE(grouped->encode(std::span(seqs).subspan(s, 1), GetParam().pooling, true, alone, 1).is_ok());
    ASSERT_EQ(alone.size(), E);
    double norm = 0;
    for (size_t d = 0; d < E; ++d) {
      const float g = got[1 + s * E + d];
      norm += static_cast<double>(g) * g;
      max_alone = std::max(max_alone, std::fabs(g - alone[d]));
      max_whole = std::max(max_whole, std::fabs(g - one_group[s * E + d]));
    }
    EXPECT_NEAR(norm, 1.0, 1e-5) << "sequence " << s;
  }
  std::printf("[bert batch] %s: max|grouped - alone| %.3g, max|grouped - one group| %.3g\n", GetParam().name,
              max_alone, max_whole);
  // Only the order of float sums may differ (the matmul kernel depends on
  // the number of rows); a wrong mask or offset moves values by ~0.1.
  EXPECT_LE(max_alone, GetParam().tolerance);
  EXPECT_LE(max_whole, GetParam().tolerance);
}

// With a budget below every sequence's length each sequence is its own group
// and runs exactly the computation it runs alone: bit-identical vectors.
TEST_P(BertBatch, OneSequencePerGroupIsBitIdentical) {
  const auto seqs = random_batch();
  auto m = load(path_, 1);
  ASSERT_TRUE(m);
  std::vector<float> got;
  ASSERT_TRUE(m->encode(seqs, GetParam().pooling, true, got, 1).is_ok());
  for (size_t s = 0; s < seqs.size(); ++s) {
    std::vector<float> alone;
    ASSERT_TRUE(m->encode(std::span(seqs).subspan(s, 1), GetParam().pooling, true, alone, 1).is_ok());
    for (size_t d = 0; d < alone.size(); ++d) {
      ASSERT_EQ(got[s * kEmbd + d], alone[d]) << "sequence " << s << " dim " << d;
    }
  }
}

// A bad sequence after several full groups fails before anything is written.
TEST_P(BertBatch, BadSequenceLateInBatchWritesNothing) {
  auto seqs = random_batch();
  seqs.back().push_back(kVocab);  // outside the vocabulary
  auto m = load(path_, 48);
  ASSERT_TRUE(m);
  std::vector<float> out = {1.0f, 2.0f};
  const Status st = m->encode(seqs, GetParam().pooling, true, out, 1);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.to_string().find("sequence 13"), std::string::npos) << st.to_string();
  EXPECT_EQ(out, (std::vector<float>{1.0f, 2.0f}));
}

INSTANTIATE_TEST_SUITE_P(Types, BertBatch,
                         ::testing::Values(Case{GgmlType::F32, PoolingType::kCls, "f32_cls", 2e-5f},
                                           Case{GgmlType::F16, PoolingType::kCls, "f16_cls", 1e-3f},
                                           Case{GgmlType::F16, PoolingType::kMean, "f16_mean", 1e-3f}),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace ragd
