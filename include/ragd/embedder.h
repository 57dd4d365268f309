// The embedding encoder interface. GloVe-SIF is the built-in default; the
// GGUF transformer encoder plugs in behind the same interface.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ragd/status.h"

namespace ragd {

enum class EmbedRole { kQuery, kPassage };

// Thread safety: embed() is const and safe to call from many threads at once.
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual int dim() const = 0;
  // Identifies the encoder and its weights, e.g. "glove-sif:wink-sg-100d:<hash>".
  // The store refuses to mix vectors from two fingerprints.
  virtual std::string fingerprint() const = 0;
  // Appends texts.size() * dim() floats to `out`, each vector L2-normalised
  // (an all-zero vector when the text has no known word).
  virtual Status embed(std::span<const std::string> texts, EmbedRole role,
                       std::vector<float>& out) const = 0;
};

}  // namespace ragd
