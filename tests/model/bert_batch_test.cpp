// BertModel::encode() on batches larger than its row budget
// (BertLoadOptions::n_batch_tokens): the batch runs as several groups of
// sequences through the same scratch buffers, and every vector must be the
// one the sequence gets when it is encoded alone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/bert.h"
#include "model/gguf.h"
#include "tiny_models.h"

namespace ragd {
namespace {

using testing_tiny::add_tensor;
using testing_tiny::rnd;

constexpr int kVocab = 64, kEmbd = 64, kLayers = 2, kHeads = 4, kFf = 128, kCtx = 64;

// A tiny BERT with random weights (all the tensors llama.cpp's bert graph
// reads, biases included) in `type`.
std::string write_tiny_bert(GgmlType type, const std::string& tag) {
  std::mt19937 rng(11);
  GgufWriter w;
  w.add_str("general.architecture", "bert");
  w.add_u32("bert.context_length", kCtx);
  w.add_u32("bert.embedding_length", kEmbd);
  w.add_u32("bert.block_count", kLayers);
  w.add_u32("bert.feed_forward_length", kFf);
  w.add_u32("bert.attention.head_count", kHeads);
  w.add_f32("bert.attention.layer_norm_epsilon", 1e-12f);
  w.add_u32("bert.pooling_type", 2);
  const float is = 1.0f / std::sqrt(static_cast<float>(kEmbd));
  add_tensor(w, "token_embd.weight", type, {kEmbd, kVocab}, rnd(rng, size_t{kVocab} * kEmbd, 0.5f));
  add_tensor(w, "token_types.weight", GgmlType::F32, {kEmbd, 2}, rnd(rng, size_t{2} * kEmbd, 0.1f));
  add_tensor(w, "position_embd.weight", type, {kEmbd, kCtx}, rnd(rng, size_t{kCtx} * kEmbd, 0.5f));
  add_tensor(w, "token_embd_norm.weight", GgmlType::F32, {kEmbd}, rnd(rng, kEmbd, 0.1f, 1.0f));
  add_tensor(w, "token_embd_norm.bias", GgmlType::F32, {kEmbd}, rnd(rng, kEmbd, 0.1f));
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    for (const char* t : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      add_tensor(w, p + t + ".weight", type, {kEmbd, kEmbd}, rnd(rng, size_t{kEmbd} * kEmbd, 2 * is));
      add_tensor(w, p + t + ".bias", GgmlType::F32, {kEmbd}, rnd(rng, kEmbd, 0.1f));
    }
    add_tensor(w, p + "attn_output_norm.weight", GgmlType::F32, {kEmbd}, rnd(rng, kEmbd, 0.1f, 1.0f));
    add_tensor(w, p + "attn_output_norm.bias", GgmlType::F32, {kEmbd}, rnd(rng, kEmbd, 0.1f));
    add_tensor(w, p + "ffn_up.weight", type, {kEmbd, kFf}, rnd(rng, size_t{kFf} * kEmbd, is));
    add_tensor(w, p + "ffn_up.bias", GgmlType::F32, {kFf}, rnd(rng, kFf, 0.1f));
    add_tensor(w, p + "ffn_down.weight", type, {kFf, kEmbd}, rnd(rng, size_t{kEmbd} * kFf, 0.1f));
    add_tensor(w, p + "ffn_down.bias", GgmlType::F32, {kEmbd}, rnd(rng, kEmbd, 0.1f));
    add_tensor(w, p + "layer_output_norm.weight", GgmlType::F32, {kEmbd}, rnd(rng, kEmbd, 0.1f, 1.0f));
    add_tensor(w, p + "layer_output_norm.bias", GgmlType::F32, {kEmbd}, rnd(rng, kEmbd, 0.1f));
  }
  const auto path = (std::filesystem::temp_directory_path() /
                     ("ragd_tiny_bert_" + tag + "_" + std::to_string(::getpid()) + ".gguf")).string();
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
