// Retriever: lexical, vector and hybrid retrieval with filters, ACL and
// near-duplicate removal.
#pragma once

#include <vector>

#include "index/store.h"
#include "ragd/embedder.h"
#include "ragd/search.h"
#include "ragd/status.h"

namespace ragd {

struct RetrieverOptions {
  // Candidates taken from each half before fusion. Default: 100.
  int candidates = 100;
  // Hybrid fusion weight of the vector half (0 = lexical only). Tuned on
  // SciFact train and the sample KB; see retrieve/README.md.
  double vector_weight = 0.2;
  // Chunks whose cosine similarity to a better hit is above this are dropped
  // as near-duplicates. Default: 0.95.
  double dedup_similarity = 0.95;
};

// Thread-safe: retrieve() is const; the Store and Embedder are shared.
class Retriever {
 public:
  Retriever(const Store& store, const Embedder* embedder, RetrieverOptions options = {});
  Result<std::vector<Hit>> retrieve(const SearchRequest& request) const;
  const RetrieverOptions& options() const { return options_; }

 private:
  const Store& store_;
  const Embedder* embedder_;  // may be null: vector and hybrid modes fall back to lexical
  RetrieverOptions options_;
};

}  // namespace ragd
