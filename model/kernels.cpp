#include "model/kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "model/quant.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace ragd {

void rms_norm(const float* x, const float* w, float* y, int n, float eps) {
  double sum = 0.0;
  int i0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (; i0 + 8 <= n; i0 += 8) {
    const __m256 v = _mm256_loadu_ps(x + i0);
    const __m256 sq = _mm256_mul_ps(v, v);  // squared in float, summed in double
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
  }
  double part[4];
  _mm256_storeu_pd(part, _mm256_add_pd(s0, s1));
  sum = part[0] + part[1] + part[2] + part[3];
#endif
  for (int i = i0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / n);
  const float scale = 1.0f / std::sqrt(mean + eps);
  if (w) {
    for (int i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
  } else {
    for (int i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

namespace {
#if defined(__AVX2__) && defined(__FMA__)
// Sum of 8 floats' lanes accumulated in double.
inline void add8_pd(__m256 v, __m256d& s0, __m256d& s1) {
  s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}
inline double hsum_pd(__m256d s0, __m256d s1) {
  double part[4];
  _mm256_storeu_pd(part, _mm256_add_pd(s0, s1));
  return part[0] + part[1] + part[2] + part[3];
}
#endif
}  // namespace

void layer_norm(const float* x, const float* w, const float* b, float* y, int n, float eps) {
  double sum = 0.0;
  int i0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
  {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (; i0 + 8 <= n; i0 += 8) add8_pd(_mm256_loadu_ps(x + i0), s0, s1);
    sum = hsum_pd(s0, s1);
  }
#endif
  for (int i = i0; i < n; ++i) sum += static_cast<double>(x[i]);
  const float mean = static_cast<float>(sum / n);
  double sum2 = 0.0;
  i0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
  {
    const __m256 mv = _mm256_set1_ps(mean);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (; i0 + 8 <= n; i0 += 8) {
      const __m256 v = _mm256_sub_ps(_mm256_loadu_ps(x + i0), mv);
      _mm256_storeu_ps(y + i0, v);
      add8_pd(_mm256_mul_ps(v, v), s0, s1);
    }
    sum2 = hsum_pd(s0, s1);
  }
#endif
  for (int i = i0; i < n; ++i) {
    const float v = x[i] - mean;
    y[i] = v;
    sum2 += static_cast<double>(v * v);
  }
  const float variance = static_cast<float>(sum2 / n);
  const float scale = 1.0f / std::sqrt(variance + eps);
  for (int i = 0; i < n; ++i) {
    float v = y[i] * scale;
    if (w) v *= w[i];
    if (b) v += b[i];
    y[i] = v;
  }
}

void rope(float* x, int n_heads, int head_dim, int n_rot, int pos, float freq_base, RopeMode mode,
          const float* freq_factors) {
  // The angle is carried in float32 and multiplied once per pair, as ggml's
  // rope cache does; a double or powf-per-pair angle drifts by a few ulps.
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  float cos_sin[2 * 512];
  const int pairs = std::min(n_rot / 2, 512);
  float theta = static_cast<float>(pos);
  for (int i = 0; i < pairs; ++i) {
    const float t = freq_factors ? theta / freq_factors[i] : theta;
    cos_sin[2 * i] = std::cos(t);
    cos_sin[2 * i + 1] = std::sin(t);
    theta *= theta_scale;
  }
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < pairs; ++i) {
      const int a = mode == RopeMode::kNormal ? 2 * i : i;
      const int b = mode == RopeMode::kNormal ? 2 * i + 1 : i + n_rot / 2;
      const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

#if defined(__AVX2__) && defined(__FMA__)
namespace {
// exp(x) for 8 floats: x = n*ln2 + r, |r| <= ln2/2, a degree-6 polynomial for
// e^r (Cephes expf coefficients, about 1 ulp), times 2^n. Inputs below -87
// give ~1e-38 rather than 0 (harmless where it is used: softmax after the
// max is subtracted, SiLU), above 88 give +inf.
inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.7f)), _mm256_set1_ps(-87.0f));
  const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500E-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // 2^n in two factors so that n = 128 (x near 88.7) does not overflow the exponent.
  const __m256i n = _mm256_cvtps_epi32(fx);
  const __m256i n1 = _mm256_srai_epi32(n, 1);
  const __m256i n2 = _mm256_sub_epi32(n, n1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}
}  // namespace
#endif

void softmax(float* x, int n) {
  float max = -std::numeric_limits<float>::infinity();
  int im = 0;
#if defined(__AVX2__) && defined(__FMA__)
  // maxps(v, m) keeps m where v is NaN, as std::max(m, v) does; the maximum
  // does not depend on the order it is taken in (a zero's sign may, which
  // x - max and exp do not see).
  {
    __m256 m0 = _mm256_set1_ps(max), m1 = m0;
    for (; im + 16 <= n; im += 16) {
      m0 = _mm256_max_ps(_mm256_loadu_ps(x + im), m0);
      m1 = _mm256_max_ps(_mm256_loadu_ps(x + im + 8), m1);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_max_ps(m1, m0));
    for (float l : lanes) max = std::max(max, l);
  }
#endif
  for (int i = im; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  int i0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
  if (max != -std::numeric_limits<float>::infinity()) {
    const __m256 mv = _mm256_set1_ps(max);
    const __m256 ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (; i0 + 8 <= n; i0 += 8) {
      const __m256 v = _mm256_loadu_ps(x + i0);
      // exp(-inf) = 0 exactly (masked positions).
      const __m256 e = _mm256_andnot_ps(_mm256_cmp_ps(v, ninf, _CMP_EQ_OQ), exp8(_mm256_sub_ps(v, mv)));
      _mm256_storeu_ps(x + i0, e);
      s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
      s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double part[4];
    _mm256_storeu_pd(part, _mm256_add_pd(s0, s1));
    sum = part[0] + part[1] + part[2] + part[3];
  }
#endif
  for (int i = i0; i < n; ++i) {
    const float e = (x[i] == -std::numeric_limits<float>::infinity()) ? 0.0f : std::exp(x[i] - max);
    x[i] = e;
    sum += static_cast<double>(e);
  }
  const float inv = static_cast<float>(1.0 / sum);
  int is = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 iv = _mm256_set1_ps(inv);
  for (; is + 8 <= n; is += 8) _mm256_storeu_ps(x + is, _mm256_mul_ps(_mm256_loadu_ps(x + is), iv));
#endif
  for (int i = is; i < n; ++i) x[i] *= inv;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

void swiglu(const float* g, const float* u, float* y, int n) {
  int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
    const __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
  }
#endif
  for (; i < n; ++i) y[i] = silu(g[i]) * u[i];
}

namespace {

float gelu_exact(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  constexpr float kCoefA = 0.044715f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

// 65536 f16 results indexed by the f16 bits of the input, like ggml's
// ggml_table_gelu_f16. Built once, immutable afterwards.
const uint16_t* gelu_table() {
  static const std::unique_ptr<uint16_t[]> table = [] {
    // Two spare entries: the AVX2 path gathers 32 bits at entry i.
    auto t = std::make_unique<uint16_t[]>(65536 + 2);
    t[65536] = t[65537] = 0;
    for (uint32_t i = 0; i < 65536; ++i) {
      t[i] = fp32_to_fp16(gelu_exact(fp16_to_fp32(static_cast<uint16_t>(i))));
    }
    return t;
  }();
  return table.get();
}

}  // namespace

void gelu(float* x, int n, GeluMode mode) {
  if (mode == GeluMode::kExact) {
    for (int i = 0; i < n; ++i) x[i] = gelu_exact(x[i]);
    return;
  }
  const uint16_t* table = gelu_table();
  int i0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
  const __m256i mask16 = _mm256_set1_epi32(0xffff);
  for (; i0 + 8 <= n; i0 += 8) {
    const __m256 v = _mm256_loadu_ps(x + i0);
    const __m256i idx = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    const __m256i g = _mm256_and_si256(_mm256_i32gather_epi32(reinterpret_cast<const int*>(table), idx, 2), mask16);
    // Pack the 8 u16 results (one per 32-bit lane) and widen them to float.
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
    __m256 r = _mm256_cvtph_ps(packed);
    r = _mm256_blendv_ps(r, _mm256_setzero_ps(), _mm256_cmp_ps(v, lo, _CMP_LE_OQ));
    r = _mm256_blendv_ps(r, v, _mm256_cmp_ps(v, hi, _CMP_GE_OQ));
    _mm256_storeu_ps(x + i0, r);
  }
#endif
  for (int i = i0; i < n; ++i) {
    const float v = x[i];
    if (v <= -10.0f) {
      x[i] = 0.0f;
    } else if (v >= 10.0f) {
      x[i] = v;
    } else {
      x[i] = fp16_to_fp32(table[fp32_to_fp16(v)]);
    }
  }
}

void add_inplace(float* y, const float* x, int n) {
  for (int i = 0; i < n; ++i) y[i] += x[i];
}

float dot_f32(const float* a, const float* b, int n) {
  int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float sum = hsum8(_mm256_add_ps(acc0, acc1));
#else
  float sum = 0.0f;
#endif
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace ragd
