// Low-precision GEMMs through oneDNN for prompt-sized batches of quantised
// (or 16-bit) weights: y[m x rows] = x[m x cols] * W^T, W given as rows in
// any WeightType, with no second copy of the model in memory.
//
// int8 (u8 x s8 -> s32, oneDNN "gemm:jit"): the weight rows are shared out
// in chunks of about 64 KiB of int8 over OpenMP threads (dynamic schedule);
// each thread dequantises its chunk row by row (dequantize_row) and
// requantises it with one scale per row into a thread-local buffer, then
// runs a single-threaded oneDNN GEMM on it:
//   s_w[n] = max|w[n,:]| / Qw,  q[n,k] = clamp(round(w[n,k] / s_w[n]), -Qw, Qw)
//   s_x[m] = max|x[m,:]| / Qx,  x_q[m,k] = clamp(round(x[m,k] / s_x[m]), -Qx, Qx)
//   acc[m,n] = sum_k (x_q[m,k] + Z) * q[n,k]           (oneDNN, u8 x s8, int32, exact)
//   y[m,n] = (s_x[m] * s_w[n]) * float(acc[m,n] - Z * sum_k q[n,k])
// (round = half to even, via x * (1 / s) in f32; a zero row gives s = 0, q = 0.)
// Activations are quantised once per call. One operand gets 7 bits: without
// VNNI, oneDNN's int8 GEMM on AVX2 sums pairs of u8*s8 products in
// saturating 16 bits (vpmaddubsw), so 255*127*2 overflows and gives wrong
// sums. Default Qw = 64, Qx = 127, Z = 128 (255*64*2 = 32640 fits): the
// activations keep 8 bits because their rows carry the larger outliers;
// Int8GemmOptions::seven_bit_activations gives Qw = 127, Qx = 63, Z = 64.
// Accuracy (tests/model/lowp_matmul_test.cpp bounds it): the rms error
// against the exact f32 product is about 1.7% of the output's rms on
// Gaussian data (either option), and 3.9% (7.4% with 7-bit activations)
// when 4 of 576 activation channels are 20x larger (one scale per row
// spreads an outlier over the whole row); Linear's Q8_0 prompt path
// (activations rounded to Q8_0, one scale per 32, f32 GEMM) measured 0.54%
// and 1.08% on the same kind of data. Check the logits on real models
// before making it a default.
// Speed (one-off timing during development, Q8_0, m = 512, 1 thread, per
// CPU second on a loaded machine): 1.8-2.0x Linear's f32 tile path; about
// 1.3x at m = 32. ~85% of the time is oneDNN's GEMM, the rest the
// requantisation and the int32 -> f32 pass.
//
// bf16 (bf16 x bf16 -> f32): the same chunking with the chunk widened to
// bf16 and the activations rounded to bf16. oneDNN 2.6 has no bf16 matmul
// below avx512_core; bf16_matmul_available() says whether this CPU has one.
//
// oneDNN primitives are cached per (kind, m, k, n, ldy) and run with a
// thread-local user scratchpad, so every function here may be called from
// many threads at once. The only other file that sees oneDNN is matmul.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/quant.h"
#include "ragd/status.h"

namespace ragd {

// A weight matrix as stored: `rows` rows of `cols` elements, each row
// `row_bytes` bytes (weight_row_bytes(type, cols)), row-major. Not owned.
struct WeightRows {
  WeightType type = WeightType::kF32;
  const void* data = nullptr;
  size_t row_bytes = 0;
  int64_t rows = 0;
  int64_t cols = 0;
};

struct Int8GemmOptions {
  // Which operand gives up its eighth bit (see above). false: weights in
  // [-64, 64], activations in [-127, 127] stored as u8 q + 128; true: weights
  // in [-127, 127], activations in [-63, 63] stored as u8 q + 64.
  // Default: false.
  bool seven_bit_activations = false;

  int weight_max() const { return seven_bit_activations ? 127 : 64; }
  int activation_max() const { return seven_bit_activations ? 63 : 127; }
  int activation_zero_point() const { return seven_bit_activations ? 64 : 128; }
};

// y[i * ldy + j] = sum_k x[i * cols + k] * w[j, k] for i < m, j < w.rows,
// through the int8 scheme above, on up to n_threads OpenMP threads.
// ldy >= w.rows. Errors: kInvalidArgument for bad shapes, kInternal for a
// oneDNN failure (y is then unspecified).
[[nodiscard]] Status int8_gemm_nt(const WeightRows& w, const float* x, int64_t m, float* y, int64_t ldy,
                                  int n_threads, Int8GemmOptions options = {});

// True when oneDNN has a non-reference bf16 x bf16 -> f32 matmul on this
// CPU (checked once, by creating one primitive).
bool bf16_matmul_available();

// As int8_gemm_nt, but with the weight chunks widened to bf16 and the
// activations rounded to bf16 (f32 accumulation). kUnimplemented when
// !bf16_matmul_available(): callers then use the f32 path.
[[nodiscard]] Status bf16_gemm_nt(const WeightRows& w, const float* x, int64_t m, float* y, int64_t ldy,
                                  int n_threads);

}  // namespace ragd
