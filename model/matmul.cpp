// The oneDNN adapter: every dnnl exception is caught in this file.
#include "model/matmul.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>
#include <spdlog/spdlog.h>

#include "model/compute_pool.h"
#include "model/kernels.h"
#include "model/lowp_matmul.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define RAGD_AVX2 1
#endif
#if defined(__AMX_TILE__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ragd {
namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

struct CachedMatmul {
  dnnl::matmul prim;
  dnnl::memory::desc scratchpad_md;
};

// Primitives for fixed shapes: a primitive built with runtime dims is much
// slower at small m, so one is built per (m, k, n, ldc) and kept. They run
// with a user scratchpad (one per calling thread): with oneDNN's default
// library scratchpad a primitive shares one buffer between every thread that
// executes it, so two sessions multiplying the same shape at once overwrote
// each other's intermediate results (issue 9).
class PrimitiveCache {
 public:
  CachedMatmul get(int64_t m, int64_t k, int64_t n, int64_t ldc) {
    const auto key = std::make_tuple(m, k, n, ldc);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxEntries) cache_.clear();
    using dt = dnnl::memory::data_type;
    dnnl::memory::desc a_md({m, k}, dt::f32, dnnl::memory::dims{k, 1});
    dnnl::memory::desc b_md({k, n}, dt::f32, dnnl::memory::dims{1, k});
    dnnl::memory::desc c_md({m, n}, dt::f32, dnnl::memory::dims{ldc, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, cpu_engine());
    CachedMatmul g{dnnl::matmul(pd), pd.scratchpad_desc()};
    cache_.emplace(key, g);
    return g;
  }

 private:
  static constexpr size_t kMaxEntries = 512;
  std::mutex mu_;  // guards cache_
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, CachedMatmul> cache_;
};

PrimitiveCache& primitive_cache() {
  static PrimitiveCache cache;
  return cache;
}

void sgemm_nt_loop(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y, int64_t ldc,
                   [[maybe_unused]] int n_threads) {  // unused where OpenMP is off (TSan builds)
#pragma omp parallel for num_threads(n_threads) schedule(static) collapse(2)
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) y[i * ldc + j] = dot_f32(x + i * k, w + j * k, static_cast<int>(k));
  }
}

void sgemm_nt_ld(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y, int64_t ldc,
                 int n_threads) {
  static std::atomic<bool> warned{false};  // sessions on several threads may fail at once
  try {
    if (!omp_in_parallel()) omp_set_num_threads(std::max(1, n_threads));
    const CachedMatmul g = primitive_cache().get(m, k, n, ldc);
    thread_local std::vector<uint8_t> scratch;
    scratch.resize(std::max<size_t>({scratch.size(), g.scratchpad_md.get_size(), 1}));
    using dt = dnnl::memory::data_type;
    dnnl::memory a({{m, k}, dt::f32, dnnl::memory::dims{k, 1}}, cpu_engine(), const_cast<float*>(x));
    dnnl::memory b({{k, n}, dt::f32, dnnl::memory::dims{1, k}}, cpu_engine(), const_cast<float*>(w));
    dnnl::memory c({{m, n}, dt::f32, dnnl::memory::dims{ldc, 1}}, cpu_engine(), y);
    dnnl::stream stream(cpu_engine());
    dnnl::memory sp(g.scratchpad_md, cpu_engine(), scratch.data());
    g.prim.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}, {DNNL_ARG_SCRATCHPAD, sp}});
    stream.wait();
    return;
  } catch (const dnnl::error& e) {
    if (!warned.exchange(true)) {
      spdlog::warn("oneDNN matmul failed ({}); using the plain loop", e.what());
    }
  }
  sgemm_nt_loop(x, m, k, w, n, y, ldc, n_threads);
}


// dot(w16 row, x) with four independent accumulators (m = 1: generation).
float dot_f16_row1(const uint16_t* w, const float* x, int64_t k) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef RAGD_AVX2
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 32 <= k; i += 32) {
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + 1024, _MM_HINT_T0);  // as the Q8_0 kernels
    a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i))),
                         _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8))),
                         _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 16))),
                         _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 24))),
                         _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= k; i += 8) {
    a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i))),
                         _mm256_loadu_ps(x + i), a0);
  }
  sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
#endif
  for (; i < k; ++i) sum += fp16_to_fp32(w[i]) * x[i];
  return sum;
}

// out[j] = dot(w16 row, x row j) for j < mc (mc <= 4); x rows ldx apart.
void dot_f16_rows(const uint16_t* w, const float* x, int64_t ldx, int mc, int64_t k, float* out, int64_t ldo) {
  int64_t i = 0;
  float sums[4] = {0, 0, 0, 0};
#ifdef RAGD_AVX2
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (; i + 8 <= k; i += 8) {
    const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    for (int j = 0; j < mc; ++j) acc[j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + j * ldx + i), acc[j]);
  }
  for (int j = 0; j < mc; ++j) sums[j] = hsum8(acc[j]);
#endif
  for (; i < k; ++i) {
    const float wv = fp16_to_fp32(w[i]);
    for (int j = 0; j < mc; ++j) sums[j] += wv * x[j * ldx + i];
  }
  for (int j = 0; j < mc; ++j) out[j * ldo] = sums[j];
}

#ifdef RAGD_AVX2
// Signed int8 dot product of 32 pairs as 8 int32 lanes (ggml's trick: |w| and
// sign(x, w) make maddubs' unsigned x signed operands exact). Each lane sums
// 4 consecutive products; with AVX-512 VNNI one dpbusd does what maddubs +
// madd do (maddubs cannot saturate here: 2 * 127 * 128 < 2^15), so the
// lanes, and every result, are the same.
inline __m256 dot_i8_32(__m256i aw, __m256i wq, __m256i xq) {
  const __m256i sx = _mm256_sign_epi8(xq, wq);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx));
#else
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1)));
#endif
}
#endif

// Q8_0 weight row (nb blocks) against MC <= 4 Q8_0 activation rows; xd holds
// the activation block scales as floats (row j at xd + j*ldx_blocks). MC is
// a template argument so that the accumulators live in registers (with a
// run-time count they did not: model_bench tg64 on the Qwen2.5-0.5B-shaped
// file went from 37.0 to 51.0 tok/s, bench/README.md).
template <int MC>
void dot_q8_0_rows_n(const BlockQ8_0* w, const BlockQ8_0* x, const float* xd, int64_t ldx_blocks, int64_t nb,
                     float* out, int64_t ldo) {
#ifdef RAGD_AVX2
  __m256 acc[MC];
  for (int j = 0; j < MC; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    // One weight stream per thread: asking for the line 1 KiB ahead keeps
    // more reads in flight than the hardware prefetcher alone (measured:
    // ~10% more generation tok/s on this EPYC; ggml has no such hint).
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + 1024, _MM_HINT_T0);
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i aw = _mm256_sign_epi8(wq, wq);
    const __m256 dw = _mm256_set1_ps(fp16_to_fp32(w[b].d));
    for (int j = 0; j < MC; ++j) {
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[j * ldx_blocks + b].qs));
      const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(xd + j * ldx_blocks + b));
      acc[j] = _mm256_fmadd_ps(d, dot_i8_32(aw, wq, xq), acc[j]);
    }
  }
  for (int j = 0; j < MC; ++j) out[j * ldo] = hsum8(acc[j]);
#else
  for (int j = 0; j < MC; ++j) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_0& xb = x[j * ldx_blocks + b];
      int isum = 0;
      for (int t = 0; t < 32; ++t) isum += w[b].qs[t] * xb.qs[t];
      sum += fp16_to_fp32(w[b].d) * xd[j * ldx_blocks + b] * static_cast<float>(isum);
    }
    out[j * ldo] = sum;
  }
#endif
}

void dot_q8_0_rows(const BlockQ8_0* w, const BlockQ8_0* x, const float* xd, int64_t ldx_blocks, int mc, int64_t nb,
                   float* out, int64_t ldo) {
  switch (mc) {
    case 1: dot_q8_0_rows_n<1>(w, x, xd, ldx_blocks, nb, out, ldo); return;
    case 2: dot_q8_0_rows_n<2>(w, x, xd, ldx_blocks, nb, out, ldo); return;
    case 3: dot_q8_0_rows_n<3>(w, x, xd, ldx_blocks, nb, out, ldo); return;
    case 4: dot_q8_0_rows_n<4>(w, x, xd, ldx_blocks, nb, out, ldo); return;
    default: return;  // callers pass 1 to 4
  }
}

#ifdef RAGD_AVX2
// Two Q8_0 weight rows (w0, w1) against mc <= 4 activation rows: each
// activation block is loaded once for both rows. Every output is summed in
// the same order as dot_q8_0_rows (and ggml), so results are identical.
void dot_q8_0_2rows(const BlockQ8_0* w0, const BlockQ8_0* w1, const BlockQ8_0* x, const float* xd,
                    int64_t ldx_blocks, int mc, int64_t nb, float* out, int64_t ldo) {
  __m256 acc0[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256 acc1[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i wq0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w0[b].qs));
    const __m256i wq1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w1[b].qs));
    const __m256i aw0 = _mm256_sign_epi8(wq0, wq0);
    const __m256i aw1 = _mm256_sign_epi8(wq1, wq1);
    const float dw0 = fp16_to_fp32(w0[b].d), dw1 = fp16_to_fp32(w1[b].d);
    for (int j = 0; j < mc; ++j) {
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[j * ldx_blocks + b].qs));
      const float dx = xd[j * ldx_blocks + b];
      acc0[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw0 * dx), dot_i8_32(aw0, wq0, xq), acc0[j]);
      acc1[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw1 * dx), dot_i8_32(aw1, wq1, xq), acc1[j]);
    }
  }
  for (int j = 0; j < mc; ++j) {
    out[j * ldo] = hsum8(acc0[j]);
    out[j * ldo + 1] = hsum8(acc1[j]);
  }
}
#endif

#if defined(RAGD_AVX2) && defined(__AVX512F__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define RAGD_Q8_VNNI_TILE 1
// Q8_0 products on AVX-512 VNNI, for any number of activation rows.
//
// dpbusd multiplies unsigned by signed bytes, so the activations' int8
// quants are stored as unsigned bytes xu = x + 128, and each 32-bit lane of
// dpbusd(base, xu, w) holds
//   base + sum(w * x) + 128 * sum(w)
// over its four products; base = -128 * sum(w), one dpbusd of 128s against
// the weight block, is computed once per weight block. The lanes are then
// exactly dot_i8_32's, and each output is summed over the blocks in the same
// order with the same products (d_w * d_x times the lanes, fused into an
// eight-lane accumulator, then hsum), so every result is bit for bit what
// dot_q8_0_rows gives for that pair of rows: a row's numbers do not depend
// on the rows beside it.
//
// Two activation rows share a 512-bit register (one per 256-bit half), so a
// tile of RW weight rows by MP row pairs does 2 * RW * MP dot products per
// weight block with one load of each weight block.

// Pair p of the activation rows (an odd last row paired with zeros): for
// block b, the two rows' 32 quants + 128 side by side at
// xu2 + (p * nb + b) * 64, and their scales, eight copies each, at
// xd2 + (p * nb + b) * 16.
void pack_q8_0_pair(const BlockQ8_0* xq, int64_t m, int64_t nb, int64_t p, uint8_t* xu2, float* xd2) {
  for (int64_t i = 2 * p; i < 2 * p + 2; ++i) {
    const int64_t half = i % 2;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* dst = xu2 + (p * nb + b) * 64 + half * 32;
      float* d = xd2 + (p * nb + b) * 16 + half * 8;
      if (i < m) {
        const BlockQ8_0& blk = xq[i * nb + b];
        for (int t = 0; t < 32; ++t) dst[t] = static_cast<uint8_t>(blk.qs[t]) ^ 0x80u;
        std::fill(d, d + 8, fp16_to_fp32(blk.d));
      } else {
        std::fill(dst, dst + 32, uint8_t{0x80});
        std::fill(d, d + 8, 0.0f);
      }
    }
  }
}

// RW weight rows against MP row pairs; writes n_rows (2 * MP or 2 * MP - 1)
// output rows of RW values, ldo apart.
template <int RW, int MP>
void dot_q8_0_tile(const BlockQ8_0* const* w, const uint8_t* xu2, const float* xd2, int64_t nb, float* out,
                   int64_t ldo, int n_rows) {
  __m512 acc[RW][MP];
#pragma GCC unroll 4
  for (int r = 0; r < RW; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < MP; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  const __m512i k128 = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    __m512i wq[RW], base[RW];
    __m512 dw[RW];
#pragma GCC unroll 4
    for (int r = 0; r < RW; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w[r] + b) + 1024, _MM_HINT_T0);
      // (Masked forms throughout: GCC 12's plain ones warn of an undefined
      // operand.)
      wq[r] = _mm512_maskz_broadcast_i64x4(0xFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].qs)));
      base[r] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), k128, wq[r]));
      dw[r] = _mm512_set1_ps(fp16_to_fp32(w[r][b].d));
    }
#pragma GCC unroll 4
    for (int j = 0; j < MP; ++j) {
      const __m512i xq = _mm512_loadu_si512(xu2 + (j * nb + b) * 64);
      const __m512 dx = _mm512_loadu_ps(xd2 + (j * nb + b) * 16);
#pragma GCC unroll 4
      for (int r = 0; r < RW; ++r) {
        const __m512 lanes = _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_dpbusd_epi32(base[r], xq, wq[r]));
        acc[r][j] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], dx), lanes, acc[r][j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < RW; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < MP; ++j) {
      const __m512d a = _mm512_castps_pd(acc[r][j]);
      out[(2 * j) * ldo + r] = hsum8(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, a, 0)));
      if (2 * j + 1 < n_rows) out[(2 * j + 1) * ldo + r] = hsum8(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, a, 1)));
    }
  }
}

// dot_q8_0_tile for 1 to 7 rows (1 to 4 pairs).
template <int RW>
void dot_q8_0_tile_tail(const BlockQ8_0* const* w, const uint8_t* xu2, const float* xd2, int64_t nb, float* out,
                        int64_t ldo, int n_rows) {
  switch ((n_rows + 1) / 2) {
    case 1: dot_q8_0_tile<RW, 1>(w, xu2, xd2, nb, out, ldo, n_rows); return;
    case 2: dot_q8_0_tile<RW, 2>(w, xu2, xd2, nb, out, ldo, n_rows); return;
    case 3: dot_q8_0_tile<RW, 3>(w, xu2, xd2, nb, out, ldo, n_rows); return;
    default: dot_q8_0_tile<RW, 4>(w, xu2, xd2, nb, out, ldo, n_rows); return;
  }
}

// Activation rows per pass over a task's weight rows: with the task's
// weights, small enough to stay in the core's caches.
constexpr int64_t kVnniRowBlock = 64;

// y[i * ldy + r] = row r of w (nb blocks) . activation row i, for weight rows
// [r_begin, r_end) and all m packed rows: weight tiles of four rows, row
// pairs four at a time.
void q8_0_vnni_rows(const BlockQ8_0* w, int64_t nb, int64_t r_begin, int64_t r_end, const uint8_t* xu2,
                    const float* xd2, int64_t m, float* y, int64_t ldy) {
  for (int64_t i0 = 0; i0 < m; i0 += kVnniRowBlock) {
    const int64_t i_end = std::min(m, i0 + kVnniRowBlock);
    for (int64_t r = r_begin; r < r_end;) {
      const BlockQ8_0* wr[4];
      const int rw = r_end - r >= 4 ? 4 : 1;
      for (int k = 0; k < rw; ++k) wr[k] = w + (r + k) * nb;
      for (int64_t i = i0; i < i_end; i += 8) {
        const int n = static_cast<int>(std::min<int64_t>(8, i_end - i));
        const uint8_t* xp = xu2 + (i / 2) * nb * 64;
        const float* dp = xd2 + (i / 2) * nb * 16;
        float* out = y + i * ldy + r;
        if (rw == 4) {
          if (n == 8) {
            dot_q8_0_tile<4, 4>(wr, xp, dp, nb, out, ldy, 8);
          } else {
            dot_q8_0_tile_tail<4>(wr, xp, dp, nb, out, ldy, n);
          }
        } else {
          dot_q8_0_tile_tail<1>(wr, xp, dp, nb, out, ldy, n);
        }
      }
      r += rw;
    }
  }
}
#endif

template <class T>
T* thread_buffer(std::vector<T>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

#if defined(RAGD_Q8_VNNI_TILE) && defined(__AMX_TILE__) && defined(__AMX_INT8__)
#define RAGD_Q8_AMX 1
// Q8_0 products on AMX (Intel's tile unit), for any number of rows.
//
// One TDPBSSD multiplies a tile of 16 weight rows by one block (32 signed
// quants each, read straight from the GGUF layout, rows row_bytes apart) by a
// tile holding the same block of 16 activation rows, and leaves the 16 x 16
// integer block sums in a tile: 8,192 products per instruction, which the
// AVX-512 tiles above need 32 dpbusd for, each followed by a conversion, a
// scale multiply and an FMA per eight lanes. Here the float work is one
// conversion, one multiply and one FMA per block sum:
//   y = fma(d_w * d_x, float(block sum), y)   for the blocks in order,
// the same whatever the number of rows (q8_0_block_reference in
// tests/model/runtime_speed_paths_test.cpp is that loop). So with AMX every
// Q8_0 product, one row or many, sums this way; ggml sums eight lanes per
// block and adds them at the end, so results differ from llama.cpp's by
// float rounding (the golden tests' tolerance), while a row's numbers still
// never depend on the rows beside it.

// Linux grants a process the tile data state only when asked (arch_prctl
// ARCH_REQ_XCOMP_PERM); without it the first tile instruction faults.
bool amx_enabled() {
  static const bool ok = [] {
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
}

// Tiles 0-1: block sums (16 weight rows x 16 activation rows, int32);
// 2-3: one block of 16 weight rows; 4-5: one block of 16 activation rows,
// four quants of each per 64-byte row (the layout TDPBSSD reads).
struct alignas(64) AmxConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
constexpr AmxConfig kAmxConfig = {1, 0, {}, {64, 64, 32, 32, 64, 64}, {16, 16, 16, 16, 8, 8}};

// GCC 12's tile intrinsics tell the compiler neither that ldtilecfg reads
// the whole 64-byte configuration nor that tileloadd reads memory, so the
// configuration is a constant in memory, and a compiler barrier comes before
// tile loads of data written just before.
inline void compiler_barrier() { asm volatile("" ::: "memory"); }

void amx_configure() { _tile_loadconfig(&kAmxConfig); }

constexpr int64_t kAmxGroupBytes = 512;  // one block of 16 activation rows

// Activation rows [16 g, 16 g + 16) of xq (m rows of nb blocks), block b,
// at xb + (g * nb + b) * 512: byte 4j + t of row k is quant 4k + t of row
// 16g + j (zero past m); their scales at xd + (g * nb + b) * 16 + j.
void pack_q8_0_amx(const BlockQ8_0* xq, int64_t m, int64_t nb, int64_t g, int8_t* xb, float* xd) {
  for (int64_t b = 0; b < nb; ++b) {
    int8_t* dst = xb + (g * nb + b) * kAmxGroupBytes;
    float* d = xd + (g * nb + b) * 16;
    for (int j = 0; j < 16; ++j) {
      const int64_t i = g * 16 + j;
      if (i < m) {
        const BlockQ8_0& blk = xq[i * nb + b];
        for (int k = 0; k < 8; ++k) std::memcpy(dst + k * 64 + 4 * j, blk.qs + 4 * k, 4);
        d[j] = fp16_to_fp32(blk.d);
      } else {
        for (int k = 0; k < 8; ++k) std::memset(dst + k * 64 + 4 * j, 0, 4);
        d[j] = 0.0f;
      }
    }
  }
}

// dw[b * 16 + n] = scale of block b of weight row n, for the 16 rows at w
// (rows past the real ones are zero-padded): one gather per block.
void load_scales16(const BlockQ8_0* w, int64_t nb, float* dw) {
  const int row = static_cast<int>(nb * static_cast<int64_t>(sizeof(BlockQ8_0)));
  const __m512i offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(row));
  for (int64_t b = 0; b < nb; ++b) {
    // Four bytes from each row's block b: its f16 scale and two quants.
    const __m512i words = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), 0xFFFF, offsets, &w[b].d, 1);
    _mm512_storeu_ps(dw + b * 16, _mm512_maskz_cvtph_ps(0xFFFF, _mm512_maskz_cvtepi32_epi16(0xFFFF, words)));
  }
}

// Few activation rows (below kAmxMinRows), where a tile instruction would
// mostly multiply zeros: the same block sums with AVX-512 VNNI. Two weight
// rows share a register (one per half) against the activation block + 128
// in both halves; dpbusd from -128 * sum(w) gives eight lanes per row whose
// sum is the block sum, and a transposing reduction leaves the 16 rows' sums
// in one register, scaled and accumulated as amx_scale_sums does.
constexpr int64_t kAmxMinRows = 4;

// Per 128-bit chunk c: the sums of chunk c of a, b, c, d.
inline __m512i sum4_chunks(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i u = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(0xFFFF, a, b), _mm512_maskz_unpackhi_epi32(0xFFFF, a, b));
  const __m512i v = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(0xFFFF, c, d), _mm512_maskz_unpackhi_epi32(0xFFFF, c, d));
  return _mm512_add_epi32(_mm512_maskz_unpacklo_epi64(0xFF, u, v), _mm512_maskz_unpackhi_epi64(0xFF, u, v));
}

// z[k] holds rows 2k (low half) and 2k + 1 (high half), eight lanes each:
// returns the 16 rows' sums in row order.
inline __m512i sum_rows16(const __m512i* z) {
  const __m512i r0 = sum4_chunks(z[0], z[1], z[2], z[3]);  // chunk c: rows 0,2,4,6 (c < 2) or 1,3,5,7
  const __m512i r1 = sum4_chunks(z[4], z[5], z[6], z[7]);
  const __m512i s0 = _mm512_add_epi32(r0, _mm512_maskz_shuffle_i32x4(0xFFFF, r0, r0, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m512i s1 = _mm512_add_epi32(r1, _mm512_maskz_shuffle_i32x4(0xFFFF, r1, r1, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m512i t = _mm512_maskz_shuffle_i32x4(0xFFFF, s0, s1, _MM_SHUFFLE(2, 0, 2, 0));  // rows 0,2,4,6,1,3,5,7,8,10,...
  return _mm512_maskz_permutexvar_epi32(0xFFFF, _mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15), t);
}

// y[i * ldy + n] for the MC activation rows at xu (quants + 128, nb * 32
// bytes a row; scales at xd, nb a row) and the 16 weight rows at w.
template <int MC>
void q8_0_vnni_blocks_group(const BlockQ8_0* w, int64_t nb, int nr, const uint8_t* xu, const float* xd,
                            const float* dw, float* y, int64_t ldy) {
  __m512 acc[MC];
  for (int j = 0; j < MC; ++j) acc[j] = _mm512_setzero_ps();
  const __m512i k128 = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    __m512i wz[8], base[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const BlockQ8_0* lo = w + (2 * k) * nb + b;
      _mm_prefetch(reinterpret_cast<const char*>(lo) + 1024, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(lo + nb) + 1024, _MM_HINT_T0);
      const __m256i w_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo->qs));
      const __m256i w_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo[nb].qs));
      wz[k] = _mm512_mask_broadcast_i64x4(_mm512_maskz_broadcast_i64x4(0x0F, w_lo), 0xF0, w_hi);
      base[k] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), k128, wz[k]));
    }
    const __m512 dwv = _mm512_loadu_ps(dw + b * 16);
#pragma GCC unroll 4
    for (int j = 0; j < MC; ++j) {
      const __m512i xz =
          _mm512_maskz_broadcast_i64x4(0xFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xu + (j * nb + b) * 32)));
      __m512i z[8];
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) z[k] = _mm512_dpbusd_epi32(base[k], xz, wz[k]);
      const __m512 s = _mm512_maskz_cvtepi32_ps(0xFFFF, sum_rows16(z));
      acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dwv, _mm512_set1_ps(xd[j * nb + b])), s, acc[j]);
    }
  }
  const __mmask16 keep = static_cast<__mmask16>((1u << nr) - 1);
  for (int j = 0; j < MC; ++j) _mm512_mask_storeu_ps(y + j * ldy, keep, acc[j]);
}

// acc[n] (16 activation rows) += d_w[n] * d_x * sums[n] for the 16 weight rows.
inline void amx_scale_sums(const int32_t* sums, const float* dw, __m512 dx, __m512* acc) {
#pragma GCC unroll 16
  for (int n = 0; n < 16; ++n) {
    const __m512 s = _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_load_si512(sums + 16 * n));
    acc[n] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(dw[n]), dx), s, acc[n]);
  }
}

// y[i * ldy + n] = weight row n (of nr <= 16 at w, nb blocks each, rows nb
// blocks apart, readable for 16 rows) . activation row i, for the m packed
// rows; dw from load_scales16. The caller has configured the tiles
// (amx_configure).
void q8_0_amx_group(const BlockQ8_0* w, int64_t nb, int nr, const int8_t* xb, const float* xd, const float* dw,
                    int64_t m, float* y, int64_t ldy) {
  const int64_t stride = nb * static_cast<int64_t>(sizeof(BlockQ8_0));
  compiler_barrier();
  alignas(64) int32_t sums[2][256];
  alignas(64) float out[256];
  for (int64_t g = 0; g * 16 < m; ++g) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int n = 0; n < 16; ++n) acc[n] = _mm512_setzero_ps();
    const int8_t* xg = xb + g * nb * kAmxGroupBytes;
    const float* dg = xd + g * nb * 16;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_loadd(2, w[b].qs, stride);
      _tile_loadd(4, xg + b * kAmxGroupBytes, 64);
      _tile_loadd(3, w[b + 1].qs, stride);
      _tile_loadd(5, xg + (b + 1) * kAmxGroupBytes, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_dpbssd(1, 3, 5);
      _tile_stored(0, sums[0], 64);
      _tile_stored(1, sums[1], 64);
      amx_scale_sums(sums[0], dw + b * 16, _mm512_loadu_ps(dg + b * 16), acc);
      amx_scale_sums(sums[1], dw + (b + 1) * 16, _mm512_loadu_ps(dg + (b + 1) * 16), acc);
    }
    if (b < nb) {
      _tile_zero(0);
      _tile_loadd(2, w[b].qs, stride);
      _tile_loadd(4, xg + b * kAmxGroupBytes, 64);
      _tile_dpbssd(0, 2, 4);
      _tile_stored(0, sums[0], 64);
      amx_scale_sums(sums[0], dw + b * 16, _mm512_loadu_ps(dg + b * 16), acc);
    }
    const int rows_here = static_cast<int>(std::min<int64_t>(16, m - g * 16));
    for (int n = 0; n < nr; ++n) {
      _mm512_store_ps(out, acc[n]);
      for (int j = 0; j < rows_here; ++j) y[(g * 16 + j) * ldy + n] = out[j];
    }
  }
}

// Activations for q8_0_block_rows, m rows quantised to Q8_0: below
// kAmxMinRows, xb holds each row's quants + 128 (nb * 32 bytes a row) and xd
// its scales (nb a row); from kAmxMinRows on, pack_q8_0_amx's layout.
struct BlockSumActivations {
  int64_t m = 0;
  const int8_t* xb = nullptr;
  const float* xd = nullptr;
};

// One group of 16 weight rows (nr of them real) against all activations.
void q8_0_block_group(const BlockQ8_0* w, int64_t nb, int nr, const BlockSumActivations& a, float* y, int64_t ldy) {
  thread_local std::vector<float> dw_buf;
  float* dw = thread_buffer(dw_buf, static_cast<size_t>(nb * 16));
  load_scales16(w, nb, dw);
  const auto* xu = reinterpret_cast<const uint8_t*>(a.xb);
  switch (a.m) {
    case 1: q8_0_vnni_blocks_group<1>(w, nb, nr, xu, a.xd, dw, y, ldy); return;
    case 2: q8_0_vnni_blocks_group<2>(w, nb, nr, xu, a.xd, dw, y, ldy); return;
    case 3: q8_0_vnni_blocks_group<3>(w, nb, nr, xu, a.xd, dw, y, ldy); return;
    default: q8_0_amx_group(w, nb, nr, a.xb, a.xd, dw, a.m, y, ldy); return;
  }
}

// y[i * ldy + r] for weight rows [r_begin, r_end) and every activation row,
// 16 weight rows at a time; fewer than 16 left are copied into a
// zero-padded buffer so that the loads stay inside the matrix.
void q8_0_block_rows(const BlockQ8_0* w, int64_t nb, int64_t r_begin, int64_t r_end, const BlockSumActivations& a,
                     float* y, int64_t ldy) {
  const bool amx = a.m >= kAmxMinRows;
  if (amx) amx_configure();
  int64_t r = r_begin;
  for (; r + 16 <= r_end; r += 16) q8_0_block_group(w + r * nb, nb, 16, a, y + r, ldy);
  if (r < r_end) {
    thread_local std::vector<BlockQ8_0> tail_buf;
    BlockQ8_0* tail = thread_buffer(tail_buf, static_cast<size_t>(16 * nb));
    const int nr = static_cast<int>(r_end - r);
    std::memcpy(tail, w + r * nb, static_cast<size_t>(nr * nb) * sizeof(BlockQ8_0));
    std::memset(static_cast<void*>(tail + nr * nb), 0, static_cast<size_t>((16 - nr) * nb) * sizeof(BlockQ8_0));
    q8_0_block_group(tail, nb, nr, a, y + r, ldy);
  }
  if (amx) _tile_release();
}
#endif

// Q4_K weight row (nb super-blocks) against one Q8_K activation row, as
// ggml's q4_K x q8_K dot product: per super-block
//   x.d * (d_w * sum_j sc_j * <q4_j, q8_j> - dmin_w * sum_j m_j * sum(q8_j)),
// with the integer parts exact (maddubs of 4-bit unsigned by int8 cannot
// saturate: 2 * 15 * 127 < 2^15).
float dot_q4_k_q8_k(const BlockQ4_K* w, const BlockQ8_K* x, int64_t nb) {
  float sum_min = 0.0f;
#ifdef RAGD_AVX2
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
#else
  float sum = 0.0f;
#endif
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) q4_k_scale_min(j, w[b].scales, &sc[j], &mn[j]);
    int isum_min = 0;
    for (int j = 0; j < 8; ++j) isum_min += mn[j] * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
    sum_min += x[b].d * fp16_to_fp32(w[b].dmin) * static_cast<float>(isum_min);
    const float d = x[b].d * fp16_to_fp32(w[b].d);
#ifdef RAGD_AVX2
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + 1024, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + 1088, _MM_HINT_T0);
    __m256i isum = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i q4 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * j));
      const __m256i lo = _mm256_and_si256(q4, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 64 * j));
      const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 64 * j + 32));
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_set1_epi16(sc[2 * j]));
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x1), _mm256_set1_epi16(sc[2 * j + 1]));
      isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
#else
    int isum = 0;
    for (int j = 0; j < 4; ++j) {
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += (w[b].qs[32 * j + l] & 0x0F) * x[b].qs[64 * j + l];
        s1 += (w[b].qs[32 * j + l] >> 4) * x[b].qs[64 * j + 32 + l];
      }
      isum += sc[2 * j] * s0 + sc[2 * j + 1] * s1;
    }
    sum += d * static_cast<float>(isum);
#endif
  }
#ifdef RAGD_AVX2
  return hsum8(acc) - sum_min;
#else
  return sum - sum_min;
#endif
}

// Rows per task of the generation kernels: about four tasks per thread, so
// each thread streams long contiguous runs of weights (the hardware
// prefetcher restarts at every jump), while dynamic claiming still evens
// out a thread the OS holds back. 16 at one thread (no claiming then).
int64_t gen_chunk_rows(int64_t rows, int n_threads) {
  if (n_threads <= 1) return 16;
  return std::clamp<int64_t>(rows / (4 * n_threads) / 16 * 16, 16, 512);
}

}  // namespace

void sgemm_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y, int n_threads) {
  sgemm_nt_ld(x, m, k, w, n, y, n, n_threads);
}

void sgemm_nt_naive(const float* x, int64_t m, int64_t k, const float* w, int64_t n, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t t = 0; t < k; ++t) s += static_cast<double>(x[i * k + t]) * w[j * k + t];
      y[i * n + j] = static_cast<float>(s);
    }
  }
}

Result<OnednnMatmulSpeed> onednn_matmul_speed(OnednnMatmulKind kind, int64_t m, int64_t k, int64_t n, int reps,
                                              int n_threads) {
  using dt = dnnl::memory::data_type;
  const dt src_t = kind == OnednnMatmulKind::kF32 ? dt::f32 : kind == OnednnMatmulKind::kBf16 ? dt::bf16 : dt::u8;
  const dt wei_t = kind == OnednnMatmulKind::kF32 ? dt::f32 : kind == OnednnMatmulKind::kBf16 ? dt::bf16 : dt::s8;
  try {
    omp_set_num_threads(std::max(1, n_threads));
    dnnl::memory::desc a_md({m, k}, src_t, dnnl::memory::dims{k, 1});
    dnnl::memory::desc b_md({k, n}, wei_t, dnnl::memory::dims{1, k});
    dnnl::memory::desc c_md({m, n}, dt::f32, dnnl::memory::dims{n, 1});
    dnnl::primitive_attr attr;
    if (kind == OnednnMatmulKind::kInt8) attr.set_output_scales(2, std::vector<float>(static_cast<size_t>(n), 0.01f));
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, cpu_engine());
    dnnl::matmul prim(pd);
    // Bytes of each operand filled with a small repeating pattern (valid in
    // every type: 0x3c3c is ~0.01 in bf16, 60 in u8/s8, ~0.01 in f32 words).
    std::vector<uint8_t> a(a_md.get_size(), 0x3c), b(b_md.get_size(), 0x3c), c(c_md.get_size());
    dnnl::memory am(a_md, cpu_engine(), a.data()), bm(b_md, cpu_engine(), b.data()), cm(c_md, cpu_engine(), c.data());
    dnnl::stream stream(cpu_engine());
    std::vector<double> secs;
    for (int r = 0; r <= std::max(1, reps); ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      prim.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
      stream.wait();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) secs.push_back(s);  // the first run is a warm-up
    }
    std::sort(secs.begin(), secs.end());
    OnednnMatmulSpeed out;
    out.gflops = 2.0 * static_cast<double>(m * k * n) / secs[secs.size() / 2] / 1e9;
    out.impl = pd.impl_info_str();
    return out;
  } catch (const dnnl::error& e) {
    return Status::unimplemented(std::string("oneDNN matmul: ") + e.what());
  }
}

Result<std::unique_ptr<Linear>> Linear::create(WeightType type, const void* data, int64_t rows, int64_t cols,
                                               std::string name, LinearOptions options) {
  if (!weight_type_supported(static_cast<uint32_t>(type))) {
    return Status::unimplemented(name + ": unsupported weight type " + std::to_string(static_cast<int>(type)));
  }
  if (rows <= 0 || cols <= 0) return Status::invalid_argument(name + ": empty weight matrix");
  if (cols % weight_type_block_elems(type) != 0) {
    return Status::invalid_argument(name + ": " + std::to_string(cols) + " columns is not a multiple of the " +
                                    std::string(weight_type_name(type)) + " block size");
  }
  if (data == nullptr) return Status::invalid_argument(name + ": no data");
  std::unique_ptr<Linear> l(new Linear());
  l->type_ = type;
  l->data_ = static_cast<const uint8_t*>(data);
  l->rows_ = rows;
  l->cols_ = cols;
  l->row_bytes_ = weight_row_bytes(type, cols);
  l->name_ = std::move(name);
  l->options_ = options;
  return l;
}

void Linear::row(int64_t r, float* dst) const {
  assert(r >= 0 && r < rows_);
  dequantize_row(type_, data_ + static_cast<size_t>(r) * row_bytes_, dst, cols_);
}

// Prompt-sized batches of Q8_0 without AVX-512 VNNI: from this many rows on,
// the weights are widened to f32 tiles and multiplied by oneDNN's f32 GEMM
// (or, with int8_prompts, oneDNN's int8 GEMM), with the activations
// quantised to Q8_0 and back, so every product is the one ggml computes
// (only the order of the f32 sums differs). With VNNI the int8 tiles take
// every size.
constexpr int64_t kQ8TiledMinRows = 32;

// Q4_K batches from this many rows on widen weight tiles to f32 for oneDNN;
// below it the int8 kernel (generation) reads the 4-bit weights directly.
constexpr int64_t kQ4KTiledMinRows = 8;

void Linear::forward_impl(const float* x, int64_t m, float* y, int n_threads, bool x_writable) const {
  if (m <= 0) return;
  n_threads = std::max(1, n_threads);
  if (options_.int8_prompts && !options_.exact_q8_0 && m >= kQ8TiledMinRows &&
      (type_ == WeightType::kQ8_0 || type_ == WeightType::kQ4_0 || type_ == WeightType::kQ4_K ||
       type_ == WeightType::kQ6_K)) {
    const WeightRows w{type_, data_, row_bytes_, rows_, cols_};
    if (int8_gemm_nt(w, x, m, y, rows_, n_threads).is_ok()) return;  // else the f32 path below
  }
  switch (type_) {
    case WeightType::kF32: forward_f32(x, m, y, n_threads); return;
    case WeightType::kQ8_0: forward_q8_0(x, m, y, n_threads, x_writable); return;
    case WeightType::kQ4_K:
      if (m < kQ4KTiledMinRows) {
        forward_q4_k(x, m, y, n_threads);
        return;
      }
      break;
    default: break;
  }
  if (m < 8) {
    forward_small(x, m, y, n_threads, x_writable);
  } else {
    forward_tiled(x, m, y, n_threads, x_writable);
  }
}

void Linear::forward_f32(const float* x, int64_t m, float* y, int n_threads) const {
  const auto* w = reinterpret_cast<const float*>(data_);
  if (n_threads > 1 && (m >= 8 || ComputePool::current() != nullptr)) {
    // As in forward_tiled: dynamic chunks of rows, a single-threaded GEMM each
    // (and on the generation pool, oneDNN must not start an OpenMP team).
    const int64_t chunk = std::clamp<int64_t>(((int64_t{1} << 16) / cols_) / 16 * 16, 16, 256);
    const int64_t n_chunks = (rows_ + chunk - 1) / chunk;
    parallel_for(n_chunks, n_threads, [&](int64_t c) {
      const int64_t r0 = c * chunk, nr = std::min(chunk, rows_ - r0);
      sgemm_nt_ld(x, m, cols_, w + r0 * cols_, nr, y + r0, rows_, 1);
    });
    return;
  }
  sgemm_nt(x, m, cols_, w, rows_, y, n_threads);
}


bool Linear::rows_independent() const {
  if (type_ != WeightType::kQ8_0) return false;
#ifdef RAGD_Q8_VNNI_TILE
  return options_.exact_q8_0 || !options_.int8_prompts;
#else
  return options_.exact_q8_0;
#endif
}

void Linear::forward_q8_0(const float* x, int64_t m, float* y, int n_threads, bool x_writable) const {
#ifdef RAGD_Q8_VNNI_TILE
  // With AVX-512 VNNI the int8 tiles are faster than the f32 GEMM for
  // prompts too (model_bench pp512, bench/README.md), and exact.
  constexpr bool kTiled = false;
#else
  constexpr bool kTiled = true;
#endif
  if (kTiled && m >= kQ8TiledMinRows && !options_.exact_q8_0) {
    forward_tiled(x, m, y, n_threads, x_writable);
    return;
  }
  forward_q8_0_int8(x, m, y, n_threads);
}

namespace {
#ifdef RAGD_Q8_AMX
// Quantises m activation rows to Q8_0 for q8_0_block_rows, in this thread's
// buffers.
BlockSumActivations quantize_for_block_sums(const float* x, int64_t m, int64_t cols, int n_threads) {
  const int64_t nb = cols / 32, groups = (m + 15) / 16;
  thread_local std::vector<BlockQ8_0> xq_buf;
  thread_local std::vector<int8_t> xb_buf;
  thread_local std::vector<float> xd_buf;
  BlockQ8_0* xq = thread_buffer(xq_buf, static_cast<size_t>(m * nb));
  if (m < kAmxMinRows) {
    auto* xu = reinterpret_cast<uint8_t*>(thread_buffer(xb_buf, static_cast<size_t>(m * nb * 32)));
    float* xd = thread_buffer(xd_buf, static_cast<size_t>(m * nb));
    for (int64_t i = 0; i < m; ++i) quantize_row_q8_0(x + i * cols, xq + i * nb, cols);
    for (int64_t i = 0; i < m * nb; ++i) {
      for (int t = 0; t < 32; ++t) xu[i * 32 + t] = static_cast<uint8_t>(xq[i].qs[t]) ^ 0x80u;
      xd[i] = fp16_to_fp32(xq[i].d);
    }
    return {m, reinterpret_cast<const int8_t*>(xu), xd};
  }
  int8_t* xb = thread_buffer(xb_buf, static_cast<size_t>(groups * nb * kAmxGroupBytes));
  float* xd = thread_buffer(xd_buf, static_cast<size_t>(groups * nb * 16));
  parallel_for(groups, groups >= 4 ? n_threads : 1, [&](int64_t g) {
    for (int64_t i = g * 16; i < std::min(m, g * 16 + 16); ++i) quantize_row_q8_0(x + i * cols, xq + i * nb, cols);
    pack_q8_0_amx(xq, m, nb, g, xb, xd);
  });
  return {m, xb, xd};
}
#endif
}  // namespace

bool Linear::q8_0_sums_whole_blocks() const {
#ifdef RAGD_Q8_AMX
  return type_ == WeightType::kQ8_0 && !options_.exact_q8_0 && amx_enabled();
#else
  return false;
#endif
}

void Linear::forward_q8_0_int8(const float* x, int64_t m, float* y, int n_threads) const {
  const int64_t nb = cols_ / 32;
  const auto* w = reinterpret_cast<const BlockQ8_0*>(data_);
#ifdef RAGD_Q8_AMX
  if (q8_0_sums_whole_blocks()) {
    const BlockSumActivations a = quantize_for_block_sums(x, m, cols_, n_threads);
    const int64_t chunk = gen_chunk_rows(rows_, n_threads);
    parallel_for((rows_ + chunk - 1) / chunk, n_threads, [&](int64_t c) {
      q8_0_block_rows(w, nb, c * chunk, std::min(rows_, (c + 1) * chunk), a, y, rows_);
    });
    return;
  }
#endif
  thread_local std::vector<BlockQ8_0> xq_buf;
  BlockQ8_0* xq = thread_buffer(xq_buf, static_cast<size_t>(m * nb));
#ifdef RAGD_Q8_VNNI_TILE
  if (m > 1) {
    // Pairs of activation rows against four weight rows per tile
    // (q8_0_vnni_rows); each weight block is read from memory once per block
    // of activation rows.
    thread_local std::vector<uint8_t> xu2_buf;
    thread_local std::vector<float> xd2_buf;
    const int64_t pairs = (m + 1) / 2;
    uint8_t* xu2 = thread_buffer(xu2_buf, static_cast<size_t>(pairs * nb * 64));
    float* xd2 = thread_buffer(xd2_buf, static_cast<size_t>(pairs * nb * 16));
    parallel_for(pairs, pairs >= 8 ? n_threads : 1, [&](int64_t p) {
      for (int64_t i = 2 * p; i < std::min(m, 2 * p + 2); ++i) quantize_row_q8_0(x + i * cols_, xq + i * nb, cols_);
      pack_q8_0_pair(xq, m, nb, p, xu2, xd2);
    });
    const int64_t chunk = gen_chunk_rows(rows_, n_threads);
    parallel_for((rows_ + chunk - 1) / chunk, n_threads, [&](int64_t c) {
      q8_0_vnni_rows(w, nb, c * chunk, std::min(rows_, (c + 1) * chunk), xu2, xd2, m, y, rows_);
    });
    return;
  }
#endif
  for (int64_t i = 0; i < m; ++i) quantize_row_q8_0(x + i * cols_, xq + i * nb, cols_);
  thread_local std::vector<float> xd_buf;
  float* xd = thread_buffer(xd_buf, static_cast<size_t>(m * nb));
  for (int64_t i = 0; i < m * nb; ++i) xd[i] = fp16_to_fp32(xq[i].d);
  // Rows in chunks so each thread streams its own part of the weights. A pair
  // of weight rows meets every activation row (four at a time) while it is
  // in L1, so the weights are read from memory once whatever m is; the
  // activations (small) are re-read from cache.
  const int64_t chunk = gen_chunk_rows(rows_, n_threads);
  const int64_t n_chunks = (rows_ + chunk - 1) / chunk;
  parallel_for(n_chunks, n_threads, [&](int64_t c) {
    const int64_t r_end = std::min(rows_, (c + 1) * chunk);
    int64_t r = c * chunk;
#ifdef RAGD_AVX2
    if (m > 1) {
      for (; r + 2 <= r_end; r += 2) {
        for (int64_t i = 0; i < m; i += 4) {
          const int mc = static_cast<int>(std::min<int64_t>(4, m - i));
          if (mc > 1) {
            dot_q8_0_2rows(w + r * nb, w + (r + 1) * nb, xq + i * nb, xd + i * nb, nb, mc, nb, y + i * rows_ + r,
                           rows_);
          } else {
            dot_q8_0_rows(w + r * nb, xq + i * nb, xd + i * nb, nb, 1, nb, y + i * rows_ + r, rows_);
            dot_q8_0_rows(w + (r + 1) * nb, xq + i * nb, xd + i * nb, nb, 1, nb, y + i * rows_ + r + 1, rows_);
          }
        }
      }
    }
#endif
    for (; r < r_end; ++r) {
      for (int64_t i = 0; i < m; i += 4) {
        const int mc = static_cast<int>(std::min<int64_t>(4, m - i));
        dot_q8_0_rows(w + r * nb, xq + i * nb, xd + i * nb, nb, mc, nb, y + i * rows_ + r, rows_);
      }
    }
  });
}

void Linear::forward_q4_k(const float* x, int64_t m, float* y, int n_threads) const {
  const int64_t nb = cols_ / 256;
  thread_local std::vector<BlockQ8_K> xq_buf;
  BlockQ8_K* xq = thread_buffer(xq_buf, static_cast<size_t>(m * nb));
  for (int64_t i = 0; i < m; ++i) quantize_row_q8_k(x + i * cols_, xq + i * nb, cols_);
  const auto* w = reinterpret_cast<const BlockQ4_K*>(data_);
  const int64_t chunk = gen_chunk_rows(rows_, n_threads);
  const int64_t n_chunks = (rows_ + chunk - 1) / chunk;
  parallel_for(n_chunks, n_threads, [&](int64_t c) {
    const int64_t r_end = std::min(rows_, (c + 1) * chunk);
    for (int64_t r = c * chunk; r < r_end; ++r) {
      for (int64_t i = 0; i < m; ++i) y[i * rows_ + r] = dot_q4_k_q8_k(w + r * nb, xq + i * nb, nb);
    }
  });
}

namespace {
// Rounds activations the way ggml converts them for F16 / BF16 weights.
// With x_writable the result goes to x itself rather than to buf.
const float* prepare_activations(WeightType type, bool emulate, const float* x, int64_t n,
                                 std::vector<float>& buf, bool x_writable) {
  if (type == WeightType::kQ8_0) {  // always: the Q8_0 kernels quantise too
    thread_local std::vector<BlockQ8_0> q;
    float* out = x_writable ? const_cast<float*>(x) : thread_buffer(buf, static_cast<size_t>(n));
    BlockQ8_0* qb = thread_buffer(q, static_cast<size_t>(n / 32));
    const int64_t nblocks = n / 32;
    const int64_t n_groups = (nblocks + 63) / 64;
    parallel_for(n_groups, nblocks >= 1024 ? omp_get_max_threads() : 1, [&](int64_t g) {
      const int64_t b0 = g * 64, nbk = std::min<int64_t>(64, nblocks - b0);
      quantize_row_q8_0(x + b0 * 32, qb + b0, nbk * 32);
      dequantize_row(WeightType::kQ8_0, qb + b0, out + b0 * 32, nbk * 32);
    });
    return out;
  }
  if (!emulate || (type != WeightType::kF16 && type != WeightType::kBF16)) return x;
  float* out = x_writable ? const_cast<float*>(x) : thread_buffer(buf, static_cast<size_t>(n));
  if (type == WeightType::kF16) {
    round_row_to_fp16(x, out, n);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_fp32(fp32_to_bf16(x[i]));
  }
  return out;
}
}  // namespace

void Linear::forward_small(const float* x_in, int64_t m, float* y, int n_threads, bool x_writable) const {
  thread_local std::vector<float> xbuf;
  const float* x = prepare_activations(type_, options_.emulate_ggml, x_in, m * cols_, xbuf, x_writable);
  const int64_t chunk = gen_chunk_rows(rows_, n_threads);
  const int64_t n_chunks = (rows_ + chunk - 1) / chunk;
  parallel_for(n_chunks, n_threads, [&](int64_t c) {
    thread_local std::vector<float> wrow_buf;
    float* wrow = thread_buffer(wrow_buf, static_cast<size_t>(cols_));
    const int64_t r_end = std::min(rows_, (c + 1) * chunk);
    for (int64_t r = c * chunk; r < r_end; ++r) {
      const uint8_t* src = data_ + static_cast<size_t>(r) * row_bytes_;
      if (type_ == WeightType::kF16 && m == 1) {
        y[r] = dot_f16_row1(reinterpret_cast<const uint16_t*>(src), x, cols_);
      } else if (type_ == WeightType::kF16) {
        for (int64_t i = 0; i < m; i += 4) {
          const int mc = static_cast<int>(std::min<int64_t>(4, m - i));
          dot_f16_rows(reinterpret_cast<const uint16_t*>(src), x + i * cols_, cols_, mc, cols_, y + i * rows_ + r,
                       rows_);
        }
      } else {
        dequantize_row(type_, src, wrow, cols_);
        for (int64_t i = 0; i < m; ++i) y[i * rows_ + r] = dot_f32(x + i * cols_, wrow, static_cast<int>(cols_));
      }
    }
  });
}

void Linear::forward_f16_rows(const float* x_in, int64_t m, float* y, int n_threads) const {
  thread_local std::vector<float> xbuf;
  const float* x = prepare_activations(type_, options_.emulate_ggml, x_in, m * cols_, xbuf, false);
  const int64_t chunk = gen_chunk_rows(rows_, n_threads);
  const int64_t n_chunks = (rows_ + chunk - 1) / chunk;
  parallel_for(n_chunks, n_threads, [&](int64_t c) {
    const int64_t r_end = std::min(rows_, (c + 1) * chunk);
    for (int64_t r = c * chunk; r < r_end; ++r) {
      const auto* w = reinterpret_cast<const uint16_t*>(data_ + static_cast<size_t>(r) * row_bytes_);
      for (int64_t i = 0; i < m; ++i) y[i * rows_ + r] = dot_f16_row1(w, x + i * cols_, cols_);
    }
  });
}

void Linear::forward_rows(const float* x, int64_t m, float* y, int n_threads) const {
  if (m <= 0) return;
  n_threads = std::max(1, n_threads);
  switch (type_) {
    case WeightType::kQ8_0: forward_q8_0_int8(x, m, y, n_threads); return;
    case WeightType::kQ4_K: forward_q4_k(x, m, y, n_threads); return;
    case WeightType::kF16: forward_f16_rows(x, m, y, n_threads); return;
    case WeightType::kF32:
      for (int64_t i = 0; i < m; ++i) forward_f32(x + i * cols_, 1, y + i * rows_, n_threads);
      return;
    default:
      // BF16, Q4_0, Q6_K: forward_small dequantises each weight row once and
      // dots it with every activation row, so each row is computed alone.
      forward_small(x, m, y, n_threads, false);
      return;
  }
}

void Linear::forward_tiled(const float* x_in, int64_t m, float* y, int n_threads, bool x_writable) const {
  thread_local std::vector<float> xbuf;
  thread_local std::vector<float> tile_buf;
  const float* x = prepare_activations(type_, options_.emulate_ggml, x_in, m * cols_, xbuf, x_writable);
  // About 1 MiB of widened weights per tile: big enough for an efficient
  // GEMM, small enough to stay in L2/L3 while it is used.
  if (n_threads > 1) {
    // Several threads: chunks of weight rows handed out dynamically; each
    // thread widens its chunk into its own L2-sized buffer and multiplies it
    // with a single-threaded GEMM (oneDNN runs sequentially inside a parallel
    // region). One static split of a big GEMM waits for its slowest thread;
    // on a shared machine the OS often holds one back.
    const int64_t chunk = std::clamp<int64_t>(((int64_t{1} << 16) / cols_) / 16 * 16, 16, 256);
    const int64_t n_chunks = (rows_ + chunk - 1) / chunk;
    parallel_for(n_chunks, n_threads, [&](int64_t c) {
      thread_local std::vector<float> chunk_buf;
      float* wc = thread_buffer(chunk_buf, static_cast<size_t>(chunk * cols_));
      const int64_t r0 = c * chunk, nr = std::min(chunk, rows_ - r0);
      for (int64_t r = 0; r < nr; ++r) {
        dequantize_row(type_, data_ + static_cast<size_t>(r0 + r) * row_bytes_, wc + r * cols_, cols_);
      }
      sgemm_nt_ld(x, m, cols_, wc, nr, y + r0, rows_, 1);
    });
    return;
  }
  int64_t tile = std::clamp<int64_t>((int64_t{1} << 18) / cols_, 16, rows_);
  float* wt = thread_buffer(tile_buf, static_cast<size_t>(tile * cols_));
  for (int64_t r0 = 0; r0 < rows_; r0 += tile) {
    const int64_t nr = std::min(tile, rows_ - r0);
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t r = 0; r < nr; ++r) {
      dequantize_row(type_, data_ + static_cast<size_t>(r0 + r) * row_bytes_, wt + r * cols_, cols_);
    }
    sgemm_nt_ld(x, m, cols_, wt, nr, y + r0, rows_, n_threads);
  }
}

void Linear::forward_group(std::span<const Linear* const> layers, const float* x_in, int64_t m,
                           std::span<float* const> ys, int n_threads) {
  if (layers.empty()) return;
  const Linear& l0 = *layers[0];
  bool fused = m == 1 && layers.size() == ys.size() && layers.size() <= 8 &&
               (l0.type_ == WeightType::kQ8_0 || l0.type_ == WeightType::kF16);
  for (const Linear* l : layers) {
    fused = fused && l->type_ == l0.type_ && l->cols_ == l0.cols_ &&
            l->options_.emulate_ggml == l0.options_.emulate_ggml &&
            l->q8_0_sums_whole_blocks() == l0.q8_0_sums_whole_blocks();
  }
  if (!fused) {
    for (size_t i = 0; i < layers.size(); ++i) layers[i]->forward(x_in, m, ys[i], n_threads);
    return;
  }
  const int64_t cols = l0.cols_, nb = cols / 32;
  const bool q8 = l0.type_ == WeightType::kQ8_0;
  thread_local std::vector<float> xbuf;
  thread_local std::vector<BlockQ8_0> xq_buf;
  thread_local std::vector<float> xd_buf;
  const float* x = x_in;
  BlockQ8_0* xq = nullptr;
  float* xd = nullptr;
#ifdef RAGD_Q8_AMX
  BlockSumActivations block_sums;
  if (q8 && l0.q8_0_sums_whole_blocks()) block_sums = quantize_for_block_sums(x_in, 1, cols, n_threads);
#endif
  if (q8) {
    xq = thread_buffer(xq_buf, static_cast<size_t>(nb));
    xd = thread_buffer(xd_buf, static_cast<size_t>(nb));
    quantize_row_q8_0(x_in, xq, cols);
    for (int64_t b = 0; b < nb; ++b) xd[b] = fp16_to_fp32(xq[b].d);
  } else {
    x = prepare_activations(l0.type_, l0.options_.emulate_ggml, x_in, cols, xbuf, false);
  }
  int64_t total_rows = 0;
  for (const Linear* l : layers) total_rows += l->rows_;
  const int64_t chunk = gen_chunk_rows(total_rows, n_threads);
  int64_t first[9] = {0};
  for (size_t i = 0; i < layers.size(); ++i) first[i + 1] = first[i] + (layers[i]->rows_ + chunk - 1) / chunk;
  const int64_t n_chunks = first[layers.size()];
  parallel_for(n_chunks, std::max(1, n_threads), [&](int64_t c) {
    size_t k = 0;
    while (c >= first[k + 1]) ++k;
    const Linear& l = *layers[k];
    float* y = ys[k];
    const int64_t r0 = (c - first[k]) * chunk, r_end = std::min(l.rows_, r0 + chunk);
#ifdef RAGD_Q8_AMX
    if (block_sums.xb != nullptr) {
      q8_0_block_rows(reinterpret_cast<const BlockQ8_0*>(l.data_), nb, r0, r_end, block_sums, y, l.rows_);
      return;
    }
#endif
    for (int64_t r = r0; r < r_end; ++r) {
      const uint8_t* src = l.data_ + static_cast<size_t>(r) * l.row_bytes_;
      if (q8) {
        dot_q8_0_rows(reinterpret_cast<const BlockQ8_0*>(src), xq, xd, nb, 1, nb, y + r, l.rows_);
      } else {
        y[r] = dot_f16_row1(reinterpret_cast<const uint16_t*>(src), x, cols);
      }
    }
  });
}

}  // namespace ragd
