// Which embedding encoder the service uses: the built-in GloVe-SIF, or a
// GGUF BERT-family encoder (`--embed-model FILE.gguf`, model/bert_embedder.h)
// with the query/passage prefixes its family expects.
//
// Long inputs: the GGUF encoder keeps the first n_ctx-1 WordPiece tokens of a
// text plus [SEP] (its trained positions; bge/e5-small: 512), so nothing is
// refused for length; the rest of the text is not embedded (its words still
// count for BM25). Ingest chunks are far shorter than 512 tokens in
// practice. The prefix is part of the text, so it counts against that budget.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "ragd/embedder.h"
#include "ragd/status.h"

namespace ragd {

struct EncoderOptions {
  // GGUF encoder file; empty = GloVe-SIF. Default: empty.
  std::filesystem::path model;
  // Prefix preset: "auto" (from the file name: "e5" -> e5's, "bge" -> bge's,
  // else none), "e5", "bge" or "none". Default: "auto".
  std::string prefix_preset = "auto";
  // Explicit prefixes; when set they replace the preset's. Default: unset.
  std::optional<std::string> query_prefix;
  std::optional<std::string> passage_prefix;
  // Texts per forward batch. Default: 32.
  int batch = 32;
  // Threads per embed() call; 0 = all cores. Default: 0.
  int threads = 0;
};

struct Prefixes {
  std::string query, passage;
};
// The prefixes a preset stands for ("e5": "query: " / "passage: "; "bge":
// "Represent this sentence for searching relevant passages: " / "").
// Errors: kInvalidArgument for an unknown preset.
Result<Prefixes> encoder_prefixes(const EncoderOptions& options);

// Loads the GGUF encoder. Errors name the file.
Result<std::unique_ptr<Embedder>> load_gguf_encoder(const EncoderOptions& options);

// Tokens the encoder feeds its model for `text` (WordPiece tokens with
// [CLS]/[SEP] and the passage prefix, after truncation), or nullopt when the
// encoder has no tokenizer of its own (GloVe-SIF).
std::optional<size_t> encoder_token_count(const Embedder& encoder, const std::string& text);

// The service's encoder during a background reindex: an Embedder that
// forwards to the current one and is switched to the new one at the moment
// the store switches (ServiceContext). Without a current encoder (the store's
// old one could not be loaded) it embeds every text as the all-zero vector of
// the store's dimension, which the Retriever treats as "no vector half".
//
// Thread safety: every method may be called from many threads; an embed()
// that started before set() finishes with the encoder it started with.
class SwitchableEncoder : public Embedder {
 public:
  SwitchableEncoder(std::shared_ptr<const Embedder> current, std::string fallback_fingerprint, int fallback_dim);
  void set(std::shared_ptr<const Embedder> current);
  std::shared_ptr<const Embedder> current() const;

  int dim() const override;
  std::string fingerprint() const override;
  Status embed(std::span<const std::string> texts, EmbedRole role, std::vector<float>& out) const override;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Embedder> current_;  // guarded by mu_
  std::string fallback_fingerprint_;
  int fallback_dim_ = 0;
};

}  // namespace ragd
