// The shards' BM25 statistics as a coordinator last read them (phase 1 of
// a search, coordinator.cpp), each shard's tagged with the applied stream
// sequence of the replica that answered. A shard's statistics change only
// when a message is applied to it (its collection is written by its applier
// alone), so while a replica answers at the sequence the entry was read at,
// the entry is exact and the search skips phase 1 for that shard.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "index/store.h"

namespace ragd::cluster {

class StatsCache {
 public:
  explicit StatsCache(uint32_t shards) : entries_(shards) {}

  struct Hit {
    LexicalStats stats;
    uint64_t applied = 0;
  };
  // Shard s's statistics for `terms`, when every term is cached.
  std::optional<Hit> get(uint32_t s, std::span<const std::string> terms) {
    std::lock_guard lock(mu_);
    const Entry& e = entries_[s];
    if (!e.valid) return std::nullopt;
    Hit out;
    out.applied = e.applied;
    out.stats.chunks = e.chunks;
    out.stats.total_length = e.total_length;
    for (const auto& t : terms) {
      auto it = e.df.find(t);
      if (it == e.df.end()) return std::nullopt;
      out.stats.df[t] = it->second;
    }
    return out;
  }

  // Stores what a replica at sequence `applied` answered; an entry read at
  // another sequence is replaced.
  void put(uint32_t s, uint64_t applied, const LexicalStats& stats) {
    std::lock_guard lock(mu_);
    Entry& e = entries_[s];
    if (!e.valid || e.applied != applied || e.df.size() + stats.df.size() > kMaxTerms) e.df.clear();
    e.valid = true;
    e.applied = applied;
    e.chunks = stats.chunks;
    e.total_length = stats.total_length;
    for (const auto& [t, n] : stats.df) e.df[t] = n;
  }

  // Forgets shard s (a replica answered at another sequence).
  void drop(uint32_t s) {
    std::lock_guard lock(mu_);
    entries_[s] = Entry();
  }

 private:
  // Terms kept per shard before its entry starts over.
  static constexpr size_t kMaxTerms = 1 << 16;
  struct Entry {
    bool valid = false;
    uint64_t applied = 0;
    uint64_t chunks = 0, total_length = 0;
    std::unordered_map<std::string, uint64_t> df;
  };
  std::mutex mu_;
  std::vector<Entry> entries_;  // by shard; guarded by mu_
};

}  // namespace ragd::cluster
