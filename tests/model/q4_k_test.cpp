// Q4_K: the quantiser against the dequantiser, Q8_K activations, and the
// Q4_K matmul paths (int8 kernel for generation, widened tiles for prompts)
// against plain loops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "model/matmul.h"
#include "model/quant.h"

namespace ragd {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f, float shift = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(shift, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<BlockQ4_K> quantize_q4_k(const std::vector<float>& x) {
  std::vector<BlockQ4_K> q(x.size() / 256);
  quantize_row_q4_k_ref(x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

TEST(Q4K, RoundTripErrorIsWithinHalfAStep) {
  // Centred, shifted (all positive: min > 0 is clamped to 0) and wide ranges.
  for (const auto& [scale, shift] : {std::pair{1.0f, 0.0f}, {0.5f, 3.0f}, {20.0f, -5.0f}}) {
    const auto x = randn(256 * 16, 7, scale, shift);
    const auto q = quantize_q4_k(x);
    std::vector<float> y(x.size());
    dequantize_row(WeightType::kQ4_K, q.data(), y.data(), static_cast<int64_t>(x.size()));
    double err2 = 0, step2 = 0;
    for (size_t b = 0; b < q.size(); ++b) {
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        q4_k_scale_min(j, q[b].scales, &sc, &m);
        const float step = fp16_to_fp32(q[b].d) * sc;
        ASSERT_GT(step, 0.0f);
        for (int l = 0; l < 32; ++l) {
          const size_t i = b * 256 + 32 * j + l;
          // Inside the grid a value is within half a step of its code; the
          // fitted scale and min may clip the extremes, but by less than a
          // step. A wrong nibble, scale or min is off by several steps.
          EXPECT_LE(std::fabs(y[i] - x[i]), 1.001f * step) << "block " << b << " sub " << j;
          err2 += (y[i] - x[i]) * (y[i] - x[i]);
          step2 += step * step;
        }
      }
    }
    // Rounding to a uniform grid gives an RMS error of step/sqrt(12) = 0.29 step.
    EXPECT_LT(std::sqrt(err2 / step2), 0.33) << "scale " << scale << " shift " << shift;
  }
}

TEST(Q4K, ValuesOnTheGridAreExact) {
  // Every sub-block of integers 0..15 times 0.25 (minus one negative min) is
  // representable exactly: the round trip must give the input back.
  std::vector<float> x(512);
  std::mt19937 rng(3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * static_cast<float>(rng() % 16) - 1.0f;
  for (size_t s = 0; s < x.size(); s += 32) x[s] = -1.0f, x[s + 1] = 2.75f;  // full range in each
  const auto q = quantize_q4_k(x);
  std::vector<float> y(x.size());
  dequantize_row(WeightType::kQ4_K, q.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-3f) << i;
}

TEST(Q4K, ZeroBlockStaysZero) {
  std::vector<float> x(256, 0.0f);
  const auto q = quantize_q4_k(x);
  std::vector<float> y(256, 1.0f);
  dequantize_row(WeightType::kQ4_K, q.data(), y.data(), 256);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(Q8K, MatchesGgmlRule) {
  auto x = randn(512, 11);
  x[5] = -9.0f;  // the largest magnitude is negative: d = 9/127 > 0, q[5] = -127
  std::vector<BlockQ8_K> q(2);
  quantize_row_q8_k(x.data(), q.data(), 512);
  EXPECT_FLOAT_EQ(q[0].d, 9.0f / 127.0f);
  EXPECT_EQ(q[0].qs[5], -127);
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += q[b].qs[16 * j + l];
      EXPECT_EQ(q[b].bsums[j], s);
    }
    for (int i = 0; i < 256; ++i) EXPECT_NEAR(q[b].qs[i] * q[b].d, x[b * 256 + i], 0.5f * std::fabs(q[b].d) * 1.0001f);
  }
}

class Q4KLinear : public ::testing::TestWithParam<int> {};

TEST_P(Q4KLinear, MatchesNaiveOnDequantisedWeights) {
  const int m = GetParam();
  const int64_t rows = 37, cols = 512;
  const auto w = randn(rows * cols, 5, 0.1f);
  const auto q = quantize_q4_k(w);
  auto lin = Linear::create(WeightType::kQ4_K, q.data(), rows, cols, "w");
  ASSERT_TRUE(lin.is_ok());
  std::vector<float> wd(rows * cols);
  for (int64_t r = 0; r < rows; ++r) (*lin)->row(r, &wd[r * cols]);
  const auto x = randn(m * cols, 6);
  // Generation (m < 8) sees Q8_K activations, as ggml; prompts see f32.
  std::vector<float> xr = x;
  if (m < 8) {
    std::vector<BlockQ8_K> xq(m * cols / 256);
    quantize_row_q8_k(x.data(), xq.data(), m * cols);
    for (size_t b = 0; b < xq.size(); ++b) {
      for (int i = 0; i < 256; ++i) xr[b * 256 + i] = xq[b].qs[i] * xq[b].d;
    }
  }
  std::vector<float> want(m * rows), got(m * rows, -1.0f);
  sgemm_nt_naive(xr.data(), m, cols, wd.data(), rows, want.data());
  for (int threads : {1, 2}) {
    (*lin)->forward(x.data(), m, got.data(), threads);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-4f * (1 + std::fabs(want[i]))) << "m " << m << " threads " << threads << " i " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, Q4KLinear, ::testing::Values(1, 3, 7, 8, 33));

}  // namespace
}  // namespace ragd
