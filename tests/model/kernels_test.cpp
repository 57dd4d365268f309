// Kernel-by-kernel checks against plain loops on tiny shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "model/kernels.h"
#include "model/kv_cache.h"
#include "model/matmul.h"
#include "model/model_builder.h"
#include "model/quant.h"

namespace ragd {
namespace {

TEST(Fp16, KnownValuesAndRounding) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0).
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  for (uint32_t h = 0; h < 0x7c00; h += 7) EXPECT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h);
  EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(1.5f)), 1.5f);
}

TEST(Dequant, Q8_0AndQ4_0) {
  BlockQ8_0 b8{};
  b8.d = fp32_to_fp16(0.5f);
  for (int i = 0; i < 32; ++i) b8.qs[i] = static_cast<int8_t>(i - 16);
  std::vector<float> y(32);
  dequantize_row(WeightType::kQ8_0, &b8, y.data(), 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * (i - 16));
  BlockQ4_0 b4{};
  b4.d = fp32_to_fp16(2.0f);
  for (int i = 0; i < 16; ++i) b4.qs[i] = static_cast<uint8_t>((i & 15) | ((15 - i) << 4));
  dequantize_row(WeightType::kQ4_0, &b4, y.data(), 32);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(y[i], 2.0f * (i - 8));
    EXPECT_EQ(y[i + 16], 2.0f * (15 - i - 8));
  }
  // Q4_0 reference quantiser round-trips within half a step.
  auto x = normal_values(64, 1);
  BlockQ4_0 q[2];
  quantize_row_q4_0_ref(x.data(), q, 64);
  std::vector<float> back(64);
  dequantize_row(WeightType::kQ4_0, q, back.data(), 64);
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(back[i], x[i], std::fabs(fp16_to_fp32(q[i / 32].d)) * 0.51f + 1e-6f);
}

TEST(Dequant, Q4_KAndQ6_KLayout) {
  BlockQ4_K k4{};
  k4.d = fp32_to_fp16(1.0f);
  k4.dmin = fp32_to_fp16(0.5f);
  // Sub-block 0: scale 3, min 2; sub-block 5: scale (low 4 bits 1, high 2 bits 1) = 17, min 1 | 1<<4 = 17.
  k4.scales[0] = 3;
  k4.scales[4] = 2;
  k4.scales[9] = 0x11;        // j=5: d low nibble = 1, m low nibble = 1
  k4.scales[1] = 1 << 6;      // j=5: d high bits from scales[j-4]
  k4.scales[5] = 1 << 6;      // j=5: m high bits from scales[j]
  for (int i = 0; i < 128; ++i) k4.qs[i] = static_cast<uint8_t>(0x5 | (0x7 << 4));
  std::vector<float> y(256);
  dequantize_row(WeightType::kQ4_K, &k4, y.data(), 256);
  EXPECT_EQ(y[0], 3.0f * 5 - 0.5f * 2);         // sub-block 0, low nibbles
  EXPECT_EQ(y[5 * 32], 17.0f * 7 - 0.5f * 17);  // sub-block 5 = high nibbles of the 3rd 32-byte group
  BlockQ6_K k6{};
  k6.d = fp32_to_fp16(0.25f);
  for (int i = 0; i < 16; ++i) k6.scales[i] = static_cast<int8_t>(i + 1);
  for (int i = 0; i < 128; ++i) k6.ql[i] = static_cast<uint8_t>(0x3 | (0x9 << 4));
  for (int i = 0; i < 64; ++i) k6.qh[i] = 0b11100100;  // 2-bit fields 0,1,2,3
  dequantize_row(WeightType::kQ6_K, &k6, y.data(), 256);
  EXPECT_EQ(y[0], 0.25f * 1 * ((3 | (0 << 4)) - 32));
  EXPECT_EQ(y[32], 0.25f * 3 * ((3 | (1 << 4)) - 32));
  EXPECT_EQ(y[64], 0.25f * 5 * ((9 | (2 << 4)) - 32));
  EXPECT_EQ(y[96 + 16], 0.25f * 8 * ((9 | (3 << 4)) - 32));
  EXPECT_EQ(y[128], 0.25f * 9 * ((3 | (0 << 4)) - 32));
}

TEST(QuantizeQ8_0, MatchesGgmlRule) {
  std::vector<float> x = normal_values(64, 2);
  x[3] = 0.0f;
  BlockQ8_0 q[2];
  quantize_row_q8_0(x.data(), q, 64);
  for (int b = 0; b < 2; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    EXPECT_EQ(q[b].d, fp32_to_fp16(amax / 127.0f));
    for (int i = 0; i < 32; ++i) EXPECT_EQ(q[b].qs[i], static_cast<int8_t>(std::nearbyint(x[b * 32 + i] * (127.0f / amax))));
  }
  // Exact halves round to even.
  std::vector<float> h(32, 0.0f);
  h[0] = 127.0f;
  h[1] = 2.5f;
  h[2] = 3.5f;
  quantize_row_q8_0(h.data(), q, 32);
  EXPECT_EQ(q[0].qs[1], 2);
  EXPECT_EQ(q[0].qs[2], 4);
}

// Encodes f32 weights [rows x cols] as `type`.
std::vector<uint8_t> encode(WeightType type, const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<uint8_t> out(weight_row_bytes(type, cols) * rows);
  EXPECT_TRUE(quantize_row(type, w.data(), out.data(), rows * cols));
  return out;
}

class LinearTypes : public ::testing::TestWithParam<std::tuple<WeightType, int>> {};

TEST_P(LinearTypes, MatchesNaiveOnDequantisedWeights) {
  const auto [type, m] = GetParam();
  const int64_t rows = 37, cols = 96;
  auto w = normal_values(rows * cols, 3);
  auto bytes = encode(type, w, rows, cols);
  auto lin = Linear::create(type, bytes.data(), rows, cols, "w");
  ASSERT_TRUE(lin.is_ok());
  std::vector<float> wd(rows * cols);
  for (int64_t r = 0; r < rows; ++r) (*lin)->row(r, &wd[r * cols]);
  auto x = normal_values(m * cols, 4);
  // The reference sees the activations the kernel is meant to see.
  std::vector<float> xr = x;
  if (type == WeightType::kF16) round_row_to_fp16(x.data(), xr.data(), m * cols);
  if (type == WeightType::kBF16) {
    for (auto& v : xr) v = bf16_to_fp32(fp32_to_bf16(v));
  }
  if (type == WeightType::kQ8_0) {
    std::vector<BlockQ8_0> q(m * cols / 32);
    quantize_row_q8_0(x.data(), q.data(), m * cols);
    dequantize_row(WeightType::kQ8_0, q.data(), xr.data(), m * cols);
  }
  std::vector<float> want(m * rows), got(m * rows, -1.0f);
  sgemm_nt_naive(xr.data(), m, cols, wd.data(), rows, want.data());
  (*lin)->forward(x.data(), m, got.data(), 2);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4f * (1 + std::fabs(want[i]))) << i;
}

INSTANTIATE_TEST_SUITE_P(Kernels, LinearTypes,
                         ::testing::Combine(::testing::Values(WeightType::kF32, WeightType::kF16, WeightType::kBF16,
                                                              WeightType::kQ8_0, WeightType::kQ4_0),
                                            ::testing::Values(1, 3, 9, 33)));

TEST(Linear, RejectsBadShapes) {
  std::vector<uint8_t> bytes(34 * 4);
  EXPECT_FALSE(Linear::create(WeightType::kQ8_0, bytes.data(), 2, 48, "w").is_ok());
  EXPECT_FALSE(Linear::create(WeightType::kF32, nullptr, 2, 4, "w").is_ok());
}

TEST(Sgemm, OneDnnMatchesNaive) {
  for (int m : {1, 5, 64}) {
    const int k = 40, n = 24;
    auto x = normal_values(m * k, 5), w = normal_values(n * k, 6);
    std::vector<float> a(m * n), b(m * n);
    sgemm_nt(x.data(), m, k, w.data(), n, a.data(), 2);
    sgemm_nt_naive(x.data(), m, k, w.data(), n, b.data());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4f);
  }
}

TEST(Norms, RmsAndLayerNorm) {
  auto x = normal_values(48, 7), w = normal_values(48, 8), b = normal_values(48, 9);
  std::vector<float> y(48);
  rms_norm(x.data(), w.data(), y.data(), 48, 1e-5f);
  double ss = 0;
  for (float v : x) ss += v * v;
  const double s = 1.0 / std::sqrt(ss / 48 + 1e-5);
  for (int i = 0; i < 48; ++i) EXPECT_NEAR(y[i], x[i] * s * w[i], 1e-5);
  layer_norm(x.data(), w.data(), b.data(), y.data(), 48, 1e-12f);
  double mean = 0, var = 0;
  for (float v : x) mean += v;
  mean /= 48;
  for (float v : x) var += (v - mean) * (v - mean);
  var /= 48;
  for (int i = 0; i < 48; ++i) EXPECT_NEAR(y[i], (x[i] - mean) / std::sqrt(var) * w[i] + b[i], 1e-5);
}

TEST(Rope, NormalAndNeoxRotatePairs) {
  const int heads = 2, hd = 8, n_rot = 6, pos = 5;
  const float base = 10000.0f;
  auto x = normal_values(heads * hd, 10);
  for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
    std::vector<float> y = x;
    rope(y.data(), heads, hd, n_rot, pos, base, mode);
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < n_rot / 2; ++i) {
        const double theta = pos * std::pow(base, -2.0 * i / n_rot);
        const int a = mode == RopeMode::kNormal ? 2 * i : i;
        const int b = mode == RopeMode::kNormal ? 2 * i + 1 : i + n_rot / 2;
        const double x0 = x[h * hd + a], x1 = x[h * hd + b];
        EXPECT_NEAR(y[h * hd + a], x0 * std::cos(theta) - x1 * std::sin(theta), 1e-5);
        EXPECT_NEAR(y[h * hd + b], x0 * std::sin(theta) + x1 * std::cos(theta), 1e-5);
      }
      for (int d = n_rot; d < hd; ++d) EXPECT_EQ(y[h * hd + d], x[h * hd + d]);  // unrotated tail
    }
  }
}

TEST(Activations, SoftmaxSiluGelu) {
  std::vector<float> s = {1.0f, 2.0f, -INFINITY, 0.5f};
  softmax(s.data(), 4);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(0.5);
  EXPECT_NEAR(s[0], std::exp(1.0) / z, 1e-6);
  EXPECT_EQ(s[2], 0.0f);
  EXPECT_NEAR(silu(1.5f), 1.5 / (1 + std::exp(-1.5)), 1e-6);
  std::vector<float> g = {-12.0f, -1.0f, 0.3f, 2.0f, 11.0f}, t = g;
  gelu(g.data(), 5, GeluMode::kExact);
  gelu(t.data(), 5, GeluMode::kGgmlTable);
  EXPECT_NEAR(g[1], -0.158808, 1e-5);
  EXPECT_EQ(t[0], 0.0f);
  EXPECT_EQ(t[4], 11.0f);
  for (int i = 1; i < 4; ++i) EXPECT_NEAR(t[i], g[i], 2e-3 * (1 + std::fabs(g[i])));
  EXPECT_EQ(t[2], round_to_fp16(t[2]));  // table outputs are f16 values
}

TEST(Attention, GqaWithCacheMatchesNaive) {
  const int n_head = 4, n_kv = 2, hd = 8, n_ctx = 16, n_tok = 5, pos0 = 3;
  AttentionShape shape{n_head, n_kv, hd, 1.0f / std::sqrt(8.0f)};
  for (KvType type : {KvType::kF32, KvType::kF16}) {
    KvCache cache(1, n_ctx, n_kv * hd, type);
    auto k = normal_values((pos0 + n_tok) * n_kv * hd, 11), v = normal_values((pos0 + n_tok) * n_kv * hd, 12);
    cache.store(0, 0, pos0, k.data(), v.data());
    cache.store(0, pos0, n_tok, k.data() + pos0 * n_kv * hd, v.data() + pos0 * n_kv * hd);
    auto q = normal_values(n_tok * n_head * hd, 13);
    std::vector<float> out(n_tok * n_head * hd);
    attention(q.data(), n_head * hd, n_tok, pos0, cache.view(0), 0, pos0 + n_tok, true, shape, out.data(),
              n_head * hd, 2);
    const double tol = type == KvType::kF16 ? 5e-3 : 1e-5;
    for (int i = 0; i < n_tok; ++i) {
      for (int h = 0; h < n_head; ++h) {
        const int g = h / (n_head / n_kv);
        std::vector<double> p;
        double mx = -1e30;
        for (int j = 0; j <= pos0 + i; ++j) {
          double s = 0;
          for (int d = 0; d < hd; ++d) s += q[(i * n_head + h) * hd + d] * k[(j * n_kv + g) * hd + d];
          p.push_back(s * shape.scale);
          mx = std::max(mx, p.back());
        }
        double z = 0;
        for (auto& e : p) z += (e = std::exp(e - mx));
        for (int d = 0; d < hd; ++d) {
          double o = 0;
          for (size_t j = 0; j < p.size(); ++j) o += p[j] / z * v[(j * n_kv + g) * hd + d];
          EXPECT_NEAR(out[(i * n_head + h) * hd + d], o, tol);
        }
      }
    }
  }
}

// Attention over an f16 cache (head_dim 32, 64 or 128) takes the grouped
// path: every K/V row serves all the heads of its group, and with 16 query
// rows or more (a prompt chunk) all the rows of a block of them. Checked
// against attention in double on the f16 values, for grouped (7 and 3 heads
// per K/V head) and plain shapes, a window that starts past position 0,
// causal or not, 3 rows (generation, drafts) and 40 (a chunk: blocks of 9
// and 16 rows, the last one short); and its outputs do not depend on how
// many threads share the work or on how many query rows come together.
TEST(Attention, GroupedF16DecodeMatchesNaive) {
  struct Case {
    int n_head, n_kv, hd;
  };
  for (const int n_q : {3, 40})
  for (const Case c : {Case{14, 2, 64}, Case{9, 3, 32}, Case{4, 4, 128}}) {
    const int kv_dim = c.n_kv * c.hd, q_dim = c.n_head * c.hd, n_ctx = 300, begin = 40;
    const int pos0 = n_ctx - n_q;
    AttentionShape shape{c.n_head, c.n_kv, c.hd, 1.0f / std::sqrt(static_cast<float>(c.hd))};
    KvCache cache(1, n_ctx, kv_dim, KvType::kF16);
    auto k = normal_values(static_cast<size_t>(n_ctx * kv_dim), 21);
    auto v = normal_values(static_cast<size_t>(n_ctx * kv_dim), 22);
    cache.store(0, 0, n_ctx, k.data(), v.data());
    for (auto* x : {&k, &v}) {
      for (float& e : *x) e = round_to_fp16(e);  // what the cache holds
    }
    auto q = normal_values(static_cast<size_t>(n_q * q_dim), 23);
    for (bool causal : {true, false}) {
      const int n_kv = n_ctx - begin;
      std::vector<float> one(static_cast<size_t>(n_q * q_dim)), two(one.size()), three(one.size());
      attention(q.data(), q_dim, n_q, pos0, cache.view(0), begin, n_kv, causal, shape, one.data(), q_dim, 1);
      attention(q.data(), q_dim, n_q, pos0, cache.view(0), begin, n_kv, causal, shape, two.data(), q_dim, 2);
      attention(q.data(), q_dim, n_q, pos0, cache.view(0), begin, n_kv, causal, shape, three.data(), q_dim, 3);
      EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float))) << c.n_head << "/" << c.n_kv;
      EXPECT_EQ(0, std::memcmp(one.data(), three.data(), one.size() * sizeof(float))) << c.n_head << "/" << c.n_kv;
      for (int i = 0; i < n_q; ++i) {
        // The same row alone.
        std::vector<float> alone(static_cast<size_t>(q_dim));
        attention(q.data() + i * q_dim, q_dim, 1, pos0 + i, cache.view(0), begin, n_kv, causal, shape, alone.data(),
                  q_dim, 2);
        EXPECT_EQ(0, std::memcmp(alone.data(), one.data() + i * q_dim, alone.size() * sizeof(float)))
            << c.n_head << "/" << c.n_kv << " row " << i;
        const int last = causal ? pos0 + i : n_ctx - 1;
        for (int h = 0; h < c.n_head; ++h) {
          const int g = h / (c.n_head / c.n_kv);
          // Exactly: dot_f32 on the f16-rounded query and the widened key,
          // softmax, probabilities rounded to f16, then P.V fused in key
          // order from zero (the orders llama.cpp's greedy tokens follow).
          std::vector<float> qh(static_cast<size_t>(c.hd)), sc;
          round_row_to_fp16(q.data() + i * q_dim + h * c.hd, qh.data(), c.hd);
          for (int j = begin; j <= last; ++j) sc.push_back(dot_f32(qh.data(), &k[static_cast<size_t>(j * kv_dim + g * c.hd)], c.hd) * shape.scale);
          softmax(sc.data(), static_cast<int>(sc.size()));
          round_row_to_fp16(sc.data(), sc.data(), static_cast<int64_t>(sc.size()));
          for (int d = 0; d < c.hd; ++d) {
            float acc = 0.0f;
            for (size_t j = 0; j < sc.size(); ++j) {
              acc = std::fma(sc[j], v[static_cast<size_t>((static_cast<int>(j) + begin) * kv_dim + g * c.hd + d)], acc);
            }
            ASSERT_EQ(acc, one[static_cast<size_t>(i * q_dim + h * c.hd + d)])
                << c.n_head << "/" << c.n_kv << " causal " << causal << " row " << i << " head " << h << " dim " << d;
          }
          std::vector<double> p;
          double mx = -1e300;
          for (int j = begin; j <= last; ++j) {
            double sum = 0;
            for (int d = 0; d < c.hd; ++d) {
              sum += static_cast<double>(round_to_fp16(q[static_cast<size_t>(i * q_dim + h * c.hd + d)])) *
                     k[static_cast<size_t>(j * kv_dim + g * c.hd + d)];
            }
            p.push_back(sum * shape.scale);
            mx = std::max(mx, p.back());
          }
          double z = 0;
          for (auto& e : p) z += (e = std::exp(e - mx));
          for (int d = 0; d < c.hd; ++d) {
            double o = 0;
            for (size_t j = 0; j < p.size(); ++j) {
              o += p[j] / z * v[static_cast<size_t>((static_cast<int>(j) + begin) * kv_dim + g * c.hd + d)];
            }
            ASSERT_NEAR(one[static_cast<size_t>(i * q_dim + h * c.hd + d)], o, 5e-3)
                << c.n_head << "/" << c.n_kv << " causal " << causal << " row " << i << " head " << h;
          }
        }
      }
    }
  }
}

// attention_many() gives each call what attention() gives it alone, bit for
// bit: decode calls over several caches at different lengths share one
// parallel region, and a call with 16 query rows (the prompt path) and an
// f32 cache run on their own.
TEST(Attention, ManyCallsEqualEachAlone) {
  const int n_head = 9, n_kv = 3, hd = 64, kv_dim = n_kv * hd, q_dim = n_head * hd, n_ctx = 200;
  const AttentionShape shape{n_head, n_kv, hd, 0.125f};
  std::vector<KvCache> caches;
  for (int c = 0; c < 5; ++c) {
    caches.emplace_back(1, n_ctx, kv_dim, c == 4 ? KvType::kF32 : KvType::kF16);
    const auto k = normal_values(static_cast<size_t>(n_ctx * kv_dim), 40 + static_cast<uint32_t>(c));
    const auto v = normal_values(static_cast<size_t>(n_ctx * kv_dim), 50 + static_cast<uint32_t>(c));
    caches.back().store(0, 0, n_ctx, k.data(), v.data());
  }
  // (n_q, position of the first query row) per call.
  const int n_q[] = {1, 3, 16, 1, 2};
  const int pos[] = {10, 120, 150, 199 - 1, 57};
  std::vector<std::vector<float>> qs, many, alone;
  std::vector<AttentionCall> calls;
  for (int c = 0; c < 5; ++c) {
    qs.push_back(normal_values(static_cast<size_t>(n_q[c] * q_dim), 60 + static_cast<uint32_t>(c)));
    many.emplace_back(static_cast<size_t>(n_q[c] * q_dim), -7.0f);
    alone.emplace_back(static_cast<size_t>(n_q[c] * q_dim), -9.0f);
  }
  for (int c = 0; c < 5; ++c) {
    calls.push_back({qs[static_cast<size_t>(c)].data(), q_dim, n_q[c], pos[c], caches[static_cast<size_t>(c)].view(0), 0,
                     pos[c] + n_q[c], true, many[static_cast<size_t>(c)].data(), q_dim});
  }
  attention_many(calls, shape, 2);
  for (int c = 0; c < 5; ++c) {
    attention(qs[static_cast<size_t>(c)].data(), q_dim, n_q[c], pos[c], caches[static_cast<size_t>(c)].view(0), 0,
              pos[c] + n_q[c], true, shape, alone[static_cast<size_t>(c)].data(), q_dim, 2);
    EXPECT_EQ(many[static_cast<size_t>(c)], alone[static_cast<size_t>(c)]) << "call " << c;
    EXPECT_NE(many[static_cast<size_t>(c)][0], -7.0f) << "call " << c << " was not computed";
  }
}

// A view whose first positions are read from shared segments elsewhere (a
// prefix cache's rows, KvView::shared) gives the same outputs bit for bit as
// the same rows in one cache: f16 (the grouped path, one row and prompt
// chunks of 16 rows or more) and f32 (the generic path), segments ending
// inside a block of 16 keys, a window starting inside the shared part, and
// through attention_many() beside calls without segments.
TEST(Attention, SharedSegmentsGiveTheOneCopysNumbers) {
  const int n_head = 9, n_kv = 3, hd = 64, kv_dim = n_kv * hd, q_dim = n_head * hd, n_ctx = 260;
  const AttentionShape shape{n_head, n_kv, hd, 0.125f};
  for (const KvType type : {KvType::kF16, KvType::kF32}) {
    const auto k = normal_values(static_cast<size_t>(n_ctx * kv_dim), 71);
    const auto v = normal_values(static_cast<size_t>(n_ctx * kv_dim), 72);
    KvCache whole(1, n_ctx, kv_dim, type);
    whole.store(0, 0, n_ctx, k.data(), v.data());
    // Positions [0, 37) and [37, 150) in two other caches (as rows at their
    // own positions 0..), the rest in `own`, whose first 150 rows hold
    // garbage that must not be read.
    KvCache seg_a(1, n_ctx, kv_dim, type), seg_b(1, n_ctx, kv_dim, type), own(1, n_ctx, kv_dim, type);
    seg_a.store(0, 0, 37, k.data(), v.data());
    seg_b.store(0, 0, 113, k.data() + 37 * kv_dim, v.data() + 37 * kv_dim);
    const auto junk = normal_values(static_cast<size_t>(150 * kv_dim), 73);
    own.store(0, 0, 150, junk.data(), junk.data());
    own.store(0, 150, n_ctx - 150, k.data() + 150 * kv_dim, v.data() + 150 * kv_dim);
    const KvSegment segs[] = {{seg_a.view(0).k, seg_a.view(0).v, kv_dim, 0, 37},
                              {seg_b.view(0).k, seg_b.view(0).v, kv_dim, 37, 150}};
    KvView shared = own.view(0);
    shared.shared = segs;
    shared.n_shared = 2;
    for (const int n_q : {1, 3, 16, 40}) {
      for (const int begin : {0, 20}) {
        const int pos0 = n_ctx - n_q;
        const auto q = normal_values(static_cast<size_t>(n_q * q_dim), 74 + static_cast<uint32_t>(n_q));
        std::vector<float> want(static_cast<size_t>(n_q * q_dim), -1.0f), got(want.size(), -2.0f);
        attention(q.data(), q_dim, n_q, pos0, whole.view(0), begin, n_ctx - begin, true, shape, want.data(), q_dim, 2);
        attention(q.data(), q_dim, n_q, pos0, shared, begin, n_ctx - begin, true, shape, got.data(), q_dim, 2);
        EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
            << (type == KvType::kF16 ? "f16" : "f32") << " n_q " << n_q << " begin " << begin;
        // Beside a call over the whole cache in one attention_many().
        std::vector<float> many_a(want.size(), -3.0f), many_b(want.size(), -4.0f);
        const AttentionCall calls[] = {
            {q.data(), q_dim, n_q, pos0, whole.view(0), begin, n_ctx - begin, true, many_a.data(), q_dim},
            {q.data(), q_dim, n_q, pos0, shared, begin, n_ctx - begin, true, many_b.data(), q_dim}};
        attention_many(calls, shape, 2);
        EXPECT_EQ(many_a, want);
        EXPECT_EQ(many_b, want);
      }
    }
  }
}

}  // namespace
}  // namespace ragd
