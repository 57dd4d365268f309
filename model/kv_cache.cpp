#include "model/kv_cache.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "model/compute_pool.h"
#include "model/kernels.h"
#include "model/quant.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace ragd {

void KvCache::Unmap::operator()(uint8_t* p) const { ::munmap(p, bytes); }

Result<size_t> KvCache::bytes_for(int n_layer, int n_ctx, int kv_dim, KvType type) {
  if (n_layer < 1 || n_ctx < 1 || kv_dim < 1) {
    return Status::invalid_argument("KV cache of " + std::to_string(n_layer) + " layers x " + std::to_string(n_ctx) +
                                    " positions x " + std::to_string(kv_dim) + " values: every size must be positive");
  }
  size_t bytes = type == KvType::kF16 ? 2 : 4;
  for (const size_t f : {static_cast<size_t>(n_layer), size_t{2}, static_cast<size_t>(n_ctx), static_cast<size_t>(kv_dim)}) {
    if (__builtin_mul_overflow(bytes, f, &bytes)) {
      return Status::invalid_argument("KV cache of " + std::to_string(n_layer) + " layers x " +
                                      std::to_string(n_ctx) + " positions x " + std::to_string(kv_dim) +
                                      " values: the size overflows");
    }
  }
  return bytes;
}

Result<KvCache> KvCache::create(int n_layer, int n_ctx, int kv_dim, KvType type) {
  RAGD_ASSIGN_OR_RETURN(const size_t bytes, bytes_for(n_layer, n_ctx, kv_dim, type));
  const auto mb = [](size_t b) { return std::to_string((b + 999'999) / 1'000'000) + " MB"; };
  const std::string what = "a KV cache of " + std::to_string(n_ctx) + " positions (" + mb(bytes) + ": " +
                           std::to_string(n_layer) + " layers x K and V x " + std::to_string(kv_dim) + " values x " +
                           (type == KvType::kF16 ? "2" : "4") + " bytes)";
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 && bytes / static_cast<size_t>(page) > static_cast<size_t>(pages)) {
    return Status::resource_exhausted(what + " is more than this machine's " +
                                      mb(static_cast<size_t>(pages) * static_cast<size_t>(page)) +
                                      " of memory: use a smaller context");
  }
  // Not malloc: glibc may serve a block this size from an arena (its mmap
  // threshold rises to 32 MiB as blocks are freed), and the vector's zero
  // fill touched every page. Fresh anonymous pages read as zeros and take
  // memory only when written. Without MAP_NORESERVE, so that the kernel's
  // overcommit check refuses a size that cannot fit here now, not at a page
  // written later.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    return Status::unavailable(what + " could not be mapped (" + std::strerror(err) +
                               "): free memory, or use a smaller context or fewer sequences at once");
  }
  // Small pages: a transparent huge page would span several layers' rows
  // and fill all of them at the first position written.
  ::madvise(p, bytes, MADV_NOHUGEPAGE);
  return KvCache(n_layer, n_ctx, kv_dim, type, bytes,
                 std::unique_ptr<uint8_t, Unmap>(static_cast<uint8_t*>(p), Unmap{bytes}));
}

KvCache::KvCache(int n_layer, int n_ctx, int kv_dim, KvType type, size_t bytes, std::unique_ptr<uint8_t, Unmap> data)
    : n_layer_(n_layer), n_ctx_(n_ctx), kv_dim_(kv_dim), type_(type), bytes_(bytes), data_(std::move(data)) {}

KvCache::KvCache(int n_layer, int n_ctx, int kv_dim, KvType type) : n_layer_(n_layer), n_ctx_(n_ctx), kv_dim_(kv_dim), type_(type), bytes_(0) {
  Result<KvCache> made = create(n_layer, n_ctx, kv_dim, type);
  if (!made.is_ok()) throw std::bad_alloc();
  bytes_ = made->bytes_;
  data_ = std::move(made->data_);
}

std::vector<uint8_t> KvCache::export_rows(int begin, int end) const {
  assert(0 <= begin && begin <= end && end <= n_ctx_);
  const size_t rb = row_bytes(), part = rb * static_cast<size_t>(end - begin);
  std::vector<uint8_t> out(part * 2 * static_cast<size_t>(n_layer_));
  const uint8_t* base = data_.get();
  const size_t elem = type_ == KvType::kF16 ? 2 : 4;
  for (int l = 0; l < n_layer_; ++l) {
    for (int w = 0; w < 2; ++w) {
      std::memcpy(out.data() + (static_cast<size_t>(l) * 2 + w) * part, base + offset(l, w, begin) * elem, part);
    }
  }
  return out;
}

void KvCache::import_rows(const std::vector<uint8_t>& data, int data_rows, int at, int n) {
  assert(0 <= n && n <= data_rows && 0 <= at && at + n <= n_ctx_);
  const size_t rb = row_bytes(), part = rb * static_cast<size_t>(data_rows);
  uint8_t* base = data_.get();
  const size_t elem = type_ == KvType::kF16 ? 2 : 4;
  for (int l = 0; l < n_layer_; ++l) {
    for (int w = 0; w < 2; ++w) {
      std::memcpy(base + offset(l, w, at) * elem, data.data() + (static_cast<size_t>(l) * 2 + w) * part,
                  rb * static_cast<size_t>(n));
    }
  }
}

void KvCache::store(int layer, int pos, int n, const float* k, const float* v) {
  assert(layer >= 0 && layer < n_layer_ && pos >= 0 && pos + n <= n_ctx_);
  const size_t count = static_cast<size_t>(n) * kv_dim_;
  if (type_ == KvType::kF16) {
    fp32_to_fp16_row(k, f16() + offset(layer, 0, pos), static_cast<int64_t>(count));
    fp32_to_fp16_row(v, f16() + offset(layer, 1, pos), static_cast<int64_t>(count));
  } else {
    std::memcpy(f32() + offset(layer, 0, pos), k, count * 4);
    std::memcpy(f32() + offset(layer, 1, pos), v, count * 4);
  }
}

KvView KvCache::view(int layer) const {
  KvView v;
  v.stride = kv_dim_;
  if (type_ == KvType::kF16) {
    v.k = f16() + offset(layer, 0, 0);
    v.v = f16() + offset(layer, 1, 0);
    v.f16 = true;
  } else {
    v.k = f32() + offset(layer, 0, 0);
    v.v = f32() + offset(layer, 1, 0);
  }
  return v;
}

namespace {

#if defined(__AVX2__) && defined(__FMA__)
// scores[k] = q . K[k] for 8 keys (rows kstride apart), hd a multiple of 8,
// each summed exactly as dot_f32 sums it: per key, lanes of 16-element
// blocks split over two accumulators (a leftover 8 into the first), the two
// added, then the horizontal sum's tree ((u0+u4)+(u2+u6)) + ((u1+u5)+(u3+u7)),
// here done for the 8 keys at once. So every score is dot_f32's, whichever
// path computes it, and a query row's attention does not depend on how many
// rows share the call (the prompt's chunking).
inline __m256 qk8(const float* q, const float* k, int64_t kstride, int hd) {
  __m256 a[8], b[8];
  for (int t = 0; t < 8; ++t) a[t] = b[t] = _mm256_setzero_ps();
  int d = 0;
  for (; d + 16 <= hd; d += 16) {
    const __m256 q0 = _mm256_loadu_ps(q + d), q1 = _mm256_loadu_ps(q + d + 8);
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) {
      a[t] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k + t * kstride + d), a[t]);
      b[t] = _mm256_fmadd_ps(q1, _mm256_loadu_ps(k + t * kstride + d + 8), b[t]);
    }
  }
  if (d < hd) {
    const __m256 q0 = _mm256_loadu_ps(q + d);
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) a[t] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k + t * kstride + d), a[t]);
  }
  __m256 u[8];
#pragma GCC unroll 8
  for (int t = 0; t < 8; ++t) u[t] = _mm256_add_ps(a[t], b[t]);
  // Low plus high half of each key's lanes, two keys per register.
  __m256 h[4];
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t) {
    h[t] = _mm256_add_ps(_mm256_permute2f128_ps(u[2 * t], u[2 * t + 1], 0x20),
                         _mm256_permute2f128_ps(u[2 * t], u[2 * t + 1], 0x31));
  }
  // Lanes 0+2 and 1+3 of each key: keys 0,2 | 1,3 and 4,6 | 5,7.
  const __m256 t0 = _mm256_add_ps(_mm256_shuffle_ps(h[0], h[1], 0x44), _mm256_shuffle_ps(h[0], h[1], 0xEE));
  const __m256 t1 = _mm256_add_ps(_mm256_shuffle_ps(h[2], h[3], 0x44), _mm256_shuffle_ps(h[2], h[3], 0xEE));
  // Their sum: keys 0,2,4,6 | 1,3,5,7, then into key order.
  const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(t0, t1, 0x88), _mm256_shuffle_ps(t0, t1, 0xDD));
  return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// out[hd] = sum_j p[j] * V[j] (rows vstride apart), NV = hd / 8.
template <int NV>
void pv_acc(const float* p, int n, const float* v, int64_t vstride, float* out) {
  __m256 acc[NV];
  for (int k = 0; k < NV; ++k) acc[k] = _mm256_setzero_ps();
  for (int j = 0; j < n; ++j) {
    const __m256 pj = _mm256_broadcast_ss(p + j);
    const float* row = v + j * vstride;
    for (int k = 0; k < NV; ++k) acc[k] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 8 * k), acc[k]);
  }
  for (int k = 0; k < NV; ++k) _mm256_storeu_ps(out + 8 * k, acc[k]);
}
#endif

void pv_generic(const float* p, int n, const float* v, int64_t vstride, int hd, float* out) {
#if defined(__AVX2__) && defined(__FMA__)
  switch (hd) {
    case 32: pv_acc<4>(p, n, v, vstride, out); return;
    case 64: pv_acc<8>(p, n, v, vstride, out); return;
    case 128: pv_acc<16>(p, n, v, vstride, out); return;
    default: break;
  }
#endif
  std::fill(out, out + hd, 0.0f);
  for (int j = 0; j < n; ++j) {
    const float pj = p[j];
    const float* row = v + j * vstride;
    for (int d = 0; d < hd; ++d) out[d] += pj * row[d];
  }
}

// scores[j] = dot_f32(q, K[j]) * scale: eight keys at a time through qk8,
// which sums in dot_f32's order, the rest one by one.
void qk_generic(const float* q, const float* k, int64_t kstride, int n, int hd, float scale, float* scores) {
  int j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  if (hd % 8 == 0) {
    const __m256 sv = _mm256_set1_ps(scale);
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(scores + j, _mm256_mul_ps(qk8(q, k + j * kstride, kstride, hd), sv));
  }
#endif
  for (; j < n; ++j) scores[j] = dot_f32(q, k + j * kstride, hd) * scale;
}

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define RAGD_F16_DECODE 1
// out_h[hd] = sum_j p_h[j] * V[j] for the HP heads h of a pass (rows of
// f16 V, vstride apart, widened where they are read): pv_acc's FMAs in its
// order, so each output equals pv_generic's over the widened rows. With
// `more`, the sums go on from out_h (the keys before these rows, held
// elsewhere: a shared prefix), the same FMAs in the same order.
template <int NV, int HP>
void pv_f16_heads(const float* const* p, int n, const uint16_t* v, int64_t vstride, float* const* out, bool more) {
  __m256 acc[HP][NV];
  for (int h = 0; h < HP; ++h) {
    for (int k = 0; k < NV; ++k) acc[h][k] = more ? _mm256_loadu_ps(out[h] + 8 * k) : _mm256_setzero_ps();
  }
  for (int j = 0; j < n; ++j) {
    const uint16_t* row = v + j * vstride;
    __m256 pj[HP];
    for (int h = 0; h < HP; ++h) pj[h] = _mm256_broadcast_ss(p[h] + j);
    for (int k = 0; k < NV; ++k) {
      const __m256 vk = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * k)));
      for (int h = 0; h < HP; ++h) acc[h][k] = _mm256_fmadd_ps(pj[h], vk, acc[h][k]);
    }
  }
  for (int h = 0; h < HP; ++h) {
    for (int k = 0; k < NV; ++k) _mm256_storeu_ps(out[h] + 8 * k, acc[h][k]);
  }
}

// scores_h[j] = dot_f32(q_h, K[j]) * scale for the nh heads of a group over
// n rows of f16 K (kstride apart), each row widened in registers where it is
// read: dot_f32's FMAs, pairing, horizontal sum and scaling in its order, so
// every score is the one the widened row gave through dot_f32 (hd a multiple
// of 16), without a call and a store per key.
template <int HD>
void qk_f16_heads_avx2(const float* const* q, int nh, int n, const uint16_t* k, int64_t kstride, float scale,
                  float* const* scores) {
  static_assert(HD % 16 == 0);
  for (int j = 0; j < n; ++j) {
    const uint16_t* row = k + j * kstride;
    __m256 kr[HD / 8];
#pragma GCC unroll 16
    for (int c = 0; c < HD / 8; ++c) {
      kr[c] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * c)));
    }
    for (int h = 0; h < nh; ++h) {
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
#pragma GCC unroll 8
      for (int c = 0; c < HD / 8; c += 2) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q[h] + 8 * c), kr[c], acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q[h] + 8 * c + 8), kr[c + 1], acc1);
      }
      scores[h][j] = hsum8(_mm256_add_ps(acc0, acc1)) * scale;
    }
  }
}

#ifdef __AVX512F__
#define RAGD_F16_DECODE_512 1
// The same scores with 512-bit registers. dot_f32's two eight-lane
// accumulators (elements 16i..16i+7 and 16i+8..16i+15) are the two halves of
// one 16-lane accumulator, so its FMAs are dot_f32's, lane for lane; for 16
// keys at once, the halves' sum and hsum8's tree ((u0+u4) + (u2+u6)) +
// ((u1+u5) + (u3+u7)) are done by transposing shuffles, the same additions in
// the same order for every key (hsum8_keys16).
inline __m512 hsum8_keys16(const __m512* acc) {
  __m512 p[8], q[4];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {  // keys 2i, 2i+1: acc0 + acc1, eight lanes each
    p[i] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(0xFFFF, acc[2 * i], acc[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_maskz_shuffle_f32x4(0xFFFF, acc[2 * i], acc[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
#pragma GCC unroll 4
  for (int m = 0; m < 4; ++m) {  // chunk k: key 4m + k, [u0+u4, u1+u5, u2+u6, u3+u7]
    q[m] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(0xFFFF, p[2 * m], p[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_maskz_shuffle_f32x4(0xFFFF, p[2 * m], p[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  // Per chunk: (s0 + s2), (s1 + s3) of two keys, then their sum for four.
  const __m512 t01 = _mm512_add_ps(_mm512_maskz_shuffle_ps(0xFFFF, q[0], q[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_maskz_shuffle_ps(0xFFFF, q[0], q[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 t23 = _mm512_add_ps(_mm512_maskz_shuffle_ps(0xFFFF, q[2], q[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_maskz_shuffle_ps(0xFFFF, q[2], q[3], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 r = _mm512_add_ps(_mm512_maskz_shuffle_ps(0xFFFF, t01, t23, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_maskz_shuffle_ps(0xFFFF, t01, t23, _MM_SHUFFLE(3, 1, 3, 1)));
  // Lane 4k + l holds key 4l + k.
  return _mm512_maskz_permutexvar_ps(0xFFFF, _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
                                     r);
}

template <int HD>
void qk_f16_heads(const float* const* q, int nh, int n, const uint16_t* k, int64_t kstride, float scale,
                  float* const* scores) {
  static_assert(HD % 16 == 0);
  constexpr int NC = HD / 16;
  alignas(64) float kw[16 * HD];  // 16 keys, widened once for every head
  const __m512 sv = _mm512_set1_ps(scale);
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    for (int t = 0; t < 16; ++t) {
      const uint16_t* row = k + (j + t) * kstride;
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) {
        _mm512_store_ps(kw + t * HD + 16 * c,
                        _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * c))));
      }
    }
    for (int h = 0; h < nh; ++h) {
      __m512 qv[NC], acc[16];
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) qv[c] = _mm512_loadu_ps(q[h] + 16 * c);
#pragma GCC unroll 16
      for (int t = 0; t < 16; ++t) {
        acc[t] = _mm512_setzero_ps();
#pragma GCC unroll 8
        for (int c = 0; c < NC; ++c) acc[t] = _mm512_fmadd_ps(qv[c], _mm512_load_ps(kw + t * HD + 16 * c), acc[t]);
      }
      _mm512_storeu_ps(scores[h] + j, _mm512_mul_ps(hsum8_keys16(acc), sv));
    }
  }
  if (j < n) {
    const float* const* qh = q;
    float* tail[64];
    for (int h = 0; h < nh; ++h) tail[h] = scores[h] + j;
    qk_f16_heads_avx2<HD>(qh, nh, n - j, k + j * kstride, kstride, scale, tail);
  }
}
#else
template <int HD>
void qk_f16_heads(const float* const* q, int nh, int n, const uint16_t* k, int64_t kstride, float scale,
                  float* const* scores) {
  qk_f16_heads_avx2<HD>(q, nh, n, k, kstride, scale, scores);
}
#endif

#ifdef RAGD_F16_DECODE_512
// pv_f16_heads with 16 lanes per register: lane for lane the same FMAs in the
// same order (elements 16k..16k+15 are pv_acc's accumulators 2k and 2k + 1).
template <int NV16, int HP>
void pv_f16_heads512(const float* const* p, int n, const uint16_t* v, int64_t vstride, float* const* out, bool more) {
  // (Fully unrolled, so that the accumulators stay in registers.)
  __m512 acc[HP][NV16];
#pragma GCC unroll 4
  for (int h = 0; h < HP; ++h) {
#pragma GCC unroll 8
    for (int k = 0; k < NV16; ++k) acc[h][k] = more ? _mm512_loadu_ps(out[h] + 16 * k) : _mm512_setzero_ps();
  }
  for (int j = 0; j < n; ++j) {
    const uint16_t* row = v + j * vstride;
    __m512 pj[HP];
#pragma GCC unroll 4
    for (int h = 0; h < HP; ++h) pj[h] = _mm512_set1_ps(p[h][j]);
#pragma GCC unroll 8
    for (int k = 0; k < NV16; ++k) {
      const __m512 vk = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * k)));
#pragma GCC unroll 4
      for (int h = 0; h < HP; ++h) acc[h][k] = _mm512_fmadd_ps(pj[h], vk, acc[h][k]);
    }
  }
#pragma GCC unroll 4
  for (int h = 0; h < HP; ++h) {
#pragma GCC unroll 8
    for (int k = 0; k < NV16; ++k) _mm512_storeu_ps(out[h] + 16 * k, acc[h][k]);
  }
}
#endif

// Query vectors [0, nh) over the same V rows (the heads of one group, of
// one query row or of several), several at a time where the registers
// allow: each widened V row serves them all.
template <int NV>
void pv_f16_group(float* const* p, int nh, int n, const uint16_t* v, int64_t vstride, float* const* out, bool more) {
  int h = 0;
#ifdef RAGD_F16_DECODE_512
  constexpr int NV16 = NV / 2;
  constexpr int kHeads = NV16 <= 4 ? 4 : 2;
  for (; h + kHeads <= nh; h += kHeads) pv_f16_heads512<NV16, kHeads>(p + h, n, v, vstride, out + h, more);
  if constexpr (kHeads == 4) {
    if (nh - h == 3) {
      pv_f16_heads512<NV16, 3>(p + h, n, v, vstride, out + h, more);
      return;
    }
  }
  for (; h + 2 <= nh; h += 2) pv_f16_heads512<NV16, 2>(p + h, n, v, vstride, out + h, more);
  for (; h < nh; ++h) pv_f16_heads512<NV16, 1>(p + h, n, v, vstride, out + h, more);
#else
  constexpr int kPair = NV <= 8 ? 2 : 1;
  for (; h + kPair <= nh; h += kPair) pv_f16_heads<NV, kPair>(p + h, n, v, vstride, out + h, more);
  for (; h < nh; ++h) pv_f16_heads<NV, 1>(p + h, n, v, vstride, out + h, more);
#endif
}
#endif

}  // namespace

// Keys and values are read as f32 rows: an f16 cache is widened once per
// call (exactly; every head of a group then reads the same f32 rows), so the
// inner loops are plain FMAs: 8 keys per q.K step, hd/8 accumulators for P.V.
namespace {

#ifdef RAGD_F16_DECODE
// Attention over an f16 cache (head_dim 32, 64 or 128), any number of query
// rows. Each key and value row is widened where it is read and serves every
// query head of its group (grouped-query attention: 7 heads per K/V head in
// Qwen2.5-0.5B), instead of widening the whole cache per call into buffers
// that every head then reads again (at a 1,600-token context that traffic
// was most of a decode step's attention). A task is one K/V head for a block
// of query rows: one row (generation, fewer than kF16RowsMin rows), or up to
// kF16StreamsMax / heads-per-group rows (a prompt chunk), whose queries then
// share every widened block of 16 keys. Q.K is dot_f32 per key and P.V is
// pv_acc's order, on the same f16-rounded Q and P, so every output is the
// one attention() computes on the widened cache, whatever the rows around it.
bool f16_decode_applies(const AttentionCall& c, const AttentionShape& shape) {
  const int hd = shape.head_dim;
  return c.kv.f16 && (hd == 32 || hd == 64 || hd == 128) && shape.n_head / shape.n_head_kv <= 64;
}

// Query rows from which a call's tasks take blocks of rows.
constexpr int kF16RowsMin = 16;
// Query vectors (rows x heads of a group) sharing the widened keys of one
// task: qk_f16_heads takes at most 64.
constexpr int kF16StreamsMax = 64;

// Query rows per task of a call.
int f16_task_rows(const AttentionCall& c, const AttentionShape& shape) {
  if (c.n_q < kF16RowsMin) return 1;
  return std::clamp(kF16StreamsMax / (shape.n_head / shape.n_head_kv), 1, 16);
}

// Tasks of a call: (block of query rows, K/V head, part of its group), `parts`
// parts per group (parts > 1 only for one-row blocks). A task computes whole
// heads, so how the heads are split into parts, and which thread runs a
// task, never changes a result.
int64_t f16_decode_tasks(const AttentionCall& c, const AttentionShape& shape, int parts) {
  const int rows = f16_task_rows(c, shape);
  return static_cast<int64_t>((c.n_q + rows - 1) / rows) * shape.n_head_kv * (rows == 1 ? parts : 1);
}

void f16_decode_task(const AttentionCall& c, const AttentionShape& shape, int parts, int64_t t) {
  const int hd = shape.head_dim;
  const int group = shape.n_head / shape.n_head_kv;
  const int rows = f16_task_rows(c, shape);
  if (rows > 1) parts = 1;
  const int per_part = (group + parts - 1) / parts;
  const int part = static_cast<int>(t % parts);
  const int g = static_cast<int>((t / parts) % shape.n_head_kv);
  // Latest queries first: with a causal mask they are the longest tasks.
  const int block = static_cast<int>(t / (static_cast<int64_t>(parts) * shape.n_head_kv));
  const int n_blocks = (c.n_q + rows - 1) / rows;
  const int i0 = (n_blocks - 1 - block) * rows;
  const int nr = std::min(rows, c.n_q - i0);
  const int h0 = g * group + part * per_part;
  const int nh = std::min(per_part, (g + 1) * group - h0);
  if (nh <= 0) return;
  auto visible = [&](int i) { return c.causal ? std::clamp(c.q_pos0 + i + 1 - c.key_begin, 0, c.n_kv) : c.n_kv; };
  int n_max = 0;
  for (int r = 0; r < nr; ++r) n_max = std::max(n_max, visible(i0 + r));
  const int streams = nr * nh;  // query vectors: row-major over (row, head)
  thread_local std::vector<float> qh_buf, scores_buf;
  const size_t row = static_cast<size_t>(n_max) + 16;
  if (qh_buf.size() < static_cast<size_t>(streams) * hd) qh_buf.resize(static_cast<size_t>(streams) * hd);
  if (scores_buf.size() < static_cast<size_t>(streams) * row) scores_buf.resize(static_cast<size_t>(streams) * row);
  float* qh[kF16StreamsMax];
  float* scores[kF16StreamsMax];
  float* o[kF16StreamsMax];
  for (int r = 0; r < nr; ++r) {
    const int i = i0 + r;
    for (int h = 0; h < nh; ++h) {
      const int s = r * nh + h;
      qh[s] = qh_buf.data() + static_cast<size_t>(s) * hd;
      scores[s] = scores_buf.data() + static_cast<size_t>(s) * row;
      o[s] = c.out + i * c.out_stride + static_cast<int64_t>(h0 + h) * hd;
      round_row_to_fp16(c.q + i * c.q_stride + static_cast<int64_t>(h0 + h) * hd, qh[s], hd);
    }
  }
  const int64_t goff = static_cast<int64_t>(g) * hd;
  // Scores of keys [0, n_max) for every query of the block (a row's keys
  // past its own causal limit are computed and not used), run by run of
  // keys held in one place (a shared prefix, then the cache's own rows):
  // each score is one key's, whoever holds the key.
  c.kv.for_runs(c.key_begin, c.key_begin + n_max, [&](int p, int e, const void* kr, const void*, int64_t stride) {
    float* sc[kF16StreamsMax];
    for (int s = 0; s < streams; ++s) sc[s] = scores[s] + (p - c.key_begin);
    const auto* kg = static_cast<const uint16_t*>(kr) + goff;
    switch (hd) {
      case 32: qk_f16_heads<32>(qh, streams, e - p, kg, stride, shape.scale, sc); break;
      case 64: qk_f16_heads<64>(qh, streams, e - p, kg, stride, shape.scale, sc); break;
      default: qk_f16_heads<128>(qh, streams, e - p, kg, stride, shape.scale, sc); break;
    }
  });
  // Probabilities of every query vector that sees a key.
  float* ps[kF16StreamsMax];
  float* os[kF16StreamsMax];
  int row_of[kF16StreamsMax];
  int ns = 0, n_lo = n_max;
  for (int r = 0; r < nr; ++r) {
    const int n_vis = visible(i0 + r);
    float* const* sr = scores + r * nh;
    float* const* orow = o + r * nh;
    if (n_vis == 0) {
      for (int h = 0; h < nh; ++h) std::fill(orow[h], orow[h] + hd, 0.0f);
      continue;
    }
    n_lo = std::min(n_lo, n_vis);
    for (int h = 0; h < nh; ++h) {
      softmax(sr[h], n_vis);
      round_row_to_fp16(sr[h], sr[h], n_vis);
      ps[ns] = sr[h];
      row_of[ns] = r;
      os[ns++] = orow[h];
    }
  }
  // out_s = sum of p_s[j] V[j] over keys [from, to) for `count` query
  // vectors, in key order across the runs (each run's sums go on from the
  // last; with `more` the first's too).
  auto pv = [&](float* const* p, float* const* out, int count, int from, int to, bool more) {
    c.kv.for_runs(c.key_begin + from, c.key_begin + to, [&](int a, int e, const void*, const void* vr, int64_t stride) {
      float* pr[kF16StreamsMax];
      for (int s = 0; s < count; ++s) pr[s] = p[s] + (a - c.key_begin);
      const auto* vg = static_cast<const uint16_t*>(vr) + goff;
      switch (hd) {
        case 32: pv_f16_group<4>(pr, count, e - a, vg, stride, out, more); break;
        case 64: pv_f16_group<8>(pr, count, e - a, vg, stride, out, more); break;
        default: pv_f16_group<16>(pr, count, e - a, vg, stride, out, more); break;
      }
      more = true;
    });
  };
  // P.V: the keys every query vector of the block sees, for all of them
  // together (each widened V row serves every row and head of the block),
  // then each row's later keys, its sums going on from there: per vector,
  // the same FMAs in key order as one loop over its keys.
  if (ns == 0) return;
  pv(ps, os, ns, 0, n_lo, false);
  for (int s = 0; s < ns; s += nh) {
    const int n_vis = visible(i0 + row_of[s]);
    if (n_vis > n_lo) pv(ps + s, os + s, nh, n_lo, n_vis, true);
  }
}

// Parts per group: enough tasks in all (`units` one-row tasks before the
// split, plus the block tasks of prompt chunks) that every thread has work
// when there are fewer units than threads.
int f16_decode_parts(int64_t units, const AttentionShape& shape, int n_threads) {
  if (units <= 0) return 1;
  const int64_t want = (2 * std::max(n_threads, 1) + units - 1) / units;
  return static_cast<int>(std::clamp<int64_t>(want, 1, shape.n_head / shape.n_head_kv));
}
#endif

}  // namespace

void attention_many(std::span<const AttentionCall> calls, const AttentionShape& shape, int n_threads) {
#ifdef RAGD_F16_DECODE
  // The decode calls' tasks in one parallel region; first[k] is call k's
  // first task (calls that do not apply have none).
  thread_local std::vector<int64_t> first;
  first.assign(calls.size() + 1, 0);
  int64_t units = 0;
  for (const AttentionCall& c : calls) {
    if (f16_decode_applies(c, shape)) units += f16_decode_tasks(c, shape, 1);
  }
  const int parts = f16_decode_parts(units, shape, n_threads);
  for (size_t k = 0; k < calls.size(); ++k) {
    first[k + 1] = first[k] + (f16_decode_applies(calls[k], shape) ? f16_decode_tasks(calls[k], shape, parts) : 0);
  }
  const int64_t* f = first.data();
  parallel_for(first.back(), n_threads, [&](int64_t t) {
    const size_t k = static_cast<size_t>(std::upper_bound(f, f + calls.size() + 1, t) - f - 1);
    f16_decode_task(calls[k], shape, parts, t - f[k]);
  });
  for (const AttentionCall& c : calls) {
    if (f16_decode_applies(c, shape)) continue;
#else
  for (const AttentionCall& c : calls) {
#endif
    attention(c.q, c.q_stride, c.n_q, c.q_pos0, c.kv, c.key_begin, c.n_kv, c.causal, shape, c.out, c.out_stride,
              n_threads);
  }
}

void attention(const float* q, int64_t q_stride, int n_q, int q_pos0, const KvView& kv, int key_begin, int n_kv,
               bool causal, const AttentionShape& shape, float* out, int64_t out_stride, int n_threads) {
  const int hd = shape.head_dim;
  const int group = shape.n_head / shape.n_head_kv;
#ifdef RAGD_F16_DECODE
  if (const AttentionCall c{q, q_stride, n_q, q_pos0, kv, key_begin, n_kv, causal, out, out_stride};
      f16_decode_applies(c, shape)) {
    attention_many(std::span<const AttentionCall>(&c, 1), shape, n_threads);
    return;
  }
#endif
  const int64_t total = static_cast<int64_t>(n_q) * shape.n_head;
  const int64_t kv_dim = static_cast<int64_t>(shape.n_head_kv) * hd;
  const float* kf = nullptr;
  const float* vf = nullptr;
  int64_t stride = kv.stride;
  thread_local std::vector<float> kbuf, vbuf;
  // Rows are gathered into kbuf/vbuf (widened) from an f16 cache, or from
  // an f32 one whose positions are partly shared (KvView::shared: every
  // call copies them, so the prefix cache gives f32 sessions a copy).
  const bool gather = kv.f16 || kv.shared_end() > key_begin;
  if (gather) {
    const size_t need = static_cast<size_t>(n_kv) * static_cast<size_t>(kv_dim);
    if (kbuf.size() < need) kbuf.resize(need);
    if (vbuf.size() < need) vbuf.resize(need);
    kf = kbuf.data();
    vf = vbuf.data();
    stride = kv_dim;
  } else {
    kf = static_cast<const float*>(kv.k) + static_cast<int64_t>(key_begin) * kv.stride;
    vf = static_cast<const float*>(kv.v) + static_cast<int64_t>(key_begin) * kv.stride;
  }
  float* kw = kbuf.data();
  float* vw = vbuf.data();
  if (gather) {
    // Widen (or copy) in blocks of 64 positions.
    const int64_t n_blocks = (n_kv + 63) / 64;
    parallel_for(n_blocks, n_threads, [&](int64_t b) {
      const int j0 = static_cast<int>(b) * 64;
      const int j_end = std::min<int>(n_kv, j0 + 64);
      kv.for_runs(key_begin + j0, key_begin + j_end, [&](int p, int e, const void* kr, const void* vr, int64_t st) {
        for (int pos = p; pos < e; ++pos) {
          const int64_t src = static_cast<int64_t>(pos - p) * st;
          float* kd = kw + static_cast<int64_t>(pos - key_begin) * kv_dim;
          float* vd = vw + static_cast<int64_t>(pos - key_begin) * kv_dim;
          if (kv.f16) {
            fp16_to_fp32_row(static_cast<const uint16_t*>(kr) + src, kd, kv_dim);
            fp16_to_fp32_row(static_cast<const uint16_t*>(vr) + src, vd, kv_dim);
          } else {
            std::memcpy(kd, static_cast<const float*>(kr) + src, static_cast<size_t>(kv_dim) * 4);
            std::memcpy(vd, static_cast<const float*>(vr) + src, static_cast<size_t>(kv_dim) * 4);
          }
        }
      });
    });
  }
  parallel_for(total, n_threads, [&](int64_t t) {
    thread_local std::vector<float> scores_buf, qh_buf;
    if (scores_buf.size() < static_cast<size_t>(n_kv) + 8) scores_buf.resize(static_cast<size_t>(n_kv) + 8);
    if (qh_buf.size() < static_cast<size_t>(hd)) qh_buf.resize(static_cast<size_t>(hd));
    float* scores = scores_buf.data();
    float* qh = qh_buf.data();
    // Latest queries first: with a causal mask they are the longest tasks.
    const int i = n_q - 1 - static_cast<int>(t / shape.n_head);
    const int h = static_cast<int>(t % shape.n_head);
    const int g = h / group;
    const float* qsrc = q + i * q_stride + static_cast<int64_t>(h) * hd;
    if (kv.f16) {
      round_row_to_fp16(qsrc, qh, hd);
    } else {
      std::memcpy(qh, qsrc, static_cast<size_t>(hd) * 4);
    }
    int n_vis = n_kv;
    if (causal) n_vis = std::clamp(q_pos0 + i + 1 - key_begin, 0, n_kv);
    float* o = out + i * out_stride + static_cast<int64_t>(h) * hd;
    if (n_vis == 0) {
      std::fill(o, o + hd, 0.0f);
      return;
    }
    const int64_t goff = static_cast<int64_t>(g) * hd;
    qk_generic(qh, kf + goff, stride, n_vis, hd, shape.scale, scores);
    softmax(scores, n_vis);
    if (kv.f16) round_row_to_fp16(scores, scores, n_vis);
    pv_generic(scores, n_vis, vf + goff, stride, hd, o);
  });
}

}  // namespace ragd
