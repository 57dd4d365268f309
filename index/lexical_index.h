// LexicalIndex: the in-memory BM25 inverted index. It is derived from the
// per-chunk term lists in RocksDB (the chunkinfo column family) and rebuilt
// from them on open in one pass.
//
// Layout: a term dictionary (term -> id) and one posting list per term id,
// sorted by label, in blocks of kBlock postings. Every full block is packed:
// its first label, then each label's distance from it and each tf minus 1,
// at the fewest bits that hold the block's largest (frame of reference), so
// that a search reads any posting in place without unpacking the block.
// The last, partial block stays unpacked so that add() appends in place.
// Removal is lazy: a removed chunk's length drops to 0 and
// its postings are skipped by search() until the list is compacted (when
// half of it is dead), so replacing a document costs O(its terms), not
// O(length of the lists it touches).
//
// Search is document-at-a-time block-max MaxScore (Turtle & Flood 1995;
// Ding & Suel 2011; Mallia et al. 2019): each term has an upper bound on its
// score contribution, and the terms whose bounds together cannot lift a
// chunk into the current top k are only probed for chunks that the other
// terms already make competitive. Each list is also cut into blocks of
// kBlock postings that carry the shortest chunk per tf class (see Block),
// from which the query's BM25 parameters give a bound for the block;
// where the blocks under the current chunk of every term together cannot
// reach the top k (or those of the terms present there, up to the next
// posting of the others), the whole stretch is skipped without reading its
// postings. A chunk's score is summed in the query's
// term order, so it does not depend on how the traversal reached it. A
// search can cover a range of labels, so that a long one can run in parts
// on several threads (the store splits it in two when a core is spare).
//
// Thread safety: none inside, apart from search() using thread-local scratch.
// The store calls the mutators with its lock held exclusively and search()
// with it held shared.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "index/store.h"
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

// Labels [begin, end): the part of the index a search covers.
struct LabelRange {
  uint32_t begin = 0;
  uint32_t end = UINT32_MAX;
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
  // chunks that would enter the current top k. With a range, only chunks
  // whose labels lie in it count; the scores stay those of the whole index,
  // so the best k of each part of a split together hold the best k overall.
  // With `corpus`, idf and the average length come from it instead of this
  // index (a term it lacks keeps this index's document frequency).
  std::vector<LexicalHit> search(std::span<const std::string> terms, size_t k, Bm25Params params,
                                 const std::function<bool(uint32_t)>& accept, LabelRange range = {},
                                 const LexicalStats* corpus = nullptr) const;
  // This index's statistics for these terms (each distinct term once).
  LexicalStats stats(std::span<const std::string> terms) const;

  // How many postings a search for these terms may visit, and the label that
  // cuts the longest of their lists in half: where to split a search that is
  // worth running in two parts.
  struct Split {
    size_t postings = 0;
    uint32_t label = 0;
  };
  Split split_point(std::span<const std::string> terms) const;

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

  LexicalIndex();
  LexicalIndex(LexicalIndex&&) noexcept;
  // Members move in declaration order: the lists (and the storage they give
  // back) before the arena they may live in.
  LexicalIndex& operator=(LexicalIndex&&) noexcept;
  ~LexicalIndex();

 private:
  struct Posting {
    uint32_t label;
    uint32_t tf;
  };
  struct Cursor;
  // Storage of the lists a snapshot load fills: one anonymous mapping
  // advised for transparent huge pages, so filling it takes a page fault
  // per 2 MiB rather than per 4 KiB (a fault costs microseconds on a VM, and
  // a 1M-chunk load of store_bench fills 150 MB across ~40,000 lists, most
  // of them too small for malloc to place on huge pages). Once the load is done it
  // hands out nothing more: a list that grows later moves to the heap, and
  // the whole pages it leaves are given back to the kernel.
  class PostingArena;
  static void* arena_allocate(PostingArena* arena, size_t bytes);
  static void arena_deallocate(PostingArena* arena, void* p, size_t bytes);
  // A list's allocator: the arena during a load, else the heap. A resize()
  // leaves new bytes uninitialised: the load reads over them at once, so
  // zeroing them first would only write the memory twice.
  template <typename T>
  struct PostingAlloc {
    using value_type = T;
    using propagate_on_container_copy_assignment = std::true_type;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    PostingArena* arena = nullptr;
    PostingAlloc() = default;
    explicit PostingAlloc(PostingArena* a) : arena(a) {}
    template <typename U>
    PostingAlloc(const PostingAlloc<U>& o) : arena(o.arena) {}  // NOLINT: rebinding converts implicitly
    T* allocate(size_t n) { return static_cast<T*>(arena_allocate(arena, n * sizeof(T))); }
    void deallocate(T* p, size_t n) { arena_deallocate(arena, p, n * sizeof(T)); }
    template <typename U>
    void construct(U* p) {
      ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
    template <typename U>
    bool operator==(const PostingAlloc<U>& o) const {
      return arena == o.arena;
    }
  };
  // Postings [i * kBlock, (i + 1) * kBlock) of a list form block i.
  static constexpr size_t kBlock = 128;
  // A posting's score rises with its tf and falls with its chunk's length,
  // whatever the BM25 parameters, so a block keeps the pairs (tf, length)
  // of its postings that no other posting beats on both (the Pareto
  // frontier, Lucene's "impacts"): the best score in the block is the best of
  // those pairs'. In a list where nearly every chunk holds the term, the
  // top k are only a little above the rest, and one (largest tf, shortest
  // chunk) pair per block bounds too loosely to skip anything. At most
  // kPairs are kept: beyond that two neighbours merge into (the larger tf,
  // the shorter length), still a bound, just a looser one. Both are kept as
  // 16 bits: a length rounds down, and a tf of 65535 stands for "up to the
  // list's max_tf", so a bound stays a bound.
  static constexpr size_t kPairs = 6;
  struct Block {
    uint32_t last;                          // label of the block's last posting
    uint32_t offset = 0;                    // a full block's bytes in TermList::packed
    std::array<uint16_t, kPairs> tf{};      // ascending; 0 ends the list
    std::array<uint16_t, kPairs> length{};  // ascending, with tf
    void note(uint32_t tf, uint32_t length);
  };
  // Bytes that may be read past a packed block's end: an unpacker reads 8
  // bytes at a time.
  static constexpr size_t kSlack = 8;
  struct TermList {
    TermList() = default;
    explicit TermList(PostingArena* arena)
        : packed(PostingAlloc<uint8_t>(arena)), tail(PostingAlloc<Posting>(arena)) {}
    // The full blocks, packed, one after the other, then kSlack zero bytes
    // (empty while the list has no full block).
    std::vector<uint8_t, PostingAlloc<uint8_t>> packed;
    std::vector<Posting, PostingAlloc<Posting>> tail;  // the last, partial block: < kBlock postings
    std::vector<Block> blocks;      // one per kBlock postings, the partial one too
    uint32_t count = 0;             // postings; sorted by label, may hold dead labels
    uint32_t df = 0;                // live postings
    uint32_t max_tf = 0;            // over every posting ever added: a bound
    uint32_t min_length = UINT32_MAX;
  };
  // Block b of a list (full or the partial last): its labels into `labels`
  // (room for kBlock), returning how many postings it holds, and its tfs.
  static size_t block_labels(const TermList& list, size_t b, uint32_t* labels);
  static void block_tfs(const TermList& list, size_t b, uint32_t* tfs);
  // Every posting of a list, in order.
  static std::vector<Posting> unpack_all(const TermList& list);
  // Replaces a list's postings (sorted by label) and rebuilds its blocks.
  void repack(TermList& list, std::span<const Posting> postings) const;
  // Packs the partial last block, now full.
  static void pack_tail(TermList& list);
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  // load() without its catch of std::bad_alloc.
  Result<uint64_t> load_snapshot(const std::filesystem::path& file);
  // The position of the first posting of `list` with a label >= `label`
  // (its count if none).
  static uint32_t first_at(const TermList& list, uint32_t label);
  TermList& list_for(std::string_view term);
  void append(TermList& list, uint32_t label, uint32_t tf, uint32_t length);
  void set_length(uint32_t label, uint32_t length);
  // Drops dead postings from a list.
  void compact(TermList& list) const;
  // Recomputes a list's blocks from its postings and the chunk lengths.
  // False when the labels do not ascend or one lies past the lengths (a
  // damaged snapshot).
  bool rebuild_blocks(TermList& list) const;

  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> ids_;
  std::vector<TermList> lists_;  // by term id
  std::vector<uint32_t> length_;  // by label; 0 = not live
  size_t live_ = 0;
  size_t live_terms_ = 0;
  uint64_t total_length_ = 0;
  // After lists_: a move assignment releases the old lists before the old
  // arena, and the destructor empties lists_ first.
  std::unique_ptr<PostingArena> arena_;
};

}  // namespace ragd
