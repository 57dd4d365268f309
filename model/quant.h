// Weight element types and their block layouts, following ggml's definitions
// (ggml-common.h), plus the f16/bf16 conversions and the Q8_0 activation
// quantiser that ggml's CPU backend applies before a Q8_0 matmul.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace ragd {

// Numeric values are ggml's `ggml_type` ids, as stored in GGUF tensor infos.
enum class WeightType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ6_K = 14,
  kBF16 = 30,
};

// True when `ggml_type_id` is one of the WeightType values above.
bool weight_type_supported(uint32_t ggml_type_id);
std::string_view weight_type_name(WeightType t);
// Elements per block (1 for F32/F16/BF16, 32 for Q8_0/Q4_0, 256 for K-quants).
int weight_type_block_elems(WeightType t);
// Bytes per block.
size_t weight_type_block_bytes(WeightType t);
// Bytes of one row of `n` elements; n must be a multiple of the block size.
size_t weight_row_bytes(WeightType t, int64_t n);

// ggml block layouts (packed, little-endian, fp16 stored as raw bits).
#pragma pack(push, 1)
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
// Activations for K-quant dot products (ggml's block_q8_K): f32 scale,
// 256 int8 values and the sums of each 16 of them.
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
#pragma pack(pop)
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// IEEE half <-> float, round-to-nearest-even (bit-exact with F16C / ggml).
#if defined(__F16C__)
inline float fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t fp32_to_fp16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }
#else
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
#endif
// Rounds a float through f16 and back.
inline float round_to_fp16(float f) { return fp16_to_fp32(fp32_to_fp16(f)); }
// bfloat16 <-> float; to-bf16 rounds to nearest even (NaN kept quiet), as ggml.
inline float bf16_to_fp32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
uint16_t fp32_to_bf16(float f);

// Bulk conversions (vectorised with F16C when available).
void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n);
void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n);
// dst[i] = f32(f16(src[i])); src and dst may alias.
void round_row_to_fp16(const float* src, float* dst, int64_t n);

// Dequantises one row of `n` elements of type `t` from `src` into `dst`.
void dequantize_row(WeightType t, const void* src, float* dst, int64_t n);

// Quantises activations to Q8_0 exactly as ggml's CPU backend does:
// d = amax/127 stored as f16, q = round-half-even(x * (127/amax)) computed in
// f32. n must be a multiple of 32.
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
// Quantises activations to Q8_K as ggml's CPU backend does before a K-quant
// matmul: d = max/-127 of the element with the largest magnitude, q =
// round-half-even(x * -127/max) clamped to 127, plus the 16-element sums.
// n must be a multiple of 256.
void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n);
// Reference (scalar) quantisers used by tests and the GGUF benchmark models.
void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t n);
// Q4_K by ggml's reference rule (quantize_row_q4_K_ref, no importance
// matrix): per 32 weights a scale and a min fitted by weighted least squares
// over a few candidate scales, both stored as 6 bits under f16 super-block
// scales. n must be a multiple of 256.
void quantize_row_q4_k_ref(const float* x, BlockQ4_K* y, int64_t n);
// Writes n f32 values as weights of type t (F32, F16, BF16, Q8_0, Q4_0 or
// Q4_K, with the rules above) into dst, weight_row_bytes(t, n) bytes; n
// a whole number of blocks. False, writing nothing, for a type it cannot
// produce (Q6_K). For tests and the benchmark models.
bool quantize_row(WeightType t, const float* x, void* dst, int64_t n);
// The 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
void q4_k_scale_min(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m);

}  // namespace ragd
