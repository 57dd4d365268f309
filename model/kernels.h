// Element-wise and row kernels of the transformer forward passes. Each one
// follows the arithmetic of ggml's CPU backend (which the golden data in
// ../shared/testdata came from) where that matters for a close match:
// sums of squares in double, RoPE angles kept in float32, the f16 GELU table.
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace ragd {

#if defined(__AVX2__) && defined(__FMA__)
// The sum of 8 lanes, as ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)): the
// order of dot_f32 and of the int8 dot products, which the kernels that
// must give their results bit for bit share.
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

// y = x / sqrt(mean(x^2) + eps) * w   (w may be null: no scaling).
void rms_norm(const float* x, const float* w, float* y, int n, float eps);
// y = (x - mean) / sqrt(var + eps) * w + b   (w, b may be null).
void layer_norm(const float* x, const float* w, const float* b, float* y, int n, float eps);

enum class RopeMode {
  kNormal,  // rotates adjacent pairs (x[2i], x[2i+1]); GGML mode 0 (llama)
  kNeox,    // rotates (x[i], x[i + n_rot/2]); GGML mode 2 (qwen2)
};
// Rotates, in place, the first n_rot dims of each of the n_heads heads of x
// (head h at x + h*head_dim) for absolute position `pos`. `freq_factors`
// (optional, n_rot/2 values) divide each pair's angle (Llama 3.1 rope_freqs).
void rope(float* x, int n_heads, int head_dim, int n_rot, int pos, float freq_base, RopeMode mode,
          const float* freq_factors = nullptr);

// In-place softmax over n values: exp(x - max) / sum, the sum in double.
void softmax(float* x, int n);

// y = silu(g) * u, element-wise (the SwiGLU feed-forward gate).
void swiglu(const float* g, const float* u, float* y, int n);
float silu(float x);

enum class GeluMode {
  kExact,      // tanh approximation evaluated in float
  kGgmlTable,  // ggml's f16 lookup: f16(gelu(f16(x))) for |x| < 10
};
// In place: x = gelu(x).
void gelu(float* x, int n, GeluMode mode);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int n);
// Dot product in float with FMA.
float dot_f32(const float* a, const float* b, int n);

}  // namespace ragd
