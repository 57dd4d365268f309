// The llama-family decoder: `llama` (Llama 2/3, SmolLM, TinyLlama; tied or
// separate output) and `qwen2` (q/k/v biases, NeoX RoPE).
//
// DecoderModel is the loaded, immutable model (weights stay in the mapped
// GGUF file); share one between requests. DecoderSession is one request: its
// own KV cache and scratch buffers, evaluated token batch by token batch.
//
//   auto model = DecoderModel::load("smollm2.gguf").value();
//   DecoderSession s(model, {});
//   s.eval(prompt_ids, &logits);   // logits of the last position
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/compute_pool.h"
#include "model/gguf.h"
#include "model/kernels.h"
#include "model/kv_cache.h"
#include "model/matmul.h"
#include "ragd/status.h"

namespace ragd {

class BatchScheduler;

struct DecoderConfig {
  std::string arch;  // "llama" or "qwen2"
  int n_vocab = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  int n_ff = 0;
  int n_rot = 0;
  int n_ctx_train = 0;
  float rope_base = 10000.0f;
  RopeMode rope_mode = RopeMode::kNormal;
  float rms_eps = 1e-5f;
  bool tied_output = false;
};

struct DecoderLoadOptions {
  // Reproduce ggml's activation roundings for F16/BF16 weights. Default: true.
  bool emulate_ggml = true;
  // Q8_0 prompts through the bit-exact int8 kernel instead of the faster f32
  // GEMM (LinearOptions::exact_q8_0). Default: false.
  bool exact_q8_0 = false;
  // Quantised prompts through oneDNN int8 (LinearOptions::int8_prompts).
  // Default: false.
  bool int8_prompts = false;
};

class DecoderModel {
 public:
  static Result<std::shared_ptr<const DecoderModel>> load(const std::string& path, DecoderLoadOptions options = {});
  static Result<std::shared_ptr<const DecoderModel>> from_gguf(std::shared_ptr<const GgufFile> file,
                                                               DecoderLoadOptions options = {});

  const DecoderConfig& config() const { return config_; }
  const GgufFile& gguf() const { return *file_; }
  std::shared_ptr<const GgufFile> gguf_shared() const { return file_; }
  // Bytes of weights referenced (the mapped tensors).
  size_t weight_bytes() const { return weight_bytes_; }
  // True when a token's numbers do not depend on how the tokens around it
  // are grouped into eval() calls or batched passes: every weight matrix
  // computes each row as alone (Linear::rows_independent()), and attention
  // always does (kv_cache.h). Then a prompt may be cut anywhere, e.g. where
  // a cached prefix ends (model/prefix_cache.h), with the same results.
  bool chunk_invariant() const { return chunk_invariant_; }

 private:
  friend class DecoderSession;
  friend class DecoderBatch;
  struct Layer {
    std::vector<float> attn_norm, ffn_norm, bq, bk, bv;
    std::unique_ptr<Linear> wq, wk, wv, wo, gate, up, down;
  };
  DecoderModel() = default;

  std::shared_ptr<const GgufFile> file_;
  DecoderConfig config_;
  std::unique_ptr<Linear> token_embd_;
  std::unique_ptr<Linear> output_;  // null when tied to token_embd_
  std::vector<float> output_norm_;
  std::vector<float> rope_freqs_;   // optional per-pair divisors (Llama 3.1)
  std::vector<Layer> layers_;
  size_t weight_bytes_ = 0;
  bool chunk_invariant_ = false;
};

struct DecoderSessionOptions {
  // KV cache positions. 0 = min(n_ctx_train, 4096). Default: 0.
  int n_ctx = 0;
  // KV cache element type; f16 is llama.cpp's default. Default: kF16.
  KvType kv_type = KvType::kF16;
  // Threads for this session's kernels (OpenMP for prompts, the session's
  // own spinning ComputePool for batches of under 16 tokens). 0 = all cores.
  // Default: 0.
  int n_threads = 0;
  // Tokens evaluated per forward batch (bounds scratch memory: about
  // n_batch * (4 * n_embd + 2 * n_ff) floats). 256 is as fast as 512 on AVX2
  // and keeps a 135M model within its file size + KV cache + 10%.
  // Default: 256.
  int n_batch = 256;
  // When set, eval() runs in this scheduler's shared forward passes
  // (continuous batching, model/batch_scheduler.h), with the same results;
  // n_threads and n_batch are then the scheduler's business. It must be of
  // the same model and outlive the session. Default: none.
  BatchScheduler* scheduler = nullptr;
};

// Positions [begin, end) of a prompt prefix whose keys and values are held
// outside a session (a prefix cache's entry): `rows` as
// DecoderSession::export_kv(begin, begin + rows_n) lays them out, of which
// the first end - begin positions are used.
struct SharedKvRows {
  std::span<const uint8_t> rows;
  int rows_n = 0;
  int begin = 0;
  int end = 0;
};

// Thread safety: one session is used by one thread at a time; many sessions
// over the same DecoderModel may run at once.
class DecoderSession {
 public:
  // A session with its KV cache mapped. Errors (KvCache::create(), the
  // message naming the context): kInvalidArgument for sizes that overflow,
  // kResourceExhausted for a cache larger than the machine's memory,
  // kUnavailable when the kernel refuses the mapping now.
  static Result<std::unique_ptr<DecoderSession>> create(std::shared_ptr<const DecoderModel> model,
                                                        DecoderSessionOptions options);
  // As create(), throwing std::bad_alloc on its errors (tests and benches).
  DecoderSession(std::shared_ptr<const DecoderModel> model, DecoderSessionOptions options);
  ~DecoderSession();
  DecoderSession(const DecoderSession&) = delete;
  DecoderSession& operator=(const DecoderSession&) = delete;

  const DecoderModel& model() const { return *model_; }
  int n_past() const { return n_past_; }
  int n_ctx() const { return n_ctx_; }
  int n_vocab() const { return model_->config_.n_vocab; }
  size_t kv_bytes() const { return cache_.bytes(); }

  // Feeds tokens at positions n_past()..n_past()+n-1. When `logits_last` is
  // given it receives the n_vocab logits after the last token; `logits_all`
  // (optional) receives n * n_vocab logits, one row per token.
  // Errors: an out-of-vocabulary id; kResourceExhausted when the tokens do not
  // fit in the context (nothing is evaluated then).
  Status eval(std::span<const int32_t> tokens, std::vector<float>* logits_last,
              std::vector<float>* logits_all = nullptr);
  // The keys and values of positions [0, n) (n <= n_past()), for a prompt
  // prefix cache (model/prefix_cache.h).
  std::vector<uint8_t> export_kv(int n) const { return export_kv(0, n); }
  // Positions [begin, end) (end <= n_past()), as export_kv() lays them out:
  // layer by layer, K then V, each end - begin rows (shared positions
  // included).
  std::vector<uint8_t> export_kv(int begin, int end) const;
  // Replaces what the session holds by the first n positions of `rows`
  // (export_kv(rows_n) of a session of the same model and KV type):
  // n_past() becomes n. Errors: n > rows_n, n > n_ctx(), or sizes that do
  // not fit this session.
  Status import_kv(const std::vector<uint8_t>& rows, int rows_n, int n);
  // Appends the first n of `rows` (export_kv(b, b + rows_n) of a session of
  // the same model and KV type) at positions n_past()..n_past()+n-1: the
  // caller keeps them contiguous with what the session holds. Errors as
  // import_kv().
  Status append_kv(const std::vector<uint8_t>& rows, int rows_n, int n);
  // Makes the empty session read positions [0, parts.back().end) from
  // `parts` (consecutive from position 0) instead of holding a copy: its
  // attention reads them where they are, with the same results as after
  // import_kv() of the same rows, and its own cache takes no memory for
  // them. `owner` keeps the rows alive; the session holds it until no
  // shared position is left: reset(), import_kv() or truncate(0) (a
  // truncate() to n > 0 keeps reading positions [0, n) from the rows, and
  // holds the owner). Errors
  // (nothing shared then): a session that is not empty, parts that are not
  // consecutive from 0, more positions than n_ctx(), or rows that do not fit
  // this model and KV type.
  Status share_kv(std::shared_ptr<const void> owner, std::span<const SharedKvRows> parts);
  // Positions [0, shared_n()) are read from shared rows (share_kv()).
  int shared_n() const { return shared_n_; }
  KvType kv_type() const { return cache_.type(); }
  // Why eval() would refuse these tokens (bad id, no room), or OK.
  Status check_tokens(std::span<const int32_t> tokens) const;
  // Forgets everything (n_past = 0), shared rows included.
  void reset() {
    pause();
    n_past_ = 0;
    unshare(0);
  }
  // Tells the scheduler (if any) that this session will not call eval()
  // again soon, e.g. its generation has ended.
  void pause();
  // Drops positions >= n (for re-using a shared prompt prefix).
  void truncate(int n) {
    n_past_ = std::min(n_past_, std::max(0, n));
    if (n_past_ < shared_n_) unshare(n_past_);
  }

 private:
  friend class DecoderBatch;
  // The attention's view of a layer: the cache's own rows, behind the
  // shared ones.
  KvView kv_view(int layer) const;
  // Keeps shared positions [0, n) only (n = 0: none, the owner released).
  void unshare(int n);
  // Why rows_n exported rows (n of them used) cannot be added at `at`;
  // `caller` names the method in the message.
  Status check_rows(const char* caller, size_t bytes, int rows_n, int n, int at) const;
  DecoderSession(std::shared_ptr<const DecoderModel> model, DecoderSessionOptions options, int n_ctx, KvCache cache);
  void forward_batch(std::span<const int32_t> tokens, bool want_all, float* logits_out);

  std::shared_ptr<const DecoderModel> model_;
  DecoderSessionOptions options_;
  int n_ctx_;
  int n_threads_;
  int n_past_ = 0;
  KvCache cache_;
  // Shared prefix rows (share_kv()): their owner, the parts, and for each
  // layer one KvSegment per part (layer-major).
  std::shared_ptr<const void> shared_owner_;
  std::vector<SharedKvRows> shared_parts_;
  std::vector<KvSegment> shared_segs_;
  int shared_n_ = 0;
  // Spinning workers for small batches (generation), made on first use.
  std::unique_ptr<ComputePool> pool_;
  // Scratch, sized for n_batch tokens.
  std::vector<float> x_, h_, q_, k_, v_, attn_, ffn_a_, ffn_b_;
};

}  // namespace ragd
