// BM25 over in-memory posting lists, document at a time with block-max
// MaxScore pruning; see index/lexical_index.h.
#include "index/lexical_index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <utility>

#include "index/codec.h"
#include "index/snapshot.h"

namespace ragd {

std::vector<TermFreq> count_terms(std::span<const std::string> tokens) {
  // Sorting and counting runs is much cheaper than a std::map insert per
  // token. Each token carries its first 8 bytes as a big-endian number
  // (zero-padded), which orders like the bytes themselves, so most
  // comparisons are one integer compare.
  struct Key {
    uint64_t prefix;
    std::string_view term;
  };
  thread_local std::vector<Key> keys;
  keys.clear();
  keys.reserve(tokens.size());
  for (const auto& t : tokens) {
    uint64_t prefix = 0;
    for (size_t i = 0; i < 8; ++i) {
      prefix = (prefix << 8) | (i < t.size() ? static_cast<uint8_t>(t[i]) : 0u);
    }
    keys.push_back({prefix, t});
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return a.term < b.term;
  });
  std::vector<TermFreq> out;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i + 1;
    while (j < keys.size() && keys[j].prefix == keys[i].prefix && keys[j].term == keys[i].term) ++j;
    out.push_back({std::string(keys[i].term), static_cast<uint32_t>(j - i)});
    i = j;
  }
  return out;
}

class LexicalIndex::PostingArena {
 public:
  // A mapping of `bytes` (rounded up to 2 MiB), reserved but not committed;
  // null when the system refuses it (the lists then use the heap).
  static std::unique_ptr<PostingArena> map(size_t bytes) {
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t cap = (std::max<size_t>(bytes, 1) + kHuge - 1) & ~(kHuge - 1);
    void* p = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    advise_huge_pages(p, cap);
    return std::unique_ptr<PostingArena>(new PostingArena(static_cast<char*>(p), cap));
  }
  ~PostingArena() { ::munmap(base_, cap_); }
  PostingArena(const PostingArena&) = delete;
  PostingArena& operator=(const PostingArena&) = delete;

  // The next `bytes`, 8-aligned; null once frozen or full.
  void* take(size_t bytes) {
    bytes = (bytes + 7) & ~size_t{7};
    if (frozen_ || bytes > cap_ - used_) return nullptr;
    void* p = base_ + used_;
    used_ += bytes;
    return p;
  }
  bool owns(const void* p) const {
    const char* c = static_cast<const char*>(p);
    return c >= base_ && c < base_ + cap_;
  }
  // A list left [p, p + bytes): the whole pages inside it go back to the
  // kernel (a neighbour's partial page stays).
  void give_back(void* p, size_t bytes) {
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto at = reinterpret_cast<uintptr_t>(p);
    const uintptr_t begin = (at + page - 1) & ~(page - 1);
    const uintptr_t end = (at + bytes) & ~(page - 1);
    if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
  // The load is done: later allocations go to the heap.
  void freeze() { frozen_ = true; }

 private:
  PostingArena(char* base, size_t cap) : base_(base), cap_(cap) {}
  char* base_;
  size_t cap_;
  size_t used_ = 0;
  bool frozen_ = false;
};

void* LexicalIndex::arena_allocate(PostingArena* arena, size_t bytes) {
  if (arena != nullptr) {
    if (void* p = arena->take(bytes)) return p;
  }
  return ::operator new(bytes);
}

void LexicalIndex::arena_deallocate(PostingArena* arena, void* p, size_t bytes) {
  if (arena != nullptr && arena->owns(p)) {
    arena->give_back(p, bytes);
    return;
  }
  ::operator delete(p);
}

LexicalIndex::LexicalIndex() = default;
LexicalIndex::LexicalIndex(LexicalIndex&&) noexcept = default;
LexicalIndex& LexicalIndex::operator=(LexicalIndex&&) noexcept = default;
LexicalIndex::~LexicalIndex() { lists_.clear(); }

void LexicalIndex::set_length(uint32_t label, uint32_t length) {
  if (length_.size() <= label) length_.resize(std::max<size_t>(label + 1, length_.size() * 3 / 2));
  const uint32_t l = std::max<uint32_t>(length, 1);
  if (length_[label] == 0) {
    ++live_;
  } else {
    total_length_ -= length_[label];
  }
  total_length_ += l;
  length_[label] = l;
}

LexicalIndex::TermList& LexicalIndex::list_for(std::string_view term) {
  auto it = ids_.find(term);
  if (it != ids_.end()) return lists_[it->second];
  ids_.emplace(std::string(term), static_cast<uint32_t>(lists_.size()));
  return lists_.emplace_back();
}

namespace {

// A packed block: the label width and the tf width (one byte each), the
// block's first label (4 bytes, little-endian), then the kBlock labels minus
// the first and the kBlock tfs minus 1, each run at its width, least
// significant bit first. Every value can be read on its own: a search reads
// the postings it visits where they lie, without unpacking their block.
constexpr size_t kPackedHeader = 6;
constexpr size_t kValues = 128;  // LexicalIndex::kBlock

size_t packed_bytes(uint32_t label_bits, uint32_t tf_bits) {
  return kPackedHeader + kValues * label_bits / 8 + kValues * tf_bits / 8;
}

uint32_t bits_for(uint32_t v) { return v == 0 ? 0 : 32 - static_cast<uint32_t>(__builtin_clz(v)); }

// Value i of a run at `bits` bits. Reads 8 bytes: a packed list ends with
// LexicalIndex::kSlack bytes.
inline uint32_t packed_value(const uint8_t* run, uint32_t bits, uint32_t i) {
  const size_t bit = static_cast<size_t>(i) * bits;
  uint64_t word;
  std::memcpy(&word, run + bit / 8, sizeof word);
  return static_cast<uint32_t>((word >> (bit % 8)) & ((uint64_t{1} << bits) - 1));
}

template <typename Out>
void pack_bits(const uint32_t* v, uint32_t bits, Out& out) {
  uint64_t acc = 0;
  uint32_t filled = 0;
  for (size_t i = 0; i < kValues; ++i) {
    acc |= static_cast<uint64_t>(v[i]) << filled;
    filled += bits;
    while (filled >= 8) {
      out.push_back(static_cast<uint8_t>(acc));
      acc >>= 8;
      filled -= 8;
    }
  }
}

// kValues values of W bits. Each group of 8 takes W whole bytes, so within
// a group every shift is a constant. Reads 8 bytes at a time: the caller's
// buffer has LexicalIndex::kSlack bytes after the last value's.
template <uint32_t W>
void unpack_width(const uint8_t* p, uint32_t* out) {
  constexpr uint64_t mask = (uint64_t{1} << W) - 1;
  for (size_t g = 0; g < kValues / 8; ++g, p += W, out += 8) {
    for (size_t j = 0; j < 8; ++j) {
      uint64_t word;
      std::memcpy(&word, p + j * W / 8, sizeof word);
      out[j] = static_cast<uint32_t>((word >> (j * W % 8)) & mask);
    }
  }
}

using Unpacker = void (*)(const uint8_t*, uint32_t*);
template <size_t... W>
constexpr std::array<Unpacker, sizeof...(W)> unpackers(std::index_sequence<W...>) {
  return {&unpack_width<static_cast<uint32_t>(W)>...};
}
constexpr std::array<Unpacker, 33> kUnpack = unpackers(std::make_index_sequence<33>{});

}  // namespace

void LexicalIndex::pack_tail(TermList& list) {
  auto& out = list.packed;
  if (out.size() > UINT32_MAX) throw std::length_error("lexical index: a posting list over 4 GiB");
  if (out.size() >= kSlack) out.resize(out.size() - kSlack);
  const Posting* tail = list.tail.data();
  static_assert(kBlock == kValues);
  std::array<uint32_t, kBlock> offsets, tfs;
  uint32_t tf_or = 0;
  for (size_t i = 0; i < kBlock; ++i) offsets[i] = tail[i].label - tail[0].label;
  for (size_t i = 0; i < kBlock; ++i) tf_or |= tfs[i] = tail[i].tf - 1;  // a tf of 0 wraps: 32 bits
  const uint32_t label_bits = bits_for(offsets[kBlock - 1]), tf_bits = bits_for(tf_or);
  list.blocks[list.count / kBlock - 1].offset = static_cast<uint32_t>(out.size());
  out.push_back(static_cast<uint8_t>(label_bits));
  out.push_back(static_cast<uint8_t>(tf_bits));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(tail[0].label >> (8 * i)));
  pack_bits(offsets.data(), label_bits, out);
  pack_bits(tfs.data(), tf_bits, out);
  out.resize(out.size() + kSlack, 0);
  // Freed, not kept for the next block: a long list would otherwise hold a
  // block's room for nothing for as long as it is not appended to.
  list.tail.clear();
  list.tail.shrink_to_fit();
}

size_t LexicalIndex::block_labels(const TermList& list, size_t b, uint32_t* labels) {
  if (b >= list.count / kBlock) {  // the partial last block
    for (size_t i = 0; i < list.tail.size(); ++i) labels[i] = list.tail[i].label;
    return list.tail.size();
  }
  const uint8_t* p = list.packed.data() + list.blocks[b].offset;
  uint32_t first;
  std::memcpy(&first, p + 2, sizeof first);
  kUnpack[p[0]](p + kPackedHeader, labels);
  for (size_t i = 0; i < kBlock; ++i) labels[i] += first;
  return kBlock;
}

void LexicalIndex::block_tfs(const TermList& list, size_t b, uint32_t* tfs) {
  if (b >= list.count / kBlock) {
    for (size_t i = 0; i < list.tail.size(); ++i) tfs[i] = list.tail[i].tf;
    return;
  }
  const uint8_t* p = list.packed.data() + list.blocks[b].offset;
  kUnpack[p[1]](p + kPackedHeader + kBlock * p[0] / 8, tfs);
  for (size_t i = 0; i < kBlock; ++i) tfs[i] += 1;
}

std::vector<LexicalIndex::Posting> LexicalIndex::unpack_all(const TermList& list) {
  std::vector<Posting> out;
  out.reserve(list.count);
  std::array<uint32_t, kBlock> labels, tfs;
  for (size_t b = 0; b < list.blocks.size(); ++b) {
    const size_t n = block_labels(list, b, labels.data());
    block_tfs(list, b, tfs.data());
    for (size_t i = 0; i < n; ++i) out.push_back({labels[i], tfs[i]});
  }
  return out;
}

void LexicalIndex::repack(TermList& list, std::span<const Posting> postings) const {
  TermList fresh;
  fresh.df = list.df;
  fresh.max_tf = list.max_tf;
  fresh.min_length = list.min_length;
  for (const Posting& p : postings) {
    if (fresh.count % kBlock == 0) fresh.blocks.push_back(Block{p.label});
    fresh.tail.push_back(p);
    ++fresh.count;
    if (fresh.tail.size() == kBlock) pack_tail(fresh);
  }
  list = std::move(fresh);
  (void)rebuild_blocks(list);  // sorted, and every label has a length
}

void LexicalIndex::append(TermList& list, uint32_t label, uint32_t tf, uint32_t length) {
  if (list.df == 0) ++live_terms_;
  ++list.df;
  list.max_tf = std::max(list.max_tf, tf);
  list.min_length = std::min(list.min_length, std::max<uint32_t>(length, 1));
  if (list.count > 0 && list.blocks.back().last >= label) {
    // Out of order (never from the store): keep the list sorted anyway.
    std::vector<Posting> p = unpack_all(list);
    auto it = std::lower_bound(p.begin(), p.end(), label,
                               [](const Posting& x, uint32_t l) { return x.label < l; });
    if (it != p.end() && it->label == label) {
      it->tf = tf;
      --list.df;
    } else {
      p.insert(it, {label, tf});
    }
    repack(list, p);
    return;
  }
  const uint32_t l = std::max<uint32_t>(length, 1);
  if (list.count % kBlock == 0) list.blocks.push_back(Block{label});
  Block& blk = list.blocks.back();
  blk.last = label;
  blk.note(tf, l);
  list.tail.push_back({label, tf});
  ++list.count;
  if (list.tail.size() == kBlock) pack_tail(list);
}

void LexicalIndex::Block::note(uint32_t tf_in, uint32_t length_in) {
  if (tf_in == 0) return;
  const auto t = static_cast<uint16_t>(std::min<uint32_t>(tf_in, UINT16_MAX));
  const auto l = static_cast<uint16_t>(std::clamp<uint32_t>(length_in, 1, UINT16_MAX));
  // Dominated by a kept pair: nothing changes. Pairs ascend in both tf and
  // length, so the first pair with a tf as large is the shortest of those.
  size_t n = 0;
  while (n < kPairs && tf[n] != 0 && tf[n] < t) ++n;
  if (n < kPairs && tf[n] != 0 && length[n] <= l) return;
  while (n < kPairs && tf[n] != 0) ++n;
  // Drop the pairs the new one dominates, and insert it in tf order (with
  // no pair dominating another, ascending tf means ascending length).
  std::array<uint16_t, kPairs + 1> nt{}, nl{};
  size_t m = 0;
  bool placed = false;
  for (size_t i = 0; i < n; ++i) {
    if (tf[i] <= t && length[i] >= l) continue;
    if (!placed && tf[i] > t) {
      nt[m] = t, nl[m] = l, ++m;
      placed = true;
    }
    nt[m] = tf[i], nl[m] = length[i], ++m;
  }
  if (!placed) nt[m] = t, nl[m] = l, ++m;
  if (m > kPairs) {
    // Merge the neighbours closest together (relative gaps in tf and length)
    // into the pair that covers both.
    size_t best = 0;
    double best_gap = 1e300;
    for (size_t i = 0; i + 1 < m; ++i) {
      const double gap = static_cast<double>(nt[i + 1] - nt[i]) / nt[i + 1] +
                         static_cast<double>(nl[i + 1] - nl[i]) / nl[i + 1];
      if (gap < best_gap) best_gap = gap, best = i;
    }
    nt[best] = nt[best + 1];  // the larger tf with the shorter length
    for (size_t i = best + 1; i + 1 < m; ++i) nt[i] = nt[i + 1], nl[i] = nl[i + 1];
    --m;
  }
  for (size_t i = 0; i < kPairs; ++i) {
    tf[i] = i < m ? nt[i] : 0;
    length[i] = i < m ? nl[i] : 0;
  }
}

bool LexicalIndex::rebuild_blocks(TermList& list) const {
  std::array<uint32_t, kBlock> labels, tfs;
  uint32_t previous = 0;
  for (size_t b = 0; b < list.blocks.size(); ++b) {
    const size_t n = block_labels(list, b, labels.data());
    block_tfs(list, b, tfs.data());
    for (size_t i = 0; i < n; ++i) {
      if (labels[i] >= length_.size() || ((b > 0 || i > 0) && labels[i] <= previous)) return false;
      previous = labels[i];
    }
    // Dead postings are never scored, so they do not count towards the
    // bound (a block of only dead postings bounds nothing).
    // The shortest chunk per small tf first, then only the candidates for
    // the frontier go through note(), largest tf first: a block of 128
    // postings has a handful of them.
    Block blk{labels[n - 1]};
    blk.offset = list.blocks[b].offset;
    constexpr uint32_t kSmallTf = 32;
    std::array<uint32_t, kSmallTf> shortest;
    shortest.fill(UINT32_MAX);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t len = labels[i] < length_.size() ? length_[labels[i]] : 0;
      if (len == 0) continue;
      if (tfs[i] < kSmallTf) shortest[tfs[i]] = std::min(shortest[tfs[i]], len);
      else blk.note(tfs[i], len);
    }
    uint32_t shorter_above = UINT32_MAX;  // shortest chunk with a larger tf
    for (uint32_t tf = kSmallTf; tf-- > 1;) {
      if (shortest[tf] >= shorter_above) continue;  // dominated
      blk.note(tf, shortest[tf]);
      shorter_above = shortest[tf];
    }
    list.blocks[b] = blk;
  }
  return true;
}

void LexicalIndex::add(uint32_t label, std::span<const TermFreq> terms, uint32_t length) {
  set_length(label, length);
  for (const auto& t : terms) append(list_for(t.term), label, t.tf, length);
}

void LexicalIndex::load_chunk(uint32_t label, std::span<const std::pair<std::string_view, uint32_t>> terms,
                              uint32_t length) {
  set_length(label, length);
  for (const auto& [term, tf] : terms) append(list_for(term), label, tf, length);
}

void LexicalIndex::compact(TermList& list) const {
  std::vector<Posting> p = unpack_all(list);
  const size_t before = p.size();
  p.erase(std::remove_if(p.begin(), p.end(),
                         [&](const Posting& x) { return x.label >= length_.size() || length_[x.label] == 0; }),
          p.end());
  if (p.size() != before) repack(list, p);
}

void LexicalIndex::remove(uint32_t label, std::span<const TermFreq> terms) {
  if (label >= length_.size() || length_[label] == 0) return;  // not live: nothing to undo
  total_length_ -= length_[label];
  length_[label] = 0;
  --live_;
  for (const auto& t : terms) {
    auto it = ids_.find(std::string_view(t.term));
    if (it == ids_.end()) continue;
    TermList& list = lists_[it->second];
    if (list.df == 0) continue;
    if (--list.df == 0) {
      --live_terms_;
      list = TermList{};  // frees the postings and resets the bounds
    } else if (list.count >= 64 && list.count - list.df > list.count / 2) {
      compact(list);
    }
  }
}

uint32_t LexicalIndex::first_at(const TermList& list, uint32_t label) {
  const auto& blocks = list.blocks;
  auto blk = std::lower_bound(blocks.begin(), blocks.end(), label,
                              [](const Block& b, uint32_t l) { return b.last < l; });
  if (blk == blocks.end()) return list.count;
  const auto b = static_cast<size_t>(blk - blocks.begin());
  std::array<uint32_t, kBlock> labels;
  const size_t n = block_labels(list, b, labels.data());
  return static_cast<uint32_t>(b * kBlock +
                               static_cast<size_t>(std::lower_bound(labels.data(), labels.data() + n, label) -
                                                   labels.data()));
}

LexicalIndex::Split LexicalIndex::split_point(std::span<const std::string> terms) const {
  Split split;
  size_t longest = 0;
  for (const auto& t : terms) {
    auto it = ids_.find(std::string_view(t));
    if (it == ids_.end()) continue;
    const TermList& list = lists_[it->second];
    split.postings += list.count;
    if (list.count > longest) {
      longest = list.count;
      std::array<uint32_t, kBlock> labels;
      const size_t middle = list.count / 2;
      block_labels(list, middle / kBlock, labels.data());
      split.label = labels[middle % kBlock];
    }
  }
  return split;
}

LexicalStats LexicalIndex::stats(std::span<const std::string> terms) const {
  LexicalStats out;
  out.chunks = live_;
  out.total_length = total_length_;
  for (const auto& t : terms) {
    auto it = ids_.find(std::string_view(t));
    out.df[t] = it == ids_.end() ? 0 : lists_[it->second].df;
  }
  return out;
}

// A place in one posting list: the posting at `pos` (its label in `label`)
// of the postings [.., end) a search covers. Each posting is read where it
// lies, from its packed block or from the partial last one.
struct LexicalIndex::Cursor {
  const TermList* list = nullptr;
  uint32_t pos = 0;
  uint32_t end = 0;
  uint32_t label = 0;  // of the posting at pos; meaningless once done()

  bool done() const { return pos == end; }
  void go(uint32_t p) {
    pos = p;
    if (p == end) return;
    const uint32_t b = p / kBlock;
    if (b != block_) enter(b);
    label = label_at(p % kBlock);
  }
  void next() { go(pos + 1); }
  uint32_t tf() const { return tf_at(pos % kBlock); }
  // One past the last posting of the block under pos, within the range.
  uint32_t block_end() const { return std::min(end, static_cast<uint32_t>((pos / kBlock + 1) * kBlock)); }
  // Posting i of the block under pos.
  uint32_t label_at(uint32_t i) const {
    return tail_ != nullptr ? tail_[i].label : first_ + packed_value(labels_, label_bits_, i);
  }
  uint32_t tf_at(uint32_t i) const {
    return tail_ != nullptr ? tail_[i].tf : packed_value(tfs_, tf_bits_, i) + 1;
  }

 private:
  void enter(uint32_t b) {
    block_ = b;
    if (b >= list->count / kBlock) {
      tail_ = list->tail.data();
      return;
    }
    tail_ = nullptr;
    const uint8_t* p = list->packed.data() + list->blocks[b].offset;
    label_bits_ = p[0];
    tf_bits_ = p[1];
    std::memcpy(&first_, p + 2, sizeof first_);
    labels_ = p + kPackedHeader;
    tfs_ = labels_ + kBlock * label_bits_ / 8;
  }
  uint32_t block_ = UINT32_MAX;  // the block under pos
  const Posting* tail_ = nullptr;  // it, when it is the partial last block
  const uint8_t* labels_ = nullptr;
  const uint8_t* tfs_ = nullptr;
  uint32_t label_bits_ = 0;
  uint32_t tf_bits_ = 0;
  uint32_t first_ = 0;
};

std::vector<LexicalHit> LexicalIndex::search(std::span<const std::string> terms, size_t k,
                                             Bm25Params params,
                                             const std::function<bool(uint32_t)>& accept,
                                             LabelRange range, const LexicalStats* corpus) const {
  std::vector<LexicalHit> hits;
  if (k == 0 || live_ == 0 || range.begin >= range.end) return hits;

  struct Term {
    Cursor c;
    const Block* blocks;
    size_t n_blocks;
    float weight;      // idf * (k1 + 1)
    float bound;       // upper bound of this term's contribution to any chunk
    uint32_t max_tf;   // the list's
    size_t order;      // position among the query's terms: the summation order
    size_t block = 0;  // block of the last shallow move (see block_bound)
    float block_ub = -1;  // bound of `block`, or -1 before it is computed
  };
  thread_local std::vector<Term> cur;
  thread_local std::vector<float> cum;  // cum[i] = bound[0] + ... + bound[i]
  thread_local std::vector<float> bcum;  // the same over the current blocks' bounds
  thread_local std::vector<float> contrib;  // by Term::order: this chunk's contributions
  thread_local std::vector<uint32_t> seen;
  cur.clear();
  seen.clear();

  const bool global = corpus != nullptr && corpus->chunks > 0;
  const double n = static_cast<double>(global ? corpus->chunks : live_);
  const float avgdl =
      static_cast<float>(static_cast<double>(global ? corpus->total_length : total_length_) / n);
  const float k1 = params.k1;
  const float b = params.b;
  // Score rises with tf and falls with length: the largest tf and the
  // shortest chunk of a list (or block) bound each of its postings. The
  // margin covers float rounding in the different summation orders.
  auto bound_of = [&](float weight, uint32_t max_tf, uint32_t min_length) {
    if (max_tf == 0 || min_length == UINT32_MAX) return 0.0f;
    const auto tf = static_cast<float>(max_tf);
    const float norm = k1 * (1.0f - b + b * static_cast<float>(min_length) / avgdl);
    return weight * tf / (tf + norm) * 1.0001f + 1e-6f;
  };
  for (const auto& t : terms) {
    auto it = ids_.find(std::string_view(t));
    if (it == ids_.end()) continue;
    if (std::find(seen.begin(), seen.end(), it->second) != seen.end()) continue;
    seen.push_back(it->second);
    const TermList& list = lists_[it->second];
    if (list.df == 0) continue;
    double df = static_cast<double>(list.df);
    if (global) {
      if (auto g = corpus->df.find(t); g != corpus->df.end() && g->second > 0) df = static_cast<double>(g->second);
    }
    const auto idf = static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)));
    const float weight = idf * (k1 + 1.0f);
    const float bound = bound_of(weight, list.max_tf, list.min_length);
    const uint32_t from = range.begin == 0 ? 0 : first_at(list, range.begin);
    const uint32_t to = range.end == UINT32_MAX ? list.count : first_at(list, range.end);
    if (from == to) continue;  // nothing in the range
    Term term{{}, list.blocks.data(), list.blocks.size(), weight, bound, list.max_tf, cur.size()};
    term.c.list = &list;
    term.c.end = to;
    term.c.go(from);
    cur.push_back(term);
  }
  if (cur.empty()) return hits;
  std::sort(cur.begin(), cur.end(), [](const Term& x, const Term& y) { return x.bound < y.bound; });
  const size_t m = cur.size();
  cum.resize(m);
  bcum.resize(m);
  contrib.assign(m, 0.0f);
  float sum = 0;
  for (size_t i = 0; i < m; ++i) cum[i] = sum += cur[i].bound;

  // The bound of t's postings with labels in [doc, *last]: those of the
  // first block that ends at or after doc (0 and no limit past the list's
  // end). Moves only forward; doc never decreases.
  auto block_bound = [&](Term& t, uint32_t doc, uint32_t* last) {
    if (t.c.done()) return 0.0f;  // no posting left in the range
    size_t j = std::max(t.block, static_cast<size_t>(t.c.pos / kBlock));
    while (j < t.n_blocks && t.blocks[j].last < doc) ++j;
    if (j == t.n_blocks) {
      t.block = j;
      return 0.0f;
    }
    if (j != t.block || t.block_ub < 0) {
      t.block = j;
      const Block& blk = t.blocks[j];
      float ub = 0;
      for (size_t c = 0; c < kPairs && blk.tf[c] != 0; ++c) {
        const uint32_t tf = blk.tf[c] == UINT16_MAX ? std::max<uint32_t>(t.max_tf, UINT16_MAX) : blk.tf[c];
        ub = std::max(ub, bound_of(t.weight, tf, blk.length[c]));
      }
      t.block_ub = ub;
    }
    *last = std::min(*last, t.blocks[j].last);
    return t.block_ub;
  };
  // Moves t to its first posting with a label >= target, block by block.
  auto advance = [](Term& t, uint32_t target) {
    Cursor& c = t.c;
    if (c.done() || c.label >= target) return;
    // In a dense list the target is mostly a few postings on: a short scan
    // of the block in hand costs less than a search.
    const uint32_t near_end = std::min(c.block_end(), c.pos + 8);
    for (uint32_t p = c.pos + 1; p < near_end; ++p) {
      if (c.label_at(p % kBlock) >= target) {
        c.go(p);
        return;
      }
    }
    size_t j = c.pos / kBlock;
    while (j < t.n_blocks && t.blocks[j].last < target) ++j;
    if (j == t.n_blocks) {
      c.go(c.end);
      return;
    }
    const uint32_t lo = std::max(c.pos, static_cast<uint32_t>(j * kBlock));
    const uint32_t hi = std::min(c.end, static_cast<uint32_t>((j + 1) * kBlock));
    if (lo >= hi) {  // that block starts past the range's end
      c.go(c.end);
      return;
    }
    c.go(lo);
    // The first posting of [lo, hi) with a label >= target (hi if none).
    uint32_t first = lo % kBlock, count = hi - lo;
    while (count > 0) {
      const uint32_t half = count / 2;
      if (c.label_at(first + half) < target) {
        first += half + 1;
        count -= half + 1;
      } else {
        count = half;
      }
    }
    c.go(static_cast<uint32_t>(j * kBlock + first));
  };

  // Min-heap of the best k accepted so far: the front is the worst of them.
  auto worse_first = [](const LexicalHit& x, const LexicalHit& y) {
    return x.score != y.score ? x.score > y.score : x.label < y.label;
  };
  hits.reserve(k + 1);
  float threshold = -std::numeric_limits<float>::infinity();
  size_t essential = 0;  // lists [0, essential) cannot make a chunk competitive alone
  const uint32_t* lengths = length_.data();
  const size_t n_lengths = length_.size();

  for (;;) {
    uint32_t doc = UINT32_MAX;
    for (size_t i = essential; i < m; ++i) {
      if (!cur[i].c.done()) doc = std::min(doc, cur[i].c.label);
    }
    if (doc == UINT32_MAX) break;
    if (hits.size() == k) {
      // Block-max check: every chunk in [doc, last] scores at most the sum
      // of the blocks' bounds. If that cannot beat the k-th best (a tie
      // loses: these labels come later), skip the stretch.
      uint32_t last = UINT32_MAX;
      float ub = 0;
      // Failing that, the same sum over the lists with a posting at or
      // before doc only, for the stretch before the next posting of every
      // other list, since those add nothing there. A rare term's block spans
      // a wide stretch of labels with few postings in it, so its bound alone
      // would keep a common term's blocks from ever being skipped.
      uint32_t near = UINT32_MAX;
      float near_ub = 0;
      for (size_t i = 0; i < m; ++i) {
        Term& t = cur[i];
        uint32_t block_last = UINT32_MAX;
        const float bound = block_bound(t, doc, &block_last);
        bcum[i] = ub += bound;
        last = std::min(last, block_last);
        if (!t.c.done() && t.c.label > doc) {
          near = std::min(near, t.c.label - 1);
        } else {
          near_ub += bound;
          near = std::min(near, block_last);
        }
      }
      if (ub > threshold && near_ub <= threshold) {
        ub = near_ub;
        last = near;
      }
      if (ub <= threshold) {
        if (last == UINT32_MAX) break;
        for (size_t i = essential; i < m; ++i) advance(cur[i], last + 1);
        continue;
      }
      if (essential + 1 == m) {
        // One essential list: within [doc, last] the other lists' block
        // bounds stay the same, so the chunks that this list cannot make
        // competitive are passed over here in a tight loop, block by block,
        // with the test (and the floats) of the path below.
        Cursor& c = cur[essential].c;
        const float weight = cur[essential].weight;
        const float rest = essential > 0 ? std::min(cum[essential - 1], bcum[essential - 1]) : 0.0f;
        const uint32_t start = c.pos;
        bool found = false;
        while (!found && !c.done() && c.label <= last) {
          const uint32_t block_end = c.block_end();
          uint32_t p = c.pos;
          for (; p < block_end; ++p) {
            const uint32_t label = c.label_at(p % kBlock);
            if (label > last) break;
            const uint32_t len = label < n_lengths ? lengths[label] : 0;
            if (len == 0) continue;  // removed
            const auto tf = static_cast<float>(c.tf_at(p % kBlock));
            const float norm = k1 * (1.0f - b + b * static_cast<float>(len) / avgdl);
            const float score = weight * tf / (tf + norm);
            if (essential > 0 ? !(score + rest <= threshold) : score > threshold) {
              found = true;
              break;
            }
          }
          c.go(p);
        }
        if (c.pos != start) continue;
      }
    }
    const uint32_t len = doc < n_lengths ? lengths[doc] : 0;
    float score = 0;
    const float norm = k1 * (1.0f - b + b * static_cast<float>(len) / avgdl);
    for (size_t i = essential; i < m; ++i) {
      Term& t = cur[i];
      if (!t.c.done() && t.c.label == doc) {
        const auto tf = static_cast<float>(t.c.tf());
        const float c = t.weight * tf / (tf + norm);
        contrib[t.order] = c;
        score += c;
        t.c.next();
      }
    }
    if (len == 0) {  // removed chunk, not yet compacted away
      std::fill(contrib.begin(), contrib.end(), 0.0f);
      continue;
    }
    bool competitive = true;
    for (size_t i = essential; i-- > 0;) {
      // With a full heap the current blocks bound the rest more tightly.
      const float rest = hits.size() == k ? std::min(cum[i], bcum[i]) : cum[i];
      if (score + rest <= threshold) {
        competitive = false;
        break;
      }
      Term& t = cur[i];
      advance(t, doc);
      if (!t.c.done() && t.c.label == doc) {
        const auto tf = static_cast<float>(t.c.tf());
        const float c = t.weight * tf / (tf + norm);
        contrib[t.order] = c;
        score += c;
      }
    }
    if (competitive) {
      // The score proper: summed in the query's term order.
      score = 0;
      for (size_t i = 0; i < m; ++i) score += contrib[i];
    }
    std::fill(contrib.begin(), contrib.end(), 0.0f);
    if (!competitive || (hits.size() == k && !(score > threshold))) continue;
    if (accept && !accept(doc)) continue;
    hits.push_back({doc, score});
    std::push_heap(hits.begin(), hits.end(), worse_first);
    if (hits.size() > k) {
      std::pop_heap(hits.begin(), hits.end(), worse_first);
      hits.pop_back();
    }
    if (hits.size() == k) {
      threshold = hits.front().score;
      while (essential < m && cum[essential] <= threshold) ++essential;
      if (essential == m) break;
    }
  }
  std::sort_heap(hits.begin(), hits.end(), worse_first);
  return hits;
}

namespace {

// Format 2 keeps the lists packed as they are in memory; format 1 (every
// posting as two 32-bit numbers) is read as no snapshot: the store rebuilds
// the index from RocksDB and writes format 2 at its next snapshot.
constexpr std::string_view kLexMagic = "RAGD-LEX-SNAPSHOT-2";
constexpr std::string_view kLexMagicFormat1 = "RAGD-LEX-SNAPSHOT-1";

// Writes and reads the snapshot in pieces, hashing every piece as it goes,
// so writer and reader compute the checksum over the same sequence.
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

class SnapshotWriter {
 public:
  explicit SnapshotWriter(std::FILE* f) : f_(f) {}
  void raw(const void* p, size_t n) {
    if (n == 0) return;
    hash_.bytes(p, n);
    ok_ = ok_ && std::fwrite(p, 1, n, f_) == n;
  }
  template <typename T>
  void pod(const T& v) { raw(&v, sizeof v); }
  void finish() {
    const uint64_t h = hash_.digest();
    ok_ = ok_ && std::fwrite(&h, 1, sizeof h, f_) == sizeof h;
  }
  bool ok() const { return ok_; }

 private:
  std::FILE* f_;
  codec::Hasher hash_;
  bool ok_ = true;
};

class SnapshotReader {
 public:
  SnapshotReader(std::FILE* f, uint64_t size) : f_(f), left_(size) {}
  bool raw(void* p, size_t n) {
    if (n == 0) return true;
    if (n > left_ || std::fread(p, 1, n, f_) != n) return false;
    left_ -= n;
    hash_.bytes(p, n);
    return true;
  }
  template <typename T>
  bool pod(T& v) { return raw(&v, sizeof v); }
  uint64_t left() const { return left_; }
  // The trailing checksum matches and nothing follows it.
  bool finish() {
    uint64_t h = 0;
    if (left_ != sizeof h || std::fread(&h, 1, sizeof h, f_) != sizeof h) return false;
    return h == hash_.digest();
  }

 private:
  std::FILE* f_;
  uint64_t left_;
  codec::Hasher hash_;
};

}  // namespace

Status LexicalIndex::save(const std::filesystem::path& file, uint64_t next_label) const {
  const std::filesystem::path tmp = file.string() + ".tmp";
  {
    File f(std::fopen(tmp.c_str(), "wb"));
    if (!f) return file_write_error("lexical snapshot: creating " + tmp.string(), errno);
    std::vector<char> buf(1 << 20);
    std::setvbuf(f.get(), buf.data(), _IOFBF, buf.size());
    SnapshotWriter w(f.get());
    const uint64_t magic_len = kLexMagic.size();
    w.pod(magic_len);
    w.raw(kLexMagic.data(), kLexMagic.size());
    w.pod(next_label);
    const uint64_t n_lengths = length_.size();
    w.pod(n_lengths);
    w.raw(length_.data(), length_.size() * sizeof(uint32_t));
    uint64_t n_terms = 0;
    for (const auto& l : lists_) n_terms += l.df > 0;
    w.pod(n_terms);
    for (const auto& [term, id] : ids_) {
      const TermList& l = lists_[id];
      if (l.df == 0) continue;
      const auto len = static_cast<uint32_t>(term.size());
      w.pod(len);
      w.raw(term.data(), term.size());
      w.pod(l.df);
      w.pod(l.max_tf);
      w.pod(l.min_length);
      w.pod(l.count);
      const uint64_t packed = l.packed.empty() ? 0 : l.packed.size() - kSlack;
      w.pod(packed);
      w.raw(l.packed.data(), packed);
      w.raw(l.tail.data(), l.tail.size() * sizeof(Posting));
    }
    w.finish();
    if (!w.ok() || std::fflush(f.get()) != 0) {
      const int err = errno;
      return file_write_error("lexical snapshot: writing " + tmp.string(), err);
    }
  }
  RAGD_RETURN_IF_ERROR(fsync_path(tmp, false));
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) return Status::io_error("lexical snapshot: renaming " + tmp.string() + ": " + ec.message());
  return fsync_path(file.parent_path(), true);
}

Result<uint64_t> LexicalIndex::load(const std::filesystem::path& file) {
  try {
    return load_snapshot(file);
  } catch (const std::bad_alloc&) {
    // Counts that pass every check against the file's size and still do
    // not fit in memory (a huge sparse file).
    *this = LexicalIndex{};
    return Status::corruption("lexical snapshot " + file.string() + ": does not fit in memory");
  }
}

Result<uint64_t> LexicalIndex::load_snapshot(const std::filesystem::path& file) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(file, ec);
  if (ec) return Status::not_found("no lexical snapshot " + file.string());
  File f(std::fopen(file.c_str(), "rb"));
  if (!f) return Status::not_found("cannot open " + file.string());
  auto corrupt = [&](const std::string& why) {
    // The arena outlives the reset: the lists it releases (and the one being
    // read, a local of this function) give their storage back to it.
    std::unique_ptr<PostingArena> arena = std::move(arena_);
    *this = LexicalIndex{};
    arena_ = std::move(arena);
    if (arena_) arena_->freeze();
    return Status::corruption("lexical snapshot " + file.string() + ": " + why);
  };
  if (size < sizeof(uint64_t)) return corrupt("truncated");
  SnapshotReader r(f.get(), size);
  uint64_t magic_len = 0;
  if (!r.pod(magic_len) || magic_len != kLexMagic.size()) return corrupt("bad magic");
  std::string magic(kLexMagic.size(), '\0');
  if (!r.raw(magic.data(), magic.size())) return corrupt("bad magic");
  if (magic == kLexMagicFormat1) return corrupt("an earlier format (unpacked postings)");
  if (magic != kLexMagic) return corrupt("bad magic");
  uint64_t next_label = 0, n_lengths = 0, n_terms = 0;
  if (!r.pod(next_label) || !r.pod(n_lengths) || n_lengths > r.left() / sizeof(uint32_t)) {
    return corrupt("truncated lengths");
  }
  length_.resize(n_lengths);
  if (!r.raw(length_.data(), n_lengths * sizeof(uint32_t))) return corrupt("truncated lengths");
  for (uint32_t len : length_) {
    if (len == 0) continue;
    ++live_;
    total_length_ += len;
  }
  // A term's record takes at least 28 bytes (its lengths and counts).
  if (!r.pod(n_terms) || n_terms > r.left() / 28) return corrupt("bad term count");
  // Every posting that follows fits in what is left of the file.
  arena_ = PostingArena::map(r.left());
  lists_.reserve(n_terms);
  ids_.reserve(n_terms);
  std::string term;
  for (uint64_t i = 0; i < n_terms; ++i) {
    uint32_t len = 0;
    if (!r.pod(len) || len > r.left()) return corrupt("truncated term");
    term.resize(len);
    TermList l(arena_.get());
    uint64_t packed = 0;
    if (!r.raw(term.data(), len) || !r.pod(l.df) || !r.pod(l.max_tf) || !r.pod(l.min_length) || !r.pod(l.count) ||
        !r.pod(packed) || packed > r.left() || packed > UINT32_MAX || l.df == 0 || l.df > l.count) {
      return corrupt("truncated term list");
    }
    const size_t full = l.count / kBlock;
    if (full * kPackedHeader > packed) return corrupt("truncated postings");
    l.packed.resize(packed + kSlack);  // from the arena, not zeroed
    if (!r.raw(l.packed.data(), packed)) return corrupt("truncated postings");
    std::fill(l.packed.end() - kSlack, l.packed.end(), uint8_t{0});
    // The blocks' places, from their widths: every one must fit.
    l.blocks.reserve(full + 1);
    uint64_t offset = 0;
    for (size_t blk = 0; blk < full; ++blk) {
      if (packed - offset < kPackedHeader) return corrupt("truncated postings");
      const uint32_t label_bits = l.packed[offset], tf_bits = l.packed[offset + 1];
      if (label_bits > 32 || tf_bits > 32) return corrupt("bad block widths");
      const uint64_t bytes = packed_bytes(label_bits, tf_bits);
      if (packed - offset < bytes) return corrupt("truncated postings");
      l.blocks.push_back(Block{0});
      l.blocks.back().offset = static_cast<uint32_t>(offset);
      offset += bytes;
    }
    if (offset != packed) return corrupt("postings do not fill their blocks");
    const size_t tail = l.count % kBlock;
    l.tail.resize(tail);  // from the arena, not zeroed
    if (!r.raw(l.tail.data(), tail * sizeof(Posting))) return corrupt("truncated postings");
    if (tail > 0) l.blocks.push_back(Block{0});
    if (!ids_.emplace(term, static_cast<uint32_t>(lists_.size())).second) return corrupt("duplicate term");
    // Labels ascend through the whole list and name a chunk the lengths know.
    if (!rebuild_blocks(l)) return corrupt("postings out of order");
    lists_.push_back(std::move(l));
    ++live_terms_;
  }
  if (!r.finish()) return corrupt("checksum mismatch");
  if (arena_) arena_->freeze();
  return next_label;
}

size_t LexicalIndex::retain_live(const std::function<bool(uint32_t)>& live) {
  size_t dropped = 0;
  for (uint32_t label = 0; label < length_.size(); ++label) {
    if (length_[label] == 0 || live(label)) continue;
    total_length_ -= length_[label];
    length_[label] = 0;
    --live_;
    ++dropped;
  }
  if (dropped == 0) return 0;
  live_terms_ = 0;
  for (TermList& l : lists_) {
    compact(l);
    l.df = l.count;
    if (l.df == 0) {
      l = TermList{};
    } else {
      ++live_terms_;
    }
  }
  return dropped;
}

}  // namespace ragd
