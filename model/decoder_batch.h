// One forward pass over several sequences at once (continuous batching).
//
// Every sequence keeps its own DecoderSession (KV cache, position); a pass
// takes a few new tokens of each: one for a sequence that is generating, a
// chunk of a prompt, or a token plus its draft tokens (lookup decoding). The
// rows of all sequences go through each weight matrix together, so a pass
// over the weights, which bounds generation speed on a CPU, feeds every
// sequence; attention stays per sequence, over its own cache.
//
//   DecoderBatch batch(model, 2);
//   DecodeItem items[] = {{&a, next_a, logits_a}, {&b, next_b, logits_b}};
//   batch.forward(items);
//
// Same results as alone: a sequence evaluated in a batch gets bit for bit
// the logits that DecoderSession::eval() gives it alone for the same tokens
// (chunked the same way). Items of at most kSmallItemTokens tokens share one
// group of rows through Linear::forward_rows(), which computes each row as
// a one-row product would; a longer item (a prompt chunk) is multiplied as a
// group of its own, through the same kernels eval() uses for it, unless the
// model is chunk-invariant (DecoderModel::chunk_invariant()): then all rows
// of the pass form one group.
//
// Thread safety: one DecoderBatch is used by one thread at a time (it owns
// scratch and a ComputePool); each session may appear once per pass and must
// not be used elsewhere during it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/compute_pool.h"
#include "model/kv_cache.h"
#include "model/llama.h"
#include "ragd/status.h"

namespace ragd {

struct DecodeItem {
  DecoderSession* session = nullptr;
  // Tokens appended at session->n_past() onwards.
  std::span<const int32_t> tokens;
  // Receives n_vocab logits after the last token (null: not wanted).
  float* logits_last = nullptr;
  // Receives tokens.size() * n_vocab logits, one row per token (null: not
  // wanted).
  float* logits_all = nullptr;
};

class DecoderBatch {
 public:
  // Items of at most this many tokens share the row-exact small-m kernels.
  static constexpr int kSmallItemTokens = 16;

  // n_threads: threads of the kernels (0 = all cores).
  DecoderBatch(std::shared_ptr<const DecoderModel> model, int n_threads);

  const DecoderModel& model() const { return *model_; }

  // Evaluates every item in one pass and advances each session by its
  // tokens. Errors (nothing is evaluated then): a session of another model,
  // a session named twice, or what DecoderSession::check_tokens() refuses.
  Status forward(std::span<const DecodeItem> items);

 private:
  struct Group {
    int row0 = 0;
    int n = 0;
    bool small = false;
  };
  void run(std::span<const DecodeItem> items);

  std::shared_ptr<const DecoderModel> model_;
  int n_threads_;
  std::unique_ptr<ComputePool> pool_;
  // Per pass: items in row order, their first rows, the groups of rows.
  std::vector<size_t> order_;
  std::vector<int> item_row0_;
  std::vector<Group> groups_;
  std::vector<int32_t> tokens_;
  std::vector<int> row_pos_;
  std::vector<AttentionCall> calls_;
  // Scratch, grown to the largest pass.
  std::vector<float> x_, h_, q_, k_, v_, attn_, ffn_a_, ffn_b_, g_, logits_;
};

}  // namespace ragd
