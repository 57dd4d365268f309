// oneDNN adapter for the int8 and bf16 GEMMs: every dnnl exception raised by
// this file's calls is caught here and becomes a Status.
#include "model/lowp_matmul.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace ragd {
namespace {

enum class GemmKind { kInt8, kBf16 };

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

struct CachedGemm {
  dnnl::matmul prim;
  dnnl::memory::desc scratchpad_md;
};

// One primitive per shape: runtime dims cost a lot at small m (issue 3).
// A primitive runs with a user scratchpad, so concurrent executions from
// different threads are safe (oneDNN's library scratchpad is shared per
// process and may not migrate between threads).
class GemmCache {
 public:
  // Throws dnnl::error when oneDNN has no implementation for the shape.
  CachedGemm get(GemmKind kind, int64_t m, int64_t k, int64_t n, int64_t ldc) {
    const auto key = std::make_tuple(kind, m, k, n, ldc);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxEntries) cache_.clear();
    CachedGemm g = create(kind, m, k, n, ldc);
    cache_.emplace(key, g);
    return g;
  }

  static dnnl::matmul::primitive_desc describe(GemmKind kind, int64_t m, int64_t k, int64_t n, int64_t ldc) {
    using dt = dnnl::memory::data_type;
    const bool i8 = kind == GemmKind::kInt8;
    dnnl::memory::desc a_md({m, k}, i8 ? dt::u8 : dt::bf16, dnnl::memory::dims{k, 1});
    dnnl::memory::desc b_md({k, n}, i8 ? dt::s8 : dt::bf16, dnnl::memory::dims{1, k});
    dnnl::memory::desc c_md({m, n}, i8 ? dt::s32 : dt::f32, dnnl::memory::dims{ldc, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), attr, cpu_engine());
  }

 private:
  static CachedGemm create(GemmKind kind, int64_t m, int64_t k, int64_t n, int64_t ldc) {
    dnnl::matmul::primitive_desc pd = describe(kind, m, k, n, ldc);
    CachedGemm g;
    g.scratchpad_md = pd.scratchpad_desc();
    g.prim = dnnl::matmul(pd);
    return g;
  }

  static constexpr size_t kMaxEntries = 512;
  std::mutex mu_;  // guards cache_
  std::map<std::tuple<GemmKind, int64_t, int64_t, int64_t, int64_t>, CachedGemm> cache_;
};

GemmCache& gemm_cache() {
  static GemmCache cache;
  return cache;
}

template <class T>
T* thread_buffer(std::vector<T>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

float abs_max(const float* x, int64_t n) {
  int64_t i = 0;
  float amax = 0.0f;
#if defined(__AVX2__)
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 mx = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + i)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  amax = _mm_cvtss_f32(m4);
#endif
  for (; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

// q[i] = clamp(round_half_even(x[i] * inv), -qmax, qmax) + zero_point as a
// byte (zero_point 0: int8 weights; 128 or 64: u8 activations). The vector
// and scalar loops compute the same f32 products and roundings.
void quantize_row(const float* x, int64_t n, float inv, int qmax, int zero_point, uint8_t* out) {
  int64_t i = 0;
#if defined(__AVX2__)
  const __m256 vinv = _mm256_set1_ps(inv);
  const __m256i hi = _mm256_set1_epi32(qmax), lo = _mm256_set1_epi32(-qmax);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i vzp = _mm256_set1_epi8(static_cast<char>(zero_point));
  for (; i + 32 <= n; i += 32) {
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      const __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), vinv),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q[j] = _mm256_max_epi32(lo, _mm256_min_epi32(hi, _mm256_cvtps_epi32(v)));
    }
    // packs work within 128-bit lanes; the permute restores element order.
    const __m256i p16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    const __m256i p8 = _mm256_permutevar8x32_epi32(p16, perm);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_add_epi8(p8, vzp));
  }
#endif
  for (; i < n; ++i) {
    const float r = std::nearbyint(x[i] * inv);
    const int q = std::clamp(static_cast<int>(r), -qmax, qmax);
    out[i] = static_cast<uint8_t>(q + zero_point);
  }
}

// Quantises one f32 row with one scale (amax / qmax); returns the scale.
float quantize_scaled_row(const float* x, int64_t n, int qmax, int zero_point, uint8_t* out) {
  const float amax = abs_max(x, n);
  const float s = amax / static_cast<float>(qmax);
  const float inv = s > 0.0f ? 1.0f / s : 0.0f;
  quantize_row(x, n, inv, qmax, zero_point, out);
  return s;
}

int32_t sum_s8(const int8_t* q, int64_t n) {
  int32_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += q[i];
  return s;
}

// Rows of weights per chunk: about 64 KiB of int8 (a bf16 chunk is twice
// that), at least 64 rows; a multiple of 16. A single-threaded oneDNN int8
// GEMM ran at the same speed from 64 to 224 rows (m = 128 and 512, k = 576,
// 896, 1536; 32 rows were ~7% slower), so chunks are kept small for an even
// share between threads (K=576 N=1536: 14 chunks).
int64_t chunk_rows(int64_t k) { return std::clamp<int64_t>(((int64_t{1} << 16) / k) / 16 * 16, 64, 256); }

std::string shape_text(const WeightRows& w, int64_t m) {
  return std::to_string(m) + "x" + std::to_string(w.cols) + " * (" + std::to_string(w.rows) + "x" +
         std::to_string(w.cols) + " " + std::string(weight_type_name(w.type)) + ")^T";
}

Status check_args(const char* what, const WeightRows& w, const float* x, int64_t m, const float* y, int64_t ldy) {
  if (w.data == nullptr || x == nullptr || y == nullptr) {
    return Status::invalid_argument(std::string(what) + ": null pointer");
  }
  if (m <= 0 || w.rows <= 0 || w.cols <= 0 || ldy < w.rows) {
    return Status::invalid_argument(std::string(what) + ": bad shape " + shape_text(w, m) + " ldy " +
                                    std::to_string(ldy));
  }
  if (!weight_type_supported(static_cast<uint32_t>(w.type)) || w.cols % weight_type_block_elems(w.type) != 0 ||
      w.row_bytes != weight_row_bytes(w.type, w.cols)) {
    return Status::invalid_argument(std::string(what) + ": weight rows do not match their type: " + shape_text(w, m));
  }
  return Status::ok();
}

// Executes a cached primitive single-threaded on the calling thread with a
// thread-local scratchpad. REQUIRES: called inside the OpenMP region below.
void execute(const CachedGemm& g, GemmKind kind, int64_t m, int64_t k, int64_t n, int64_t ldc, const void* a,
             const void* b, void* c) {
  using dt = dnnl::memory::data_type;
  const bool i8 = kind == GemmKind::kInt8;
  thread_local std::vector<uint8_t> scratch;
  thread_local dnnl::stream stream(cpu_engine());
  // A team of one thread is not "in parallel" for oneDNN, which would then
  // start its own threads; this ICV belongs to the region's implicit task.
  if (!omp_in_parallel()) omp_set_num_threads(1);
  uint8_t* sp = thread_buffer(scratch, std::max<size_t>(1, g.scratchpad_md.get_size()));
  dnnl::memory am({{m, k}, i8 ? dt::u8 : dt::bf16, dnnl::memory::dims{k, 1}}, cpu_engine(), const_cast<void*>(a));
  dnnl::memory bm({{k, n}, i8 ? dt::s8 : dt::bf16, dnnl::memory::dims{1, k}}, cpu_engine(), const_cast<void*>(b));
  dnnl::memory cm({{m, n}, i8 ? dt::s32 : dt::f32, dnnl::memory::dims{ldc, 1}}, cpu_engine(), c);
  dnnl::memory spm(g.scratchpad_md, cpu_engine(), sp);
  g.prim.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}, {DNNL_ARG_SCRATCHPAD, spm}});
  stream.wait();
}

// Dequantises rows [r0, r0 + nr) of w, requantises them per row and
// multiplies them by the u8 activations; writes y[:, r0 : r0 + nr].
void int8_chunk(const CachedGemm& g, const WeightRows& w, int64_t r0, int64_t nr, const uint8_t* xq, const float* sx,
                int64_t m, float* y, int64_t ldy, const Int8GemmOptions& options) {
  const int64_t k = w.cols;
  thread_local std::vector<float> row_buf;
  thread_local std::vector<int8_t> q_buf;
  thread_local std::vector<float> sw_buf;
  thread_local std::vector<int32_t> comp_buf;
  float* row = thread_buffer(row_buf, static_cast<size_t>(k));
  int8_t* q = thread_buffer(q_buf, static_cast<size_t>(nr * k));
  float* sw = thread_buffer(sw_buf, static_cast<size_t>(nr));
  int32_t* comp = thread_buffer(comp_buf, static_cast<size_t>(nr));
  const auto* src = static_cast<const uint8_t*>(w.data);
  for (int64_t r = 0; r < nr; ++r) {
    dequantize_row(w.type, src + static_cast<size_t>(r0 + r) * w.row_bytes, row, k);
    int8_t* qr = q + r * k;
    sw[r] = quantize_scaled_row(row, k, options.weight_max(), 0, reinterpret_cast<uint8_t*>(qr));
    comp[r] = options.activation_zero_point() * sum_s8(qr, k);
  }
  float* yc = y + r0;
  execute(g, GemmKind::kInt8, m, k, nr, ldy, xq, q, yc);
  // oneDNN wrote int32 sums into y's storage; turn them into floats in place.
  for (int64_t i = 0; i < m; ++i) {
    float* yr = yc + i * ldy;
    const float si = sx[i];
    for (int64_t j = 0; j < nr; ++j) {
      int32_t acc;
      std::memcpy(&acc, yr + j, sizeof acc);
      yr[j] = (si * sw[j]) * static_cast<float>(acc - comp[j]);
    }
  }
}

void bf16_chunk(const CachedGemm& g, const WeightRows& w, int64_t r0, int64_t nr, const uint16_t* xb, int64_t m,
                float* y, int64_t ldy) {
  const int64_t k = w.cols;
  thread_local std::vector<float> row_buf;
  thread_local std::vector<uint16_t> b_buf;
  float* row = thread_buffer(row_buf, static_cast<size_t>(k));
  uint16_t* b = thread_buffer(b_buf, static_cast<size_t>(nr * k));
  const auto* src = static_cast<const uint8_t*>(w.data);
  for (int64_t r = 0; r < nr; ++r) {
    dequantize_row(w.type, src + static_cast<size_t>(r0 + r) * w.row_bytes, row, k);
    for (int64_t t = 0; t < k; ++t) b[r * k + t] = fp32_to_bf16(row[t]);
  }
  execute(g, GemmKind::kBf16, m, k, nr, ldy, xb, b, y + r0);
}

// Runs the chunks of one GEMM on up to n_threads threads. `prepare_row(i)`
// converts activation row i (once per row, before any chunk);
// `chunk(g, r0, nr)` does one chunk of weight rows.
template <class PrepareRow, class Chunk>
Status run_chunks(const char* what, GemmKind kind, const WeightRows& w, int64_t m, int64_t ldy, int n_threads,
                  PrepareRow prepare_row, Chunk chunk) {
  const int64_t k = w.cols;
  const int64_t rows_per_chunk = chunk_rows(k);
  const int64_t n_chunks = (w.rows + rows_per_chunk - 1) / rows_per_chunk;
  const int64_t last = w.rows - (n_chunks - 1) * rows_per_chunk;
  CachedGemm full, tail;
  try {
    full = gemm_cache().get(kind, m, k, std::min(rows_per_chunk, w.rows), ldy);
    tail = last == rows_per_chunk ? full : gemm_cache().get(kind, m, k, last, ldy);
  } catch (const dnnl::error& e) {
    return Status::internal(std::string(what) + ": oneDNN has no primitive for " + shape_text(w, m) + ": " +
                            e.what());
  }
  const int nt = static_cast<int>(std::clamp<int64_t>(n_threads, 1, n_chunks));
  // Activations in parallel only when there are many: on a shared machine
  // every barrier can wait a whole time slice for a thread the OS holds back.
  const bool parallel_prepare = nt > 1 && m * k >= (int64_t{1} << 20);
#pragma omp parallel for num_threads(nt) schedule(static) if (parallel_prepare)
  for (int64_t i = 0; i < m; ++i) prepare_row(i);
  bool failed = false;
  std::string error;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t r0 = c * rows_per_chunk;
    const int64_t nr = std::min(rows_per_chunk, w.rows - r0);
    try {
      chunk(nr == rows_per_chunk ? full : tail, r0, nr);
    } catch (const dnnl::error& e) {
#pragma omp critical(ragd_lowp_error)
      {
        failed = true;
        error = std::string("oneDNN: ") + e.what();
      }
    } catch (const std::bad_alloc&) {
#pragma omp critical(ragd_lowp_error)
      {
        failed = true;
        error = "out of memory for the weight chunk buffers";
      }
    }
  }
  if (failed) return Status::internal(std::string(what) + " " + shape_text(w, m) + ": " + error);
  return Status::ok();
}

}  // namespace

Status int8_gemm_nt(const WeightRows& w, const float* x, int64_t m, float* y, int64_t ldy, int n_threads,
                    Int8GemmOptions options) {
  RAGD_RETURN_IF_ERROR(check_args("int8_gemm_nt", w, x, m, y, ldy));
  const int64_t k = w.cols;
  thread_local std::vector<uint8_t> xq_buf;
  thread_local std::vector<float> sx_buf;
  uint8_t* xq;
  float* sx;
  try {
    xq = thread_buffer(xq_buf, static_cast<size_t>(m * k));
    sx = thread_buffer(sx_buf, static_cast<size_t>(m));
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("int8_gemm_nt: no memory for " + std::to_string(m) + "x" + std::to_string(k) +
                                      " quantised activations");
  }
  return run_chunks(
      "int8_gemm_nt", GemmKind::kInt8, w, m, ldy, n_threads,
      [&](int64_t i) {
        const int zp = options.activation_zero_point();
        sx[i] = quantize_scaled_row(x + i * k, k, options.activation_max(), zp, xq + i * k);
      },
      [&](const CachedGemm& g, int64_t r0, int64_t nr) { int8_chunk(g, w, r0, nr, xq, sx, m, y, ldy, options); });
}

bool bf16_matmul_available() {
  static const bool available = [] {
    try {
      const auto pd = GemmCache::describe(GemmKind::kBf16, 32, 64, 64, 64);
      return std::string(pd.impl_info_str()).rfind("ref", 0) != 0;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

Status bf16_gemm_nt(const WeightRows& w, const float* x, int64_t m, float* y, int64_t ldy, int n_threads) {
  RAGD_RETURN_IF_ERROR(check_args("bf16_gemm_nt", w, x, m, y, ldy));
  if (!bf16_matmul_available()) {
    return Status::unimplemented("bf16_gemm_nt: oneDNN has no bf16 matmul on this CPU (needs avx512_core)");
  }
  const int64_t k = w.cols;
  thread_local std::vector<uint16_t> xb_buf;
  uint16_t* xb;
  try {
    xb = thread_buffer(xb_buf, static_cast<size_t>(m * k));
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("bf16_gemm_nt: no memory for " + std::to_string(m) + "x" + std::to_string(k) +
                                      " bf16 activations");
  }
  return run_chunks(
      "bf16_gemm_nt", GemmKind::kBf16, w, m, ldy, n_threads,
      [&](int64_t i) {
        for (int64_t t = 0; t < k; ++t) xb[i * k + t] = fp32_to_bf16(x[i * k + t]);
      },
      [&](const CachedGemm& g, int64_t r0, int64_t nr) { bf16_chunk(g, w, r0, nr, xb, m, y, ldy); });
}

}  // namespace ragd
