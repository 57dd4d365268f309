// Which embedding encoder the service uses: the built-in GloVe-SIF, or a
// GGUF BERT-family encoder (`--embed-model FILE.gguf`, model/bert_embedder.h)
// with the query/passage prefixes its family expects.
//
// Long inputs: the GGUF encoder keeps the first n_ctx-1 WordPiece tokens of a
// text plus [SEP] (its trained positions; bge/e5-small: 512), so nothing is
// refused for length; chunks are far shorter than that in practice. The
// prefix counts against that budget.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "ragd/embedder.h"
#include "ragd/status.h"

namespace ragd::api {

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

}  // namespace ragd::api
