// The BERT encoder (arch `bert`: bge, all-MiniLM, ...): learned positions,
// post-LayerNorm blocks, GELU feed-forward, and CLS or mean pooling.
//
// BertModel is immutable after loading and encode() is const, so one model
// serves many threads; each call keeps its own scratch buffers.
// Sequences of different lengths are encoded in one batch: the linear layers
// run over the tokens of a group of sequences together and attention is
// masked to each sequence. A large batch runs as several such groups of at
// most n_batch_tokens tokens, one after the other through the same scratch
// buffers, so activation memory does not grow with the batch.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/kernels.h"
#include "model/matmul.h"
#include "ragd/status.h"

namespace ragd {

// Values of `bert.pooling_type` (llama.cpp's enum).
enum class PoolingType { kNone = 0, kMean = 1, kCls = 2, kLast = 3 };

struct BertConfig {
  int n_vocab = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_ff = 0;
  int n_ctx_train = 0;  // learned positions
  int n_token_types = 0;
  float eps = 1e-12f;
  PoolingType pooling = PoolingType::kCls;  // from the file; kCls when absent
};

struct BertLoadOptions {
  // Reproduce ggml's f16 activation rounding for F16 weights. Default: true.
  bool emulate_ggml = true;
  // GELU through ggml's f16 lookup table (what llama.cpp computes) rather
  // than the exact tanh form. Default: kGgmlTable.
  GeluMode gelu = GeluMode::kGgmlTable;
  // Tokens (rows) run through the layers together: encode() splits a batch
  // into groups of consecutive sequences whose lengths add up to at most
  // this, and a longer sequence runs alone. Scratch memory is about
  // (2 * n_embd + max(3 * n_embd, n_ff)) * 4 bytes per row (1.1 MiB at 128
  // rows for bge-small); fewer rows re-widen the F16 weights more often.
  // 128 keeps bge-small's peak RSS within its file size + 10% (256: 1.11x)
  // for about 10% fewer embeddings/s at batch 32 (model/README.md).
  // Results do not depend on it beyond float summation order. Default: 128.
  int n_batch_tokens = 128;
};

class BertModel {
 public:
  static Result<std::shared_ptr<const BertModel>> load(const std::string& path, BertLoadOptions options = {});
  static Result<std::shared_ptr<const BertModel>> from_gguf(std::shared_ptr<const GgufFile> file,
                                                            BertLoadOptions options = {});

  const BertConfig& config() const { return config_; }
  const GgufFile& gguf() const { return *file_; }
  std::shared_ptr<const GgufFile> gguf_shared() const { return file_; }

  // Encodes each sequence (ids already include [CLS] ... [SEP]) and appends
  // one n_embd vector per sequence to `out`, pooled with `pooling` (kNone
  // means the model's own) and L2-normalised when `normalize`.
  // Errors: empty sequence, an id outside the vocabulary, a sequence longer
  // than n_ctx_train.
  Status encode(std::span<const std::vector<int32_t>> seqs, PoolingType pooling, bool normalize,
                std::vector<float>& out, int n_threads = 0) const;

 private:
  struct Layer {
    std::unique_ptr<Linear> wq, wk, wv, wo, up, down;
    std::vector<float> bq, bk, bv, bo, b_up, b_down;
    std::vector<float> attn_norm_w, attn_norm_b, out_norm_w, out_norm_b;
  };
  struct Scratch;
  BertModel() = default;
  // Runs one group of validated sequences (`total` tokens) through the
  // encoder and writes one pooled vector per sequence to out[s * n_embd].
  void encode_group(std::span<const std::vector<int32_t>> seqs, int total, PoolingType pooling, bool normalize,
                    Scratch& scratch, float* out, int n_threads) const;

  std::shared_ptr<const GgufFile> file_;
  BertConfig config_;
  BertLoadOptions options_;
  std::unique_ptr<Linear> token_embd_;
  std::vector<float> type_embd0_;  // row 0 of token_types (zeros when absent)
  std::unique_ptr<Linear> pos_embd_;
  std::vector<float> embd_norm_w_, embd_norm_b_;
  std::vector<Layer> layers_;
};

// L2-normalises v[n] in place (sum of squares in double, as llama.cpp does);
// a zero vector stays zero.
void l2_normalize(float* v, int n);

}  // namespace ragd
