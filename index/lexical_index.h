// LexicalIndex: the in-memory BM25 inverted index. It is derived from the
// per-chunk term lists in RocksDB (the chunkinfo column family) and rebuilt
// from them on open in one pass.
//
// Layout: a term dictionary (term -> id) and one posting list per term id,
// sorted by label. Removal is lazy: a removed chunk's length drops to 0 and
// its postings are skipped by search() until the list is compacted (when
// half of it is dead), so replacing a document costs O(its terms), not
// O(length of the lists it touches).
//
// Search is document-at-a-time block-max MaxScore (Turtle & Flood 1995;
// Ding & Suel 2011; Mallia et al. 2019): each term has an upper bound on its
// score contribution, and the terms whose bounds together cannot lift a
// chunk into the current top k are only probed for chunks that the other
// terms already make competitive. Each list is also cut into blocks of
// kBlock postings that carry the shortest chunk per tf class (1, 2, >= 3,
// with the largest tf), from which the query's BM25 parameters give a bound for the block;
// where the blocks under the current chunk of every term together cannot
// reach the top k, the whole stretch up to the nearest block end is skipped
// without reading its postings. A chunk's score is summed in the query's
// term order, so it does not depend on how the traversal reached it.
//
// Thread safety: none inside, apart from search() using thread-local scratch.
// The store calls the mutators with its lock held exclusively and search()
// with it held shared.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ragd/status.h"

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
  // Bulk load at open, labels ascending: the same as add() with borrowed
  // term strings.
  void load_chunk(uint32_t label, std::span<const std::pair<std::string_view, uint32_t>> terms,
                  uint32_t length);
  // Removes a chunk; `terms` are the ones it was added with.
  void remove(uint32_t label, std::span<const TermFreq> terms);

  // The best k chunks for these query terms that `accept` lets through,
  // best first (ties: lower label first). `accept` is asked only about
  // chunks that would enter the current top k.
  std::vector<LexicalHit> search(std::span<const std::string> terms, size_t k, Bm25Params params,
                                 const std::function<bool(uint32_t)>& accept) const;

  // Snapshot: writes the whole index to `file` (temp + rename, fsynced,
  // checksummed), tagged with the store's next label at that moment.
  Status save(const std::filesystem::path& file, uint64_t next_label) const;
  // Replaces this (empty) index with a snapshot and returns its tag. Any
  // damage is kCorruption (the index is then left empty).
  Result<uint64_t> load(const std::filesystem::path& file);
  // Drops every chunk for which live(label) is false (those removed since
  // the snapshot), in one pass over the lists. Returns how many it dropped.
  size_t retain_live(const std::function<bool(uint32_t)>& live);

  size_t terms() const { return live_terms_; }
  size_t chunks() const { return live_; }

 private:
  struct Posting {
    uint32_t label;
    uint32_t tf;
  };
  // Postings [i * kBlock, (i + 1) * kBlock) of a list form block i.
  static constexpr size_t kBlock = 128;
  // Most postings have tf 1 or 2, so the shortest chunk is kept per tf
  // class: a posting's score is at most that of (its class's tf, the class's
  // shortest chunk), which is tighter than (largest tf, shortest chunk).
  struct Block {
    uint32_t last;                   // label of the block's last posting
    uint32_t max_tf = 0;             // largest tf of a posting with tf >= 3 (0: none)
    uint32_t min_length = UINT32_MAX;  // shortest chunk with tf >= 3
    uint32_t min_length1 = UINT32_MAX;  // shortest chunk with tf 1
    uint32_t min_length2 = UINT32_MAX;  // shortest chunk with tf 2
    void note(uint32_t tf, uint32_t length) {
      if (tf == 1) {
        min_length1 = std::min(min_length1, length);
      } else if (tf == 2) {
        min_length2 = std::min(min_length2, length);
      } else if (tf > 2) {
        max_tf = std::max(max_tf, tf);
        min_length = std::min(min_length, length);
      }
    }
  };
  struct TermList {
    std::vector<Posting> postings;  // sorted by label; may hold dead labels
    std::vector<Block> blocks;      // one per kBlock postings
    uint32_t df = 0;                // live postings
    uint32_t max_tf = 0;            // over every posting ever added: a bound
    uint32_t min_length = UINT32_MAX;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  TermList& list_for(std::string_view term);
  void append(TermList& list, uint32_t label, uint32_t tf, uint32_t length);
  void set_length(uint32_t label, uint32_t length);
  // Drops dead postings from a list.
  void compact(TermList& list) const;
  // Recomputes a list's blocks from its postings and the chunk lengths.
  void rebuild_blocks(TermList& list) const;

  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> ids_;
  std::vector<TermList> lists_;  // by term id
  std::vector<uint32_t> length_;  // by label; 0 = not live
  size_t live_ = 0;
  size_t live_terms_ = 0;
  uint64_t total_length_ = 0;
};

}  // namespace ragd
