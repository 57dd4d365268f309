// ragd::Embedder backed by a GGUF BERT encoder (bge-small, all-MiniLM, ...):
// WordPiece tokens from the file, [CLS] ... [SEP], CLS or mean pooling (the
// file's bert.pooling_type unless overridden), L2-normalised.
//
// Long texts: a text longer than the encoder's positions is truncated to its
// first n_ctx-1 tokens plus [SEP] (stated policy; nothing fails).
// Thread safety: embed() is const and safe from many threads.
#pragma once

#include <memory>
#include <string>

#include "model/bert.h"
#include "model/tokenizer.h"
#include "ragd/embedder.h"

namespace ragd {

struct BertEmbedderOptions {
  // Pooling; kNone uses the file's bert.pooling_type. Default: kNone.
  PoolingType pooling = PoolingType::kNone;
  // OpenMP threads per embed() call; 0 = all cores. Default: 0.
  int n_threads = 0;
  // Texts encoded per forward batch. Default: 32.
  int max_batch = 32;
  // Tokens the encoder runs through its layers together (bounds its scratch
  // memory; see BertLoadOptions::n_batch_tokens). Default: 128.
  int n_batch_tokens = 128;
  // Prepended to queries / passages (e.g. bge's "Represent this sentence for
  // searching relevant passages: "). Default: empty.
  std::string query_prefix;
  std::string passage_prefix;
};

class BertEmbedder : public Embedder {
 public:
  static Result<std::unique_ptr<BertEmbedder>> load(const std::string& path, BertEmbedderOptions options = {});

  int dim() const override { return model_->config().n_embd; }
  std::string fingerprint() const override { return fingerprint_; }
  Status embed(std::span<const std::string> texts, EmbedRole role, std::vector<float>& out) const override;

  // Token ids exactly as embed() feeds them (with [CLS]/[SEP], truncated).
  std::vector<int32_t> tokenize(std::string_view text) const;
  const BertModel& model() const { return *model_; }

 private:
  BertEmbedder() = default;
  std::shared_ptr<const BertModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  BertEmbedderOptions options_;
  PoolingType pooling_ = PoolingType::kCls;
  std::string fingerprint_;
};

}  // namespace ragd
