// Retriever: lexical, vector and hybrid retrieval with filters, ACL and
// near-duplicate removal.
//
// A query travels: analyse -> gather candidates (BM25 and/or ANN, both under
// one DocPredicate for filters and ACL) -> score every candidate on both
// halves -> fuse -> drop near-duplicates -> fetch the chunks -> hits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "index/store.h"
#include "ragd/embedder.h"
#include "ragd/search.h"
#include "ragd/status.h"

namespace ragd {

enum class FusionMethod {
  // (1 - w) * bm25 / max_bm25 + w * gate * (cos - min_cos) / (max_cos - min_cos)
  // over the candidate set. The default; see retrieve/README.md.
  kConvex,
  // Weighted reciprocal rank fusion: (1 - w) / (rrf_k + rank_lex) + w / (rrf_k + rank_vec).
  kRrf,
};

struct RetrieverOptions {
  // Candidates taken from each half before fusion (raised to the request's k).
  // Default: 100.
  int candidates = 100;
  // How the hybrid mode fuses the halves. Default: kConvex.
  FusionMethod fusion = FusionMethod::kConvex;
  // Fusion weight of the vector half, 0..1 (0 = lexical only). Tuned on
  // SciFact train and the sample KB; see retrieve/README.md. Default: 0.3.
  double vector_weight = 0.3;
  // RRF constant for FusionMethod::kRrf. Default: 60.
  double rrf_k = 60;
  // Gate on the vector half (kConvex): its weight is scaled by
  // min(1, spread / gate_spread), where spread is max_cos - min_cos over the
  // candidates, so a vector half that barely separates them cannot reorder
  // the lexical ranking. 0 disables the gate. Default: 0 (on SciFact train
  // a gate of 0.3 changed nothing measurable; see retrieve/README.md).
  double gate_spread = 0;
  // Chunks whose embedding cosine to a better hit is at least this are
  // dropped as near-duplicates. Default: 0.97.
  double dedup_similarity = 0.97;
  // Chunks whose word-3-gram Jaccard similarity to a better hit is at least
  // this are dropped as near-duplicates. Default: 0.6.
  double dedup_jaccard = 0.6;
  // Chunks (text, document info and word-3-gram shingles) kept in memory
  // for building hits, least recently used evicted; 0 = none. Safe because
  // a label's chunk never changes (labels are never reused) and liveness is
  // still decided by the searches. Vectors are not cached (reindex replaces
  // them). Default: 2048 (a few MB).
  size_t chunk_cache_entries = 2048;
};

class ChunkCache;

// One fused candidate, before its chunk is fetched.
struct Candidate {
  uint64_t label = 0;
  double lexical = 0;      // BM25, 0 when not matched
  double vector = 0;       // cosine, 0 when not scored
  bool has_lexical = false;
  bool has_vector = false;
  bool vector_hit = false;  // returned by the vector half (not only scored)
  // Only from gather() with a corpus (a cluster shard's candidates): for a
  // lexical candidate the vector half also returned, its cosine computed as
  // for one it did not (Store::chunk_vector): what a single store would give
  // it if another shard's chunks pushed it out of the vector half.
  double exact_vector = 0;
  double score = 0;        // fused
};

// Everything the halves returned for one query; fusion is a pure function of
// it, so tuning can re-fuse without searching again.
struct CandidateSet {
  std::vector<Candidate> items;  // union of both halves, unordered
  bool lexical_searched = false;
  bool vector_searched = false;  // false when there is no encoder or no known word
  size_t query_terms = 0;        // distinct analysed query terms
};

// Thread-safe: retrieve() is const; the Store and Embedder are shared.
class Retriever {
 public:
  Retriever(const Store& store, const Embedder* embedder, RetrieverOptions options = {});
  ~Retriever();
  Retriever(const Retriever&) = delete;
  Retriever& operator=(const Retriever&) = delete;

  // Empty queries and k outside 1..kMaxSearchK (ragd/search.h) are kInvalidArgument.
  Result<std::vector<Hit>> retrieve(const SearchRequest& request) const;
  const RetrieverOptions& options() const { return options_; }
  // Drops every cached chunk (a purge: no copy of a forgotten document's
  // text stays in memory). Thread-safe.
  void clear_chunk_cache() const;
  // The encoder, or null when none is loaded.
  const Embedder* embedder() const { return embedder_; }
  // The store searched. Reading a document's other chunks is for callers
  // that already hold one of its hits (the ACL is per document).
  const Store& store() const { return store_; }

  // The stages of retrieve(), public for evaluation, tuning and the
  // cluster's coordinator (which runs fuse() and NearDuplicates over the
  // candidates its shards gathered).
  // How many candidates each half gathers for a request's k.
  int depth(int k) const;
  // Searches the halves `mode` needs (hybrid gets both scores for every
  // candidate: cosine from Store::chunk_vector, BM25 only where matched).
  // With `corpus`, BM25 scores with those statistics (Store::search_lexical)
  // and Candidate::exact_vector is filled in.
  Result<CandidateSet> gather(const SearchRequest& request, int depth, const LexicalStats* corpus = nullptr) const;
  // Sets Candidate::score and sorts best first (ties by label).
  static void fuse(CandidateSet& set, SearchMode mode, const RetrieverOptions& options);
  // A live chunk as a hit (scores 0) when `allow` passes its document;
  // nullopt when it is gone or not allowed. Through the chunk cache.
  Result<std::optional<Hit>> hit(uint64_t label, const DocPredicate& allow) const;

 private:
  // Drops near-duplicates and fetches up to k chunks as hits.
  Result<std::vector<Hit>> materialise(const CandidateSet& set, const SearchRequest& request) const;

  const Store& store_;
  const Embedder* embedder_;  // may be null: vector and hybrid modes fall back to lexical
  RetrieverOptions options_;
  std::unique_ptr<ChunkCache> cache_;  // null when options_.chunk_cache_entries == 0; thread-safe
};

// Near-duplicate removal over a fused list, best first: a chunk is dropped
// when its embedding cosine to a kept one reaches `similarity`, or its
// word-3-gram Jaccard similarity reaches `jaccard`. The vector test can run
// before the chunk's text is read.
class NearDuplicates {
 public:
  explicit NearDuplicates(const RetrieverOptions& options)
      : similarity_(options.dedup_similarity), jaccard_(options.dedup_jaccard) {}
  // True when `vec` (empty: none) is near a kept chunk's.
  bool near_vector(const std::vector<float>& vec) const;
  // False when the text is near a kept chunk's; else keeps the chunk.
  bool keep(std::shared_ptr<const std::vector<uint64_t>> shingles, std::vector<float> vec);

 private:
  double similarity_, jaccard_;
  struct Kept {
    std::shared_ptr<const std::vector<uint64_t>> shingles;
    std::vector<float> vec;
  };
  std::vector<Kept> kept_;
};

// Sorted distinct hashes of a text's word 3-grams (lowercased words): what
// NearDuplicates compares.
std::vector<uint64_t> word_shingles(const std::string& text);

// The predicate for a request's filters and the caller's groups: a document
// passes when every filter matches and its ACL is empty or shares a group.
DocPredicate make_doc_predicate(const SearchFilters& filters, const std::vector<std::string>& groups);

// Word-3-gram Jaccard similarity of two texts (lowercased words), for
// near-duplicate detection. Texts under 3 words compare as word sets.
double shingle_jaccard(const std::string& a, const std::string& b);

}  // namespace ragd
