// The speed paths of the runtime give the results of the plain ones:
// Linear::forward_group against forward() per layer, the Q8_0 prompt path
// (f32 GEMM on requantised activations) against the exact int8 kernel, the
// AVX2 attention against a naive loop, and Generator's should_stop hook.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "model/generator.h"
#include "model/kv_cache.h"
#include "model/llama.h"
#include "model/matmul.h"
#include "model/model_builder.h"
#include "model/quant.h"
#include "tests/model/tiny_models.h"

namespace ragd {
namespace {

std::vector<uint8_t> encode(WeightType type, const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<uint8_t> out(weight_row_bytes(type, cols) * static_cast<size_t>(rows));
  EXPECT_TRUE(quantize_row(type, w.data(), out.data(), rows * cols));
  return out;
}

TEST(ForwardGroup, SameAsOneLayerAtATime) {
  const int64_t cols = 96;
  const std::vector<int64_t> rows = {40, 24, 24};
  for (WeightType type : {WeightType::kQ8_0, WeightType::kF16, WeightType::kF32}) {
    std::vector<std::vector<uint8_t>> data;
    std::vector<std::unique_ptr<Linear>> owned;
    for (size_t i = 0; i < rows.size(); ++i) {
      auto w = normal_values(static_cast<size_t>(rows[i] * cols), 10 + static_cast<uint32_t>(i));
      if (type == WeightType::kQ8_0) {
        data.push_back(encode(WeightType::kQ8_0, w, rows[i], cols));
      } else if (type == WeightType::kF16) {
        data.push_back(encode(WeightType::kF16, w, rows[i], cols));
      } else {
        data.emplace_back(reinterpret_cast<uint8_t*>(w.data()), reinterpret_cast<uint8_t*>(w.data() + w.size()));
      }
      auto l = Linear::create(type, data.back().data(), rows[i], cols, "w" + std::to_string(i));
      ASSERT_TRUE(l.is_ok()) << l.status().to_string();
      owned.push_back(std::move(l).value());
    }
    for (int64_t m : {1, 3}) {
      const auto x = normal_values(static_cast<size_t>(m * cols), 99);
      std::vector<std::vector<float>> want(rows.size()), got(rows.size());
      std::vector<const Linear*> layers;
      std::vector<float*> outs;
      for (size_t i = 0; i < rows.size(); ++i) {
        want[i].assign(static_cast<size_t>(m * rows[i]), 0.0f);
        got[i].assign(static_cast<size_t>(m * rows[i]), -1.0f);
        owned[i]->forward(x.data(), m, want[i].data(), 2);
        layers.push_back(owned[i].get());
        outs.push_back(got[i].data());
      }
      Linear::forward_group(layers, x.data(), m, outs, 2);
      for (size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(got[i], want[i]) << "type " << weight_type_name(type) << " m " << m << " layer " << i;
      }
    }
  }
}

// Each row of a Q8_0 product, through whichever tile shape the row count
// picks (pairs of activation rows in 512-bit registers, fours, single rows;
// four weight rows at a time and the rows left over), is bit for bit the
// one-row product: the property that lets sequences share decode passes and
// makes a prompt's numbers independent of the size of its chunks.
TEST(Q8_0Rows, EveryRowCountGivesTheOneRowProduct) {
  const int64_t cols = 160;
  for (int64_t rows : {70, 37}) {
    auto w = normal_values(static_cast<size_t>(rows * cols), 21);
    w[5] = 40.0f;  // one block with a large scale, one nearly zero
    for (int64_t c = 32; c < 64; ++c) w[static_cast<size_t>(c)] = 1e-4f;
    const auto q = encode(WeightType::kQ8_0, w, rows, cols);
    auto l = Linear::create(WeightType::kQ8_0, q.data(), rows, cols, "w");
    ASSERT_TRUE(l.is_ok());
    const Linear& lin = **l;
    for (int64_t m : {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 33, 70}) {
      const auto x = normal_values(static_cast<size_t>(m * cols), 30 + static_cast<uint32_t>(m));
      std::vector<float> rows_out(static_cast<size_t>(m * rows)), batch_out(rows_out.size()), one(rows);
      lin.forward_rows(x.data(), m, rows_out.data(), 2);
      lin.forward(x.data(), m, batch_out.data(), 2);
      int differing = 0;
      for (int64_t i = 0; i < m; ++i) {
        lin.forward(x.data() + i * cols, 1, one.data(), 1);
        const float* got = rows_out.data() + i * rows;
        differing += !std::equal(one.begin(), one.end(), got);
        if (m < 32 || lin.rows_independent()) {
          differing += !std::equal(one.begin(), one.end(), batch_out.data() + i * rows);
        }
      }
      EXPECT_EQ(differing, 0) << "rows " << rows << " m " << m;
      // Not trivially equal: the outputs are far from zero.
      double norm = 0;
      for (float v : rows_out) norm += std::fabs(v);
      EXPECT_GT(norm / static_cast<double>(rows_out.size()), 1.0) << "m " << m;
    }
  }
}

// The whole-block rule (AMX CPUs, Linear::q8_0_sums_whole_blocks()): each
// output is, block after block, y = fma(d_w * d_x, float(int32 block sum), y)
// on the Q8_0-quantised activations. Checked bit for bit against that plain
// loop through both kernels (AVX-512 VNNI below 4 rows, AMX tiles from 4) and
// the zero-padded tail of fewer than 16 weight rows; with exact_q8_0 the
// layer keeps ggml's order instead.
float q8_0_block_reference(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb) {
  float y = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t sum = 0;
    for (int t = 0; t < 32; ++t) sum += int32_t{w[b].qs[t]} * int32_t{x[b].qs[t]};
    y = std::fma(fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d), static_cast<float>(sum), y);
  }
  return y;
}

TEST(Q8_0Rows, WholeBlockSumsFollowThePlainLoop) {
  const int64_t cols = 160, nb = cols / 32;
  for (int64_t rows : {70, 37}) {
    auto w = normal_values(static_cast<size_t>(rows * cols), 22);
    w[7] = 40.0f;
    const auto q = encode(WeightType::kQ8_0, w, rows, cols);
    auto l = Linear::create(WeightType::kQ8_0, q.data(), rows, cols, "w");
    ASSERT_TRUE(l.is_ok());
    if (!(*l)->q8_0_sums_whole_blocks()) GTEST_SKIP() << "no AMX: Q8_0 keeps ggml's order (Q8_0Rows above)";
    LinearOptions ggml_order;
    ggml_order.exact_q8_0 = true;
    auto exact = Linear::create(WeightType::kQ8_0, q.data(), rows, cols, "w", ggml_order);
    ASSERT_TRUE(exact.is_ok());
    EXPECT_FALSE((*exact)->q8_0_sums_whole_blocks());
    const auto* wq = reinterpret_cast<const BlockQ8_0*>(q.data());
    for (int64_t m : {1, 2, 3, 4, 5, 16, 17, 40}) {
      const auto x = normal_values(static_cast<size_t>(m * cols), 50 + static_cast<uint32_t>(m));
      std::vector<BlockQ8_0> xq(static_cast<size_t>(m * nb));
      quantize_row_q8_0(x.data(), xq.data(), m * cols);
      std::vector<float> y(static_cast<size_t>(m * rows)), y_ggml(y.size());
      (*l)->forward(x.data(), m, y.data(), 2);
      (*exact)->forward(x.data(), m, y_ggml.data(), 2);
      int differing = 0, differing_from_ggml = 0;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t r = 0; r < rows; ++r) {
          const float want = q8_0_block_reference(wq + r * nb, xq.data() + i * nb, nb);
          differing += y[static_cast<size_t>(i * rows + r)] != want;
          differing_from_ggml += y_ggml[static_cast<size_t>(i * rows + r)] != want;
        }
      }
      EXPECT_EQ(differing, 0) << "rows " << rows << " m " << m;
      // The two orders are different sums (else this test proves nothing).
      EXPECT_GT(differing_from_ggml, 0) << "rows " << rows << " m " << m;
    }
  }
}

TEST(Q8_0Prompt, GemmPathMatchesExactKernel) {
  const int64_t rows = 70, cols = 128, m = 48;  // m >= 32: the GEMM path
  auto w = normal_values(static_cast<size_t>(rows * cols), 3);
  const auto q = encode(WeightType::kQ8_0, w, rows, cols);
  LinearOptions fast, exact;
  exact.exact_q8_0 = true;
  auto lf = Linear::create(WeightType::kQ8_0, q.data(), rows, cols, "fast", fast);
  auto le = Linear::create(WeightType::kQ8_0, q.data(), rows, cols, "exact", exact);
  ASSERT_TRUE(lf.is_ok() && le.is_ok());
  if ((*lf)->rows_independent()) {
    GTEST_SKIP() << "with AVX-512 VNNI Q8_0 prompts take the exact int8 kernel (Q8_0Rows checks it); there is no "
                    "f32 GEMM path to compare";
  }
  const auto x = normal_values(static_cast<size_t>(m * cols), 4);
  std::vector<float> yf(static_cast<size_t>(m * rows)), ye(yf.size());
  (*lf)->forward(x.data(), m, yf.data(), 2);
  (*le)->forward(x.data(), m, ye.data(), 2);
  // Same products (activations quantised the same way), f32 sums in another
  // order: equal to a few ulps of the sum of |terms|.
  double max_rel = 0;
  for (size_t i = 0; i < yf.size(); ++i) {
    max_rel = std::max(max_rel, std::fabs(static_cast<double>(yf[i]) - ye[i]) / (1.0 + std::fabs(ye[i])));
  }
  EXPECT_LT(max_rel, 1e-5);
  // And not a trivially equal pair: the outputs are far from zero.
  double norm = 0;
  for (float v : ye) norm += std::fabs(v);
  EXPECT_GT(norm / static_cast<double>(ye.size()), 1.0);
}

// Naive attention in double over f32 keys/values (no f16 rounding).
std::vector<double> naive_attention(const std::vector<float>& q, const std::vector<float>& k,
                                    const std::vector<float>& v, int n_q, int n_kv, int q_pos0, bool causal,
                                    const AttentionShape& s) {
  const int hd = s.head_dim, kv_dim = s.n_head_kv * hd, q_dim = s.n_head * hd;
  std::vector<double> out(static_cast<size_t>(n_q) * q_dim, 0.0);
  for (int i = 0; i < n_q; ++i) {
    for (int h = 0; h < s.n_head; ++h) {
      const int g = h / (s.n_head / s.n_head_kv);
      const int n_vis = causal ? std::min(n_kv, q_pos0 + i + 1) : n_kv;
      std::vector<double> sc(static_cast<size_t>(n_vis));
      double mx = -1e300;
      for (int j = 0; j < n_vis; ++j) {
        double d = 0;
        for (int t = 0; t < hd; ++t) d += static_cast<double>(q[static_cast<size_t>(i * q_dim + h * hd + t)]) *
                                          k[static_cast<size_t>(j * kv_dim + g * hd + t)];
        sc[static_cast<size_t>(j)] = d * s.scale;
        mx = std::max(mx, sc[static_cast<size_t>(j)]);
      }
      double sum = 0;
      for (auto& e : sc) sum += (e = std::exp(e - mx));
      for (int j = 0; j < n_vis; ++j) {
        for (int t = 0; t < hd; ++t) {
          out[static_cast<size_t>(i * q_dim + h * hd + t)] +=
              sc[static_cast<size_t>(j)] / sum * v[static_cast<size_t>(j * kv_dim + g * hd + t)];
        }
      }
    }
  }
  return out;
}

TEST(Attention, VectorPathsMatchNaive) {
  for (int hd : {32, 64, 40}) {  // 40: the generic (non-multiple-of-8 kernels) fallbacks for PV
    AttentionShape s{6, 2, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
    const int n_kv = 37, n_q = 5, q_pos0 = n_kv - n_q;
    const auto q = normal_values(static_cast<size_t>(n_q * s.n_head * hd), 1);
    const auto k = normal_values(static_cast<size_t>(n_kv * s.n_head_kv * hd), 2);
    const auto v = normal_values(static_cast<size_t>(n_kv * s.n_head_kv * hd), 3);
    for (bool causal : {true, false}) {
      const auto want = naive_attention(q, k, v, n_q, n_kv, q_pos0, causal, s);
      KvView kv{k.data(), v.data(), s.n_head_kv * hd, false};
      std::vector<float> got(want.size());
      attention(q.data(), s.n_head * hd, n_q, q_pos0, kv, 0, n_kv, causal, s, got.data(), s.n_head * hd, 2);
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-4) << "hd " << hd << " causal " << causal << " at " << i;
      }
    }
  }
}

class GeneratorHook : public ::testing::Test {
 protected:
  void SetUp() override {
    testing_tiny::TinySpec spec;
    spec.seed = 5;
    path_ = testing_tiny::write_tiny_decoder(spec, nullptr, "hook");
    auto m = DecoderModel::load(path_);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = *m;
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
  std::shared_ptr<const DecoderModel> model_;
};

TEST_F(GeneratorHook, CalledBeforeEveryForwardPassAndStopsAtOnce) {
  Generator gen(model_, nullptr);
  GenerateOptions go;
  go.max_tokens = 6;
  go.sampling.temperature = 0;
  go.stop_at_eog = false;
  go.prompt_chunk = 4;
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // 3 chunks of <= 4
  std::vector<int> seen;
  go.should_stop = [&](int n) {
    seen.push_back(n);
    return Status::ok();
  };
  auto s = gen.new_session({}).value();
  auto full = gen.generate(*s, prompt, go);
  ASSERT_TRUE(full.is_ok()) << full.status().to_string();
  ASSERT_EQ(full->tokens.size(), 6u);
  // 3 prompt chunks (0 generated), then before evaluating each of tokens
  // 1..6 (the session holds every generated token, so a chat can go on).
  EXPECT_EQ(seen, (std::vector<int>{0, 0, 0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(s->n_past(), static_cast<int>(prompt.size()) + 6);
  EXPECT_TRUE(full->stop_status.is_ok());
  EXPECT_EQ(full->finish, FinishReason::kMaxTokens);

  // Without the hook the prompt goes in one piece: same tokens.
  GenerateOptions plain = go;
  plain.should_stop = nullptr;
  auto s0 = gen.new_session({}).value();
  auto g0 = gen.generate(*s0, prompt, plain);
  ASSERT_TRUE(g0.is_ok());
  EXPECT_EQ(g0->tokens, full->tokens);

  // Stop after 2 tokens with a timeout Status: it is handed back as is.
  go.should_stop = [](int n) { return n >= 2 ? Status::timeout("deadline") : Status::ok(); };
  auto s2 = gen.new_session({}).value();
  auto g2 = gen.generate(*s2, prompt, go);
  ASSERT_TRUE(g2.is_ok());
  EXPECT_EQ(g2->tokens.size(), 2u);
  EXPECT_EQ(g2->finish, FinishReason::kCancelled);
  EXPECT_EQ(g2->stop_status.code(), StatusCode::kTimeout);
  EXPECT_EQ(s2->n_past(), static_cast<int>(prompt.size()) + 1);  // token 2 was never evaluated

  // Stop during the prompt: nothing generated, later chunks not evaluated.
  go.should_stop = [calls = 0](int) mutable { return ++calls > 1 ? Status::cancelled("bye") : Status::ok(); };
  auto s3 = gen.new_session({}).value();
  auto g3 = gen.generate(*s3, prompt, go);
  ASSERT_TRUE(g3.is_ok());
  EXPECT_TRUE(g3->tokens.empty());
  EXPECT_EQ(g3->stop_status.code(), StatusCode::kCancelled);
  EXPECT_EQ(s3->n_past(), 4);
}

}  // namespace
}  // namespace ragd
