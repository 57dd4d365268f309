// Linear layers: y[m x N] = x[m x K] * W^T for a weight matrix W of N rows
// (output features) by K columns (input features), in any WeightType.
//
// Paths, chosen per call:
//   F32            oneDNN f32 matmul, one primitive cached per (m, K, N).
//   F16 / BF16     m < 8: AVX2 dot kernel reading the 16-bit weights directly;
//                  m >= 8: weight tiles widened to f32, then oneDNN f32.
//                  Activations are first rounded to f16 (bf16), as ggml does,
//                  so products are exact and match llama.cpp closely.
//   Q8_0           activations quantised to Q8_0 blocks, per-block int8
//                  dot products scaled by d_w*d_x. With AMX at any m: one
//                  block sum per weight row and activation row (tiles of
//                  16 x 16 from m = 4, AVX-512 VNNI below), one FMA per
//                  block (q8_0_sums_whole_blocks()). With AVX-512 VNNI
//                  (or AMX and exact_q8_0), ggml-exact at any m: dpbusd on
//                  activations + 128, four weight rows x four pairs of
//                  activation rows per tile.
//                  Without: m < 32 (generation) AVX2 maddubs, two weight rows
//                  x four activation rows; m >= 32 (prompts) activations
//                  quantised to Q8_0 and back, weight tiles widened to f32,
//                  oneDNN f32 (see exact_q8_0).
//   Q4_K           m < 8 (generation) as ggml: activations quantised to Q8_K,
//                  4-bit x int8 dot products per 32 weights (AVX2 maddubs),
//                  6-bit scales and mins applied in integers per 256;
//                  m >= 8: weight tiles widened to f32, oneDNN f32 on f32
//                  activations.
//   Q4_0/Q6_K      dequantised (row or tile) then as F32.
//   int8_prompts   opt-in: quantised weights with m >= 32 through oneDNN's
//                  int8 GEMM on per-row requantised chunks (lowp_matmul.h).
// Why oneDNN int8 is not the default for Q8_0: oneDNN 2.6 has one scale per
// output column, while Q8_0 has one per 32 weights, and without VNNI its
// AVX2 int8 GEMM needs 7-bit weights (pairs of products are summed in 16
// bits); requantising loses the close match with llama.cpp.
//
// A Linear does not own its weights (they live in the mapped GGUF file).
// Thread safety: forward() is const and may run from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "model/quant.h"
#include "ragd/status.h"

namespace ragd {

struct LinearOptions {
  // Reproduce ggml's activation roundings (f16 for F16 weights, bf16 for BF16
  // weights). Default: true.
  bool emulate_ggml = true;
  // Q8_0 weights: always use the int8 block kernel, whose sums are ggml's
  // bit for bit (with AVX-512 VNNI it always is, being the faster path; with
  // AMX the default sums whole blocks instead, see q8_0_sums_whole_blocks(),
  // and this keeps ggml's order).
  // false = batches of 32 rows or more (prompts) use f32 GEMM
  // on widened tiles with the activations quantised to Q8_0 and back: the
  // same products summed in another order, about 1.5x faster on AVX2; the
  // order changes later Q8_0 roundings, so logits differ from llama.cpp by
  // up to ~1.5% of the largest logit on a random model (the golden
  // tolerance is 3%). Default: false.
  bool exact_q8_0 = false;
  // Quantised weights (Q8_0, Q4_0, Q4_K, Q6_K) at prompt sizes (32 rows or
  // more) through oneDNN's u8 x s8 int8 GEMM (model/lowp_matmul.h): weight
  // chunks requantised per row to 7 bits, activations per row to 8 bits.
  // About 1.8x the f32 path at 1 thread on AVX2, but its error is about 3x
  // larger (1.7% of the output rms against 0.5%), so it is opt-in; ignored
  // when exact_q8_0 is set. Default: false.
  bool int8_prompts = false;
};

class Linear {
 public:
  // `data` holds rows*row_bytes(type, cols) bytes and must outlive the Linear.
  static Result<std::unique_ptr<Linear>> create(WeightType type, const void* data, int64_t rows, int64_t cols,
                                               std::string name, LinearOptions options = {});

  WeightType type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  const std::string& name() const { return name_; }
  const void* data() const { return data_; }

  // y[m x rows] = x[m x cols] * W^T, using up to n_threads threads (OpenMP,
  // or the caller's open ComputePool::Scope).
  void forward(const float* x, int64_t m, float* y, int n_threads) const { forward_impl(x, m, y, n_threads, false); }
  // The same result, but x may be overwritten: activations that ggml rounds
  // (to f16 for F16 weights, through Q8_0 for Q8_0 prompts) are rounded in
  // place instead of into a copy of m x cols floats. For inputs that are dead
  // after the call (the attention output, the feed-forward activations).
  void forward_overwriting(float* x, int64_t m, float* y, int n_threads) const {
    forward_impl(x, m, y, n_threads, true);
  }
  // The same as forward() on each row alone (forward(x + i*cols, 1, ...)),
  // bit for bit, for the rows of several sequences decoded in one pass
  // (model/decoder_batch.h). Each weight block is read from memory once for
  // all m rows: Q8_0 and Q4_K through their int8 kernels at any m, F16
  // through the one-row kernel with the weight row held in L1; F32 runs row
  // by row (no serving model uses F32 weights). Meant for the few rows of a
  // decode pass; a chunk-invariant model's whole pass (prompt chunks too)
  // also comes here (model/decoder_batch.h).
  void forward_rows(const float* x, int64_t m, float* y, int n_threads) const;
  // True when forward() and forward_rows() give every row exactly what a
  // one-row product gives it, whatever m: Q8_0 through the int8 kernels
  // (with AVX-512 VNNI always, unless int8_prompts sends prompts to oneDNN;
  // otherwise with exact_q8_0).
  bool rows_independent() const;
  // How this Q8_0 layer sums, the same way for one row or many: true on a
  // CPU with AMX (unless exact_q8_0): one int32 sum per block from the tile
  // unit, y = fma(d_w * d_x, float(sum), y) block after block (matmul.cpp,
  // "Q8_0 on AMX"); false: ggml's order, eight int32 lanes per block scaled
  // into eight float accumulators that are added at the end.
  bool q8_0_sums_whole_blocks() const;
  // Dequantises row r (e.g. a token embedding) into dst[cols].
  void row(int64_t r, float* dst) const;
  // ys[i] = x * layers[i]^T for layers that read the same input (q/k/v,
  // gate/up). For one row (generation) of Q8_0 or F16 layers of equal width
  // the input is prepared once and all rows of all layers are shared out in
  // one parallel region; otherwise it is forward() per layer. Same results.
  static void forward_group(std::span<const Linear* const> layers, const float* x, int64_t m,
                            std::span<float* const> ys, int n_threads);

 private:
  Linear() = default;
  void forward_impl(const float* x, int64_t m, float* y, int n_threads, bool x_writable) const;
  void forward_f32(const float* x, int64_t m, float* y, int n_threads) const;
  void forward_q8_0(const float* x, int64_t m, float* y, int n_threads, bool x_writable) const;
  void forward_q8_0_int8(const float* x, int64_t m, float* y, int n_threads) const;
  void forward_f16_rows(const float* x, int64_t m, float* y, int n_threads) const;
  void forward_q4_k(const float* x, int64_t m, float* y, int n_threads) const;
  void forward_small(const float* x, int64_t m, float* y, int n_threads, bool x_writable) const;
  void forward_tiled(const float* x, int64_t m, float* y, int n_threads, bool x_writable) const;

  WeightType type_ = WeightType::kF32;
  const uint8_t* data_ = nullptr;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  size_t row_bytes_ = 0;
  std::string name_;
  LinearOptions options_;
};

// y[m x n] = x[m x k] * w^T with w row-major n x k, all f32, through a cached
// oneDNN primitive (falls back to a plain loop if oneDNN fails).
void sgemm_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y, int n_threads);
// For the benchmark's notes: speed of a plain oneDNN matmul [m x k] x [k x n]
// with the given data types on this CPU, one primitive built for the shape.
enum class OnednnMatmulKind {
  kF32,   // f32 x f32 -> f32
  kBf16,  // bf16 x bf16 -> f32
  kInt8,  // u8 x s8 -> f32 with one output scale per column (oneDNN 2.6's int8)
};
struct OnednnMatmulSpeed {
  double gflops = 0;   // 2*m*k*n / median seconds of one execute
  std::string impl;    // oneDNN's implementation name (e.g. "brg:avx2", "ref:any")
};
Result<OnednnMatmulSpeed> onednn_matmul_speed(OnednnMatmulKind kind, int64_t m, int64_t k, int64_t n, int reps,
                                              int n_threads);
// Plain triple loop, for tests.
void sgemm_nt_naive(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y);

}  // namespace ragd
