// A prompt-prefix cache: the keys and values of prompt prefixes that earlier
// requests evaluated, copied into a new request's empty session so that only
// the rest of its prompt is evaluated.
//
// Prompts built from one template share their start (system prompt, chat
// template, the task's instructions), and questions about the same topic
// share passages after it. After a request, store() keeps the KV of its
// prompt up to the last whole block of `block` tokens; restore() finds the
// entry sharing the longest prefix with a new prompt, cut down to whole
// blocks and to at most prompt.size() - 1 (the last prompt token is always
// evaluated, for its logits), and copies that many positions into the
// session. Blocks match the generation's prompt chunks, so a restored
// session evaluates the rest in the same chunks as from scratch and gets
// the same numbers, bit for bit. A model whose numbers do not depend on how
// a prompt is cut (DecoderModel::chunk_invariant(): Q8_0 weights on AVX-512
// VNNI unless int8_prompts is set, or with exact_q8_0 on any CPU) gets
// blocks of one token from the answerer, so a prompt reuses everything up to
// its first differing token, with the same guarantee. A hit counts any
// reuse, however short (the template's first tokens); tokens_reused says
// how much was reused.
//
// Only prefixes are reused: a key holds its absolute position (RoPE), so a
// passage that recurs at another position cannot be copied from another
// prompt (see generate/README.md).
//
// Shared prefixes are kept once: an entry holds the keys and values of its
// own positions only, after the longest prefix it shares with an entry
// already cached (its parent), and a restore takes the chain of segments
// from the first entry on. Sixteen questions after the same ~330-token
// passages hold the passages once and ~20 positions each (about 16 MB for
// a SmolLM2-135M-shaped model), where whole copies filled the 64 MiB bound
// with eight of them.
//
// Restored prefixes are shared, not copied (PrefixCacheOptions::share): the
// session reads the positions from the entries' rows in place
// (DecoderSession::share_kv()) and holds a reference to the deepest entry
// whose own positions it reads, which keeps its chain alive. Sixteen
// arrivals after the same passages then read one copy of them (their
// attention reads the same rows in the same order, so the numbers are the
// copy's), and none of them copies ~10 MB into fresh pages of its cache
// first. Eviction and clear() drop the cache's reference only: an entry
// that sessions still read is freed when the last of them lets go of it
// (DecoderSession::reset()), and until then its bytes are not counted in
// `bytes` nor against max_bytes but in PrefixCacheStats::held_bytes: at
// most the chains the live sessions read (each entry once), no more than
// n_ctx positions per session. An f32 cache's session gets a copy all the
// same: its attention would gather shared rows into a buffer on every call
// (kv_cache.cpp).
//
// Bounded: entries are evicted least recently used first once they hold
// more than max_bytes, an entry that others extend only after them (so
// evicting frees its memory, once no session reads it).
//
// Thread safety: all methods may be called from many threads at once;
// entries are immutable (but for their count of cached children and their
// dropped mark, guarded by the lock) and read (shared or copied into a
// session) outside the lock. A clear() after a request read epoch() makes
// its store() keep nothing: its prompt may hold purged passages.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "model/llama.h"

namespace ragd {

struct PrefixCacheOptions {
  // Bytes of keys and values kept at most (23 KB per token for a
  // SmolLM2-135M-shaped model with an f16 cache). Default: 64 MiB.
  size_t max_bytes = size_t{64} << 20;
  // Granularity of reuse, in tokens: the prompt chunk. Default: 64.
  int block = 64;
  // restore() lets the session read the cached rows in place
  // (DecoderSession::share_kv()) instead of copying them into its cache.
  // Default: true.
  bool share = true;
};

struct PrefixCacheStats {
  int64_t hits = 0;           // restore() that reused at least one block
  int64_t misses = 0;         // restore() that reused nothing
  int64_t tokens_reused = 0;  // positions restored, all hits
  int64_t entries = 0;
  int64_t bytes = 0;
  int64_t evictions = 0;
  // Bytes of entries evicted or cleared that sessions still read (not in
  // `bytes`, nor bounded by max_bytes): freed when those sessions reset.
  int64_t held_bytes = 0;
};

class PrefixCache {
 public:
  explicit PrefixCache(PrefixCacheOptions options);

  // Gives `session` (which must be empty) the longest cached prefix of
  // `prompt`, shared or copied (PrefixCacheOptions::share); returns its
  // length (0 on a miss): evaluate prompt from there.
  int restore(DecoderSession& session, std::span<const int32_t> prompt);
  // Keeps the prefix of `prompt` that `session` has evaluated, in whole
  // blocks (nothing when it is shorter than a block or already cached).
  // With `since` (epoch() read before the request's passages were
  // retrieved), nothing is kept when clear() ran after it: the prompt may
  // hold a purged document's passages.
  void store(const DecoderSession& session, std::span<const int32_t> prompt,
             std::optional<uint64_t> since = std::nullopt);
  // Changes with every clear(). Values are drawn from one counter per
  // process, so no two caches (an old and a new model's) share one.
  uint64_t epoch() const;

  PrefixCacheStats stats() const;
  // Drops every entry (their tokens are the prompts' text: a purged
  // document's passages must not stay here) and moves epoch() on, so that
  // requests already under way store nothing. Sessions that restored from
  // an entry keep reading it (or the copy they took) until they are reset,
  // as a session holding the prompt would (its bytes in held_bytes); then
  // its memory is freed.
  void clear();
  const PrefixCacheOptions& options() const { return options_; }

 private:
  struct Entry {
    ~Entry();
    std::vector<int32_t> tokens;  // the whole prefix, positions [0, size)
    KvType kv_type;
    // Positions [0, base) are the parent's (the first `base` positions of
    // its chain); null when base is 0.
    std::shared_ptr<const Entry> parent;
    int base = 0;
    std::vector<uint8_t> kv;  // DecoderSession::export_kv(base, tokens.size())
    int64_t bytes() const { return static_cast<int64_t>(kv.size() + tokens.size() * sizeof(int32_t)); }
    mutable int children = 0;  // cached entries whose parent this is; guarded by mu_
    // Set when the cache drops the entry (guarded by mu_); from then on its
    // bytes are in *held until it is freed.
    mutable bool dropped = false;
    std::shared_ptr<std::atomic<int64_t>> held;
  };
  // Takes e out of the cache's accounting: its bytes go to held_ until the
  // last session reading it lets go. REQUIRES: mu_ held.
  void drop(const Entry& e);
  // Copies the first n positions of e's chain into the empty `session`.
  static Status copy_chain(const Entry& e, int n, DecoderSession& session);
  // Lets the empty `session` read the first n positions of e's chain.
  static Status share_chain(std::shared_ptr<const Entry> e, int n, DecoderSession& session);
  // Whole blocks of the common prefix of a and b, at most `limit`.
  size_t shared_blocks(std::span<const int32_t> a, std::span<const int32_t> b, size_t limit) const;

  const PrefixCacheOptions options_;
  mutable std::mutex mu_;
  std::list<std::shared_ptr<const Entry>> lru_;  // most recent first; guarded by mu_
  PrefixCacheStats stats_;                       // guarded by mu_
  uint64_t epoch_;                               // next_epoch() at start and at each clear(); guarded by mu_
  // Bytes of dropped entries still alive; shared with the entries, which
  // may outlive the cache (a session reading one).
  const std::shared_ptr<std::atomic<int64_t>> held_ = std::make_shared<std::atomic<int64_t>>(0);
};

}  // namespace ragd
