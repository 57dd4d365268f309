#include "cluster/rebalance.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "auth/crypto.h"
#include "cluster/etcd.h"

namespace ragd::cluster {
namespace {

using namespace std::chrono_literals;

bool holds(const ShardMap& map, const std::vector<ShardMove>& planned, uint32_t s, const std::string& node) {
  const auto& r = map.replicas[s];
  if (std::find(r.begin(), r.end(), node) != r.end()) return true;
  return std::any_of(planned.begin(), planned.end(),
                     [&](const ShardMove& m) { return m.shard == s && m.to == node; });
}

bool leaving(const std::vector<ShardMove>& planned, uint32_t s, const std::string& node) {
  return std::any_of(planned.begin(), planned.end(),
                     [&](const ShardMove& m) { return m.shard == s && m.from == node; });
}

std::string describe(const ShardMove& m) {
  return "shard " + std::to_string(m.shard) + ": " + (m.from.empty() ? "(new)" : m.from) + " -> " + m.to;
}

}  // namespace

Result<std::vector<ShardMove>> plan_moves(const ShardMap& map, const std::set<std::string>& live,
                                          const std::set<std::string>& drain) {
  std::map<std::string, size_t> load;  // the targets' replica counts, as planned so far
  for (const auto& n : live) {
    if (!drain.count(n)) load[n] = 0;
  }
  if (load.empty()) return Status::failed_precondition("no live node left to hold the shards");
  for (const auto& replicas : map.replicas) {
    for (const auto& n : replicas) {
      if (auto it = load.find(n); it != load.end()) ++it->second;
    }
  }
  std::vector<ShardMove> planned;
  auto move = [&](uint32_t s, const std::string& from, const std::string& to) {
    planned.push_back({s, from, to, ""});
    ++load[to];
    if (auto it = load.find(from); it != load.end()) --it->second;
  };
  // The least loaded target without shard s (lower id on ties); "" if none.
  auto lightest_without = [&](uint32_t s) {
    std::string best;
    for (const auto& [n, c] : load) {
      if (!holds(map, planned, s, n) && (best.empty() || c < load[best])) best = n;
    }
    return best;
  };
  // 1. Empty the drained nodes.
  for (uint32_t s = 0; s < map.replicas.size(); ++s) {
    for (const auto& n : map.replicas[s]) {
      if (!drain.count(n)) continue;
      const std::string to = lightest_without(s);
      if (to.empty()) {
        return Status::failed_precondition("shard " + std::to_string(s) + " cannot leave " + n +
                                           ": every live node left already holds it");
      }
      move(s, n, to);
    }
  }
  // 2. Even out: the heaviest pair first, one replica at a time.
  for (size_t guard = 0; guard < 64 * map.replicas.size() + 64; ++guard) {
    std::vector<std::pair<std::string, size_t>> order(load.begin(), load.end());
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    bool moved = false;
    for (size_t h = 0; h < order.size() && !moved; ++h) {
      for (size_t l = order.size(); l-- > h + 1 && !moved;) {
        const auto& [hi, hi_n] = order[h];
        const auto& [lo, lo_n] = order[l];
        if (hi_n < lo_n + 2) continue;
        for (uint32_t s = 0; s < map.replicas.size(); ++s) {
          if (!holds(map, planned, s, hi) || leaving(planned, s, hi) || holds(map, planned, s, lo)) continue;
          // A replica planned to come to `hi` goes straight to `lo` instead.
          auto earlier = std::find_if(planned.begin(), planned.end(),
                                      [&](const ShardMove& m) { return m.shard == s && m.to == hi; });
          const std::string to = lo, from = hi;
          if (earlier != planned.end()) {
            earlier->to = to;
            --load[from];
            ++load[to];
          } else {
            move(s, from, to);
          }
          moved = true;
          break;
        }
      }
    }
    if (!moved) break;
  }
  return planned;
}

ShardMap switch_moves(const ShardMap& map, const std::set<std::string>& ready) {
  ShardMap out = map;
  out.moves.clear();
  for (const ShardMove& m : map.moves) {
    if (!ready.count(m.id)) {
      out.moves.push_back(m);
      continue;
    }
    auto& r = out.replicas[m.shard];
    auto from = std::find(r.begin(), r.end(), m.from);
    if (std::find(r.begin(), r.end(), m.to) != r.end()) {
      if (from != r.end()) r.erase(from);
    } else if (from != r.end()) {
      *from = m.to;
    } else {
      r.push_back(m.to);
    }
  }
  return out;
}

Result<ShardMap> rebalance(const ClusterOptions& o, const RebalanceOptions& r) {
  auto say = [&](const std::string& line) {
    if (r.progress) r.progress(line);
  };
  Etcd etcd(o.etcd, 5);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(r.timeout_seconds);
  const std::string key = shard_map_key(o);

  // Plan (or resume, or cancel), as one compare-and-swap on the map's
  // revision; a map changed meanwhile is read again.
  for (int attempt = 0;; ++attempt) {
    RAGD_ASSIGN_OR_RETURN(ShardMap map, read_shard_map(etcd, o));
    if (r.cancel) {
      if (map.moves.empty()) {
        say("no moves pending");
        return map;
      }
      ShardMap next = map;
      next.moves.clear();
      RAGD_ASSIGN_OR_RETURN(bool swapped, etcd.put_if_revision(key, shard_map_to_json(next), map.revision));
      if (!swapped && attempt < 10) continue;
      if (!swapped) return Status::unavailable("the shard map keeps changing; try again");
      for (const auto& m : map.moves) say("cancelled " + describe(m));
      return read_shard_map(etcd, o);
    }
    if (!map.moves.empty()) {
      say("resuming " + std::to_string(map.moves.size()) + " pending move(s)");
      break;
    }
    RAGD_ASSIGN_OR_RETURN(auto nodes, read_live_nodes(etcd, o));
    std::set<std::string> live;
    for (const auto& [n, url] : nodes) live.insert(n);
    RAGD_ASSIGN_OR_RETURN(std::vector<ShardMove> plan,
                          plan_moves(map, live, std::set<std::string>(r.drain.begin(), r.drain.end())));
    if (plan.empty()) {
      say("balanced: nothing to move (shard map revision " + std::to_string(map.revision) + ")");
      return map;
    }
    for (ShardMove& m : plan) {
      RAGD_ASSIGN_OR_RETURN(std::string bytes, auth::random_bytes(8));
      m.id = auth::hex_encode(bytes);
      say((r.dry_run ? "would move " : "planned ") + describe(m));
    }
    if (r.dry_run) {
      map.moves = std::move(plan);
      return map;
    }
    ShardMap next = map;
    next.moves = std::move(plan);
    RAGD_ASSIGN_OR_RETURN(bool swapped, etcd.put_if_revision(key, shard_map_to_json(next), map.revision));
    if (swapped) break;
    if (attempt >= 10) return Status::unavailable("the shard map keeps changing; try again");
  }

  // Switch each move once its target is ready.
  for (;;) {
    RAGD_ASSIGN_OR_RETURN(ShardMap map, read_shard_map(etcd, o));
    if (map.moves.empty()) {
      say("done: shard map revision " + std::to_string(map.revision));
      return map;
    }
    RAGD_ASSIGN_OR_RETURN(EtcdRange ready_keys, etcd.range_prefix(etcd_prefix(o) + "ready/"));
    std::set<std::string> ready;
    for (const ShardMove& m : map.moves) {
      const std::string want = ready_key(o, m.shard, m.to);
      for (const auto& kv : ready_keys.kvs) {
        if (kv.key == want && kv.value == m.id) ready.insert(m.id);
      }
    }
    if (!ready.empty()) {
      RAGD_ASSIGN_OR_RETURN(bool swapped,
                            etcd.put_if_revision(key, shard_map_to_json(switch_moves(map, ready)), map.revision));
      if (swapped) {
        for (const ShardMove& m : map.moves) {
          if (!ready.count(m.id)) continue;
          say("switched " + describe(m) + "; " + m.from + " retires its copy in " +
              std::to_string(o.retire_grace_seconds) + " s");
          (void)etcd.remove(ready_key(o, m.shard, m.to));  // the node drops it too
        }
        continue;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string pending;
      for (const ShardMove& m : map.moves) pending += (pending.empty() ? "" : "; ") + describe(m);
      return Status::timeout("after " + std::to_string(r.timeout_seconds) +
                             " s these moves are still bootstrapping (they stay planned: run again to resume, or "
                             "--cancel): " + pending);
    }
    std::this_thread::sleep_for(250ms);
  }
}

}  // namespace ragd::cluster
