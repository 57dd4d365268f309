// The per-request key/value cache and the attention that reads it.
//
// Layout: for each layer, K and V are [n_ctx][kv_dim] (kv_dim = n_head_kv *
// head_dim), stored as f32 or f16. With f16 the attention also rounds Q and the
// softmax probabilities to f16, reproducing llama.cpp's default (non-flash)
// CPU path; with f32 nothing is rounded.
//
// Memory on use: the cache is one anonymous mapping of all n_ctx positions,
// which reads as zeros and takes no memory until a position is written, so
// a session holds (rounded up to pages, per layer's K and V) the positions
// its requests have used, not its whole context: serve_bench's 16
// sequences of ~580 of 768 positions (a ~450-token prompt, 128 new) held
// about 16 x 13.5 MB instead of 16 x 17.7 MB. A reused session keeps the
// pages its earlier requests wrote.
// Thread safety: a KvCache belongs to one request; not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ragd/status.h"

namespace ragd {

enum class KvType { kF32, kF16 };

// Keys and values of positions [begin, end) held outside a view's own
// rows (a prompt prefix shared read-only from the prefix cache): the row of
// position p starts at k (v) + (p - begin) * stride elements.
struct KvSegment {
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t stride = 0;
  int begin = 0;
  int end = 0;
};

// A read view of keys and values: the row of position p starts at k + p*stride
// elements, except for positions [0, shared[n_shared - 1].end), which the
// `shared` segments hold (consecutive, from position 0, of the same element
// type). A shared prefix is read from its one copy by every sequence that
// uses it, instead of a copy in each sequence's cache; attention reads rows
// in the same order either way, so the results are the same bit for bit.
struct KvView {
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t stride = 0;  // elements between consecutive rows (positions)
  bool f16 = false;    // elements are f16 bits rather than f32
  const KvSegment* shared = nullptr;  // n_shared segments; must outlive the view
  int n_shared = 0;

  int shared_end() const { return n_shared > 0 ? shared[n_shared - 1].end : 0; }
  // Calls fn(pos, end, k_row, v_row, stride) for consecutive runs of
  // positions [begin, end) held in one place, in position order; k_row and
  // v_row are the rows of position pos.
  template <typename Fn>
  void for_runs(int begin, int end, Fn&& fn) const {
    const int64_t elem = f16 ? 2 : 4;
    auto at = [elem](const void* base, int64_t row) {
      return static_cast<const void*>(static_cast<const uint8_t*>(base) + row * elem);
    };
    for (int s = 0; s < n_shared && begin < end; ++s) {
      const KvSegment& g = shared[s];
      if (begin >= g.end) continue;
      const int e = end < g.end ? end : g.end;
      const int64_t off = static_cast<int64_t>(begin - g.begin) * g.stride;
      fn(begin, e, at(g.k, off), at(g.v, off), g.stride);
      begin = e;
    }
    if (begin < end) {
      const int64_t off = static_cast<int64_t>(begin) * stride;
      fn(begin, end, at(k, off), at(v, off), stride);
    }
  }
};

struct AttentionShape {
  int n_head = 0;
  int n_head_kv = 0;  // grouped-query attention: n_head % n_head_kv == 0
  int head_dim = 0;
  float scale = 1.0f;  // multiplies Q.K, usually 1/sqrt(head_dim)
};

// out[i] = softmax(q[i].K^T * scale + mask) V for n_q query rows. Each
// row's result is the same whatever n_q, n_threads and the other rows are
// (every path sums Q.K in dot_f32's order and P.V in key order).
// Query i attends to keys [key_begin, key_begin + n_kv) restricted, when
// causal, to keys at or before position q_pos0 + i (keys are indexed by
// absolute position). q and out rows are q_stride / out_stride apart.
void attention(const float* q, int64_t q_stride, int n_q, int q_pos0, const KvView& kv, int key_begin, int n_kv,
               bool causal, const AttentionShape& shape, float* out, int64_t out_stride, int n_threads);

// One attention() call's arguments, less the shape and the threads.
struct AttentionCall {
  const float* q = nullptr;
  int64_t q_stride = 0;
  int n_q = 0;
  int q_pos0 = 0;
  KvView kv;
  int key_begin = 0;
  int n_kv = 0;
  bool causal = true;
  float* out = nullptr;
  int64_t out_stride = 0;
};

// attention() for each call, with the same results. The calls that decode a
// few query rows over an f16 cache (the sequences of a batched decode pass,
// each over its own cache) share one parallel region instead of one each;
// the others run one after another. The calls' outputs must not overlap.
void attention_many(std::span<const AttentionCall> calls, const AttentionShape& shape, int n_threads);

class KvCache {
 public:
  // Bytes of a cache of n_layer x (K, V) x n_ctx x kv_dim elements, the
  // product checked. Errors: kInvalidArgument for a dimension below 1 or a
  // size past size_t.
  static Result<size_t> bytes_for(int n_layer, int n_ctx, int kv_dim, KvType type);
  // Maps a cache. Errors: those of bytes_for(); kResourceExhausted for more
  // bytes than the machine's physical memory (an absurd context, refused
  // whatever the kernel's overcommit policy); kUnavailable when the kernel
  // refuses the mapping (ENOMEM: memory or address space exhausted now).
  static Result<KvCache> create(int n_layer, int n_ctx, int kv_dim, KvType type);
  // As create(), throwing std::bad_alloc on any of its errors (tests and
  // benches; a server makes its sessions with DecoderSession::create()).
  KvCache(int n_layer, int n_ctx, int kv_dim, KvType type);

  KvType type() const { return type_; }
  int n_ctx() const { return n_ctx_; }
  int kv_dim() const { return kv_dim_; }
  // Writes n rows of K and V (rows kv_dim apart) for positions pos..pos+n-1.
  void store(int layer, int pos, int n, const float* k, const float* v);
  KvView view(int layer) const;
  // Positions [begin, end) of every layer's K and V, as raw elements (for a
  // prefix cache), layer by layer, K then V; end <= n_ctx().
  std::vector<uint8_t> export_rows(int begin, int end) const;
  std::vector<uint8_t> export_rows(int n) const { return export_rows(0, n); }
  // Writes the first n of the `data_rows` rows exported by a cache of the
  // same shape and type into positions [at, at + n).
  void import_rows(const std::vector<uint8_t>& data, int data_rows, int at, int n);
  void import_rows(const std::vector<uint8_t>& data, int data_rows, int n) { import_rows(data, data_rows, 0, n); }
  size_t row_bytes() const { return static_cast<size_t>(kv_dim_) * (type_ == KvType::kF16 ? 2 : 4); }
  int n_layer() const { return n_layer_; }
  // Bytes reserved for all n_ctx positions (the pages of positions never
  // written take no memory).
  size_t bytes() const { return bytes_; }

 private:
  struct Unmap {
    size_t bytes;
    void operator()(uint8_t* p) const;
  };
  KvCache(int n_layer, int n_ctx, int kv_dim, KvType type, size_t bytes, std::unique_ptr<uint8_t, Unmap> data);
  uint16_t* f16() const { return reinterpret_cast<uint16_t*>(data_.get()); }
  float* f32() const { return reinterpret_cast<float*>(data_.get()); }
  size_t offset(int layer, int which, int pos) const {
    return ((static_cast<size_t>(layer) * 2 + which) * n_ctx_ + pos) * kv_dim_;
  }
  int n_layer_;
  int n_ctx_;
  int kv_dim_;
  KvType type_;
  size_t bytes_;
  std::unique_ptr<uint8_t, Unmap> data_;  // bytes_ of an anonymous mapping
};

}  // namespace ragd
