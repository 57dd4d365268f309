// LexicalIndex: the in-memory BM25 inverted index. It mirrors the postings
// column family in RocksDB and is rebuilt from it on open.
//
// Thread safety: none inside. The store calls the mutators with its lock held
// exclusively and search() with it held shared.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace ragd {

struct TermFreq {
  std::string term;
  uint32_t tf = 0;
};

// Counts each analysed term of a chunk: sorted by term, one entry per term.
std::vector<TermFreq> count_terms(std::span<const std::string> tokens);

struct Bm25Params {
  float k1 = 0.9f;
  float b = 0.4f;
};

struct LexicalHit {
  uint32_t label = 0;
  float score = 0;
};

class LexicalIndex {
 public:
  // Adds a chunk. Labels must increase from one add() to the next (the store
  // hands them out that way), so posting lists stay sorted by label.
  void add(uint32_t label, std::span<const TermFreq> terms, uint32_t length);
  void remove(uint32_t label, std::span<const TermFreq> terms);
  // Bulk load at open: postings must arrive sorted by (term, label).
  void load_posting(const std::string& term, uint32_t label, uint32_t tf);
  void load_length(uint32_t label, uint32_t length);

  // The best k chunks for these query terms that `accept` lets through.
  std::vector<LexicalHit> search(std::span<const std::string> terms, size_t k, Bm25Params params,
                                 const std::function<bool(uint32_t)>& accept) const;

  size_t terms() const { return postings_.size(); }
  size_t chunks() const { return live_; }

 private:
  struct Posting {
    uint32_t label;
    uint32_t tf;
  };
  std::unordered_map<std::string, std::vector<Posting>> postings_;
  std::vector<uint32_t> length_;  // by label; 0 = not live
  size_t live_ = 0;
  uint64_t total_length_ = 0;
};

}  // namespace ragd
