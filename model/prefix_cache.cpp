#include "model/prefix_cache.h"

#include <algorithm>

namespace ragd {

namespace {

// Epochs for every cache of the process (PrefixCache::epoch()).
uint64_t next_epoch() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace

PrefixCache::PrefixCache(PrefixCacheOptions options) : options_(options), epoch_(next_epoch()) {}

size_t PrefixCache::shared_blocks(std::span<const int32_t> a, std::span<const int32_t> b, size_t limit) const {
  const size_t n = std::min({a.size(), b.size(), limit});
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  const size_t block = static_cast<size_t>(std::max(1, options_.block));
  return i / block * block;
}

int PrefixCache::restore(DecoderSession& session, std::span<const int32_t> prompt) {
  if (prompt.size() < 2 || session.n_past() != 0) return 0;
  const size_t limit = std::min(prompt.size() - 1, static_cast<size_t>(session.n_ctx()));
  std::shared_ptr<const Entry> best;
  size_t best_n = 0;
  {
    std::lock_guard lock(mu_);
    auto best_it = lru_.end();
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      if ((*it)->kv_type != session.kv_type()) continue;
      const size_t n = shared_blocks((*it)->tokens, prompt, limit);
      if (n > best_n) {
        best_n = n;
        best_it = it;
      }
    }
    if (best_n == 0) {
      ++stats_.misses;
      return 0;
    }
    best = *best_it;
    lru_.splice(lru_.begin(), lru_, best_it);  // most recently used
  }
  // Outside the lock: the entries are immutable. An f32 cache copies: its
  // attention reads f32 rows in place only from one contiguous cache, and
  // would gather shared rows into a buffer on every call.
  const bool share = options_.share && session.kv_type() == KvType::kF16;
  const Status st = share ? share_chain(best, static_cast<int>(best_n), session)
                          : copy_chain(*best, static_cast<int>(best_n), session);
  if (!st.is_ok()) {
    session.reset();
    std::lock_guard lock(mu_);
    ++stats_.misses;
    return 0;
  }
  std::lock_guard lock(mu_);
  ++stats_.hits;
  stats_.tokens_reused += static_cast<int64_t>(best_n);
  return static_cast<int>(best_n);
}

Status PrefixCache::copy_chain(const Entry& e, int n, DecoderSession& session) {
  // The segments, last first: each entry gives [base, upto) of the prefix.
  std::vector<std::pair<const Entry*, int>> segments;
  for (const Entry* at = &e; at != nullptr && n > 0; at = at->parent.get()) {
    if (n > at->base) segments.emplace_back(at, n);
    n = std::min(n, at->base);
  }
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    const Entry& seg = *it->first;
    const int own = static_cast<int>(seg.tokens.size()) - seg.base;
    if (session.n_past() != seg.base) return Status::internal("prefix cache: a segment does not follow its parent");
    RAGD_RETURN_IF_ERROR(session.append_kv(seg.kv, own, it->second - seg.base));
  }
  return Status::ok();
}

Status PrefixCache::share_chain(std::shared_ptr<const Entry> e, int n, DecoderSession& session) {
  // The owner is the deepest entry whose own rows are read: an entry that
  // matched only within its parent's positions would keep itself (another
  // request's tokens) and its rows alive for nothing.
  while (e && n <= e->base) e = e->parent;
  std::vector<SharedKvRows> parts;  // last first
  for (const Entry* at = e.get(); at != nullptr && n > 0; at = at->parent.get()) {
    if (n > at->base) {
      parts.push_back({at->kv, static_cast<int>(at->tokens.size()) - at->base, at->base, n});
    }
    n = std::min(n, at->base);
  }
  std::reverse(parts.begin(), parts.end());
  return session.share_kv(std::move(e), parts);
}

PrefixCache::Entry::~Entry() {
  // dropped is written under the cache's lock before the cache lets go of
  // its reference, so whichever thread frees the entry sees it.
  if (dropped) held->fetch_sub(bytes(), std::memory_order_relaxed);
}

void PrefixCache::drop(const Entry& e) {
  e.dropped = true;
  held_->fetch_add(e.bytes(), std::memory_order_relaxed);
}

uint64_t PrefixCache::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}

void PrefixCache::store(const DecoderSession& session, std::span<const int32_t> prompt,
                        std::optional<uint64_t> since) {
  const size_t block = static_cast<size_t>(std::max(1, options_.block));
  const size_t n = std::min(prompt.size(), static_cast<size_t>(session.n_past())) / block * block;
  if (n == 0) return;
  // The entry sharing the most whole blocks becomes the parent; nothing is
  // stored when one already covers the prefix.
  std::shared_ptr<const Entry> parent;
  size_t shared = 0;
  {
    std::lock_guard lock(mu_);
    if (since && *since != epoch_) return;
    for (const auto& e : lru_) {
      if (e->kv_type != session.kv_type()) continue;
      const size_t k = shared_blocks(e->tokens, prompt, n);
      if (k == n) return;  // covered
      if (k > shared) {
        shared = k;
        parent = e;
      }
    }
  }
  auto e = std::make_shared<Entry>();
  e->tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(n));
  e->kv_type = session.kv_type();
  e->base = static_cast<int>(shared);
  if (shared > 0) e->parent = parent;
  e->kv = session.export_kv(e->base, static_cast<int>(n));
  e->held = held_;
  const int64_t bytes = e->bytes();
  if (bytes > static_cast<int64_t>(options_.max_bytes)) return;
  std::lock_guard lock(mu_);
  // A clear() since the request began (a purge): the prompt may hold what
  // it purged.
  if (since && *since != epoch_) return;
  // The parent may have been evicted meanwhile: then this entry would hold
  // memory the bound does not count.
  if (e->parent && std::find(lru_.begin(), lru_.end(), e->parent) == lru_.end()) return;
  if (e->parent) ++e->parent->children;
  lru_.push_front(std::move(e));
  stats_.bytes += bytes;
  // Least recently used first, among the entries no other extends (the
  // newest, at the front, last).
  while (stats_.bytes > static_cast<int64_t>(options_.max_bytes)) {
    auto victim = lru_.end();
    for (auto it = lru_.end(); it != lru_.begin();) {
      --it;
      if ((*it)->children == 0) {
        victim = it;
        break;
      }
    }
    if (victim == lru_.end()) break;
    if ((*victim)->parent) --(*victim)->parent->children;
    stats_.bytes -= (*victim)->bytes();
    drop(**victim);
    lru_.erase(victim);
    ++stats_.evictions;
  }
  stats_.entries = static_cast<int64_t>(lru_.size());
}

void PrefixCache::clear() {
  std::lock_guard lock(mu_);
  epoch_ = next_epoch();
  for (const auto& e : lru_) drop(*e);
  lru_.clear();
  stats_.bytes = 0;
  stats_.entries = 0;
}

PrefixCacheStats PrefixCache::stats() const {
  std::lock_guard lock(mu_);
  PrefixCacheStats s = stats_;
  s.entries = static_cast<int64_t>(lru_.size());
  s.held_bytes = held_->load(std::memory_order_relaxed);
  return s;
}

}  // namespace ragd
