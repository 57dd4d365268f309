#include "model/prefix_cache.h"

#include <algorithm>

namespace ragd {

PrefixCache::PrefixCache(PrefixCacheOptions options) : options_(options) {}

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
  // Copied outside the lock: the entry is immutable.
  if (!session.import_kv(best->kv, static_cast<int>(best->tokens.size()), static_cast<int>(best_n)).is_ok()) {
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

void PrefixCache::store(const DecoderSession& session, std::span<const int32_t> prompt) {
  const size_t block = static_cast<size_t>(std::max(1, options_.block));
  const size_t n = std::min(prompt.size(), static_cast<size_t>(session.n_past())) / block * block;
  if (n == 0) return;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : lru_) {
      if (e->kv_type == session.kv_type() && shared_blocks(e->tokens, prompt, n) == n) return;  // covered
    }
  }
  auto e = std::make_shared<Entry>();
  e->tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(n));
  e->kv_type = session.kv_type();
  e->kv = session.export_kv(static_cast<int>(n));
  const int64_t bytes = static_cast<int64_t>(e->kv.size() + e->tokens.size() * sizeof(int32_t));
  if (bytes > static_cast<int64_t>(options_.max_bytes)) return;
  std::lock_guard lock(mu_);
  // An entry this one extends is dropped (this one covers it).
  for (auto it = lru_.begin(); it != lru_.end();) {
    if ((*it)->kv_type == e->kv_type && (*it)->tokens.size() < n &&
        shared_blocks((*it)->tokens, e->tokens, n) == (*it)->tokens.size()) {
      stats_.bytes -= static_cast<int64_t>((*it)->kv.size() + (*it)->tokens.size() * sizeof(int32_t));
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
  lru_.push_front(std::move(e));
  stats_.bytes += bytes;
  while (stats_.bytes > static_cast<int64_t>(options_.max_bytes) && lru_.size() > 1) {
    const auto& old = lru_.back();
    stats_.bytes -= static_cast<int64_t>(old->kv.size() + old->tokens.size() * sizeof(int32_t));
    lru_.pop_back();
    ++stats_.evictions;
  }
  stats_.entries = static_cast<int64_t>(lru_.size());
}

void PrefixCache::clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  stats_.bytes = 0;
  stats_.entries = 0;
}

PrefixCacheStats PrefixCache::stats() const {
  std::lock_guard lock(mu_);
  PrefixCacheStats s = stats_;
  s.entries = static_cast<int64_t>(lru_.size());
  return s;
}

}  // namespace ragd
