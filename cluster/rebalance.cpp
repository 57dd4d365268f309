#include "cluster/rebalance.h"

#include <algorithm>
#include <chrono>
#include <functional>
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

bool moving(const std::vector<ShardMove>& planned, uint32_t s) {
  return std::any_of(planned.begin(), planned.end(), [&](const ShardMove& m) { return m.shard == s; });
}

// Calls `call` until it answers or fails with something else than etcd
// being away for a moment (a member restarting), or `deadline` passes.
template <class F>
auto patiently(std::chrono::steady_clock::time_point deadline, F call) -> decltype(call()) {
  for (;;) {
    auto got = call();
    if (got.is_ok() || got.status().code() != StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline)
      return got;
    std::this_thread::sleep_for(250ms);
  }
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
  // 1. Empty the drained nodes (one replica of a shard per plan: a second
  // one on a drained node moves in the next round).
  for (uint32_t s = 0; s < map.replicas.size(); ++s) {
    for (const auto& n : map.replicas[s]) {
      if (!drain.count(n) || moving(planned, s)) continue;
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
          if (!holds(map, planned, s, hi) || holds(map, planned, s, lo)) continue;
          // A replica planned to come to `hi` goes straight to `lo` instead.
          auto earlier = std::find_if(planned.begin(), planned.end(),
                                      [&](const ShardMove& m) { return m.shard == s && m.to == hi; });
          const std::string to = lo, from = hi;
          if (earlier != planned.end()) {
            earlier->to = to;
            --load[from];
            ++load[to];
          } else if (!moving(planned, s)) {
            move(s, from, to);
          } else {
            continue;  // one move of a shard per plan
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
  Etcd etcd(o.etcd, 5, o.tls, o.etcd_auth);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(r.timeout_seconds);
  const std::string key = shard_map_key(o);
  const std::set<std::string> drain(r.drain.begin(), r.drain.end());
  auto read_map = [&] { return patiently(deadline, [&] { return read_shard_map(etcd, o); }); };
  auto swap_map = [&](const ShardMap& next, int64_t revision) {
    return patiently(deadline, [&] { return etcd.put_if_revision(key, shard_map_to_json(next), revision); });
  };
  auto read_live = [&]() -> Result<std::set<std::string>> {
    auto got = patiently(deadline, [&] { return read_live_nodes(etcd, o); });
    RAGD_ASSIGN_OR_RETURN(auto nodes, std::move(got));
    std::set<std::string> live;
    for (const auto& [n, url] : nodes) live.insert(n);
    return live;
  };

  RAGD_ASSIGN_OR_RETURN(ShardMap map, read_map());
  if (r.dry_run) {
    for (const auto& m : map.moves) say((r.cancel ? "would cancel " : "pending ") + describe(m));
    if (!map.moves.empty() || r.cancel) {
      if (map.moves.empty()) say("no moves pending");
      return map;
    }
    RAGD_ASSIGN_OR_RETURN(auto live, read_live());
    RAGD_ASSIGN_OR_RETURN(map.moves, plan_moves(map, live, drain));
    for (const auto& m : map.moves) say("would move " + describe(m));
    if (map.moves.empty()) say("balanced: nothing to move (shard map revision " + std::to_string(map.revision) + ")");
    return map;
  }
  if (r.cancel) {
    for (int attempt = 0; !map.moves.empty(); ++attempt) {
      ShardMap next = map;
      next.moves.clear();
      RAGD_ASSIGN_OR_RETURN(bool swapped, swap_map(next, map.revision));
      if (swapped) {
        for (const auto& m : map.moves) say("cancelled " + describe(m));
        return read_map();
      }
      if (attempt >= 10) return Status::unavailable("the shard map keeps changing; try again");
      RAGD_ASSIGN_OR_RETURN(map, read_map());
    }
    say("no moves pending");
    return map;
  }
  // Rounds: plan (at most one move per shard), then switch each move as its
  // target reports ready, until a plan comes out empty.
  for (int round = 0;; ++round) {
    RAGD_ASSIGN_OR_RETURN(map, read_map());
    if (!map.moves.empty()) {
      say("resuming " + std::to_string(map.moves.size()) + " pending move(s)");
    } else {
      RAGD_ASSIGN_OR_RETURN(auto live, read_live());
      RAGD_ASSIGN_OR_RETURN(std::vector<ShardMove> plan, plan_moves(map, live, drain));
      if (plan.empty()) {
        say(round == 0 ? "balanced: nothing to move (shard map revision " + std::to_string(map.revision) + ")"
                       : "done: shard map revision " + std::to_string(map.revision));
        return map;
      }
      for (ShardMove& m : plan) {
        RAGD_ASSIGN_OR_RETURN(std::string bytes, auth::random_bytes(8));
        m.id = auth::hex_encode(bytes);
      }
      ShardMap next = map;
      next.moves = plan;
      RAGD_ASSIGN_OR_RETURN(bool swapped, swap_map(next, map.revision));
      if (!swapped) continue;  // changed meanwhile: plan again
      for (const auto& m : plan) say("planned " + describe(m));
    }
    // Switch each move once its target is ready and live.
    for (;;) {
      RAGD_ASSIGN_OR_RETURN(map, read_map());
      if (map.moves.empty()) break;
      RAGD_ASSIGN_OR_RETURN(EtcdRange ready_keys,
                            patiently(deadline, [&] { return etcd.range_prefix(etcd_prefix(o) + "ready/"); }));
      RAGD_ASSIGN_OR_RETURN(auto live, read_live());
      std::set<std::string> ready;
      for (const ShardMove& m : map.moves) {
        const std::string want = ready_key(o, m.shard, m.to);
        for (const auto& kv : ready_keys.kvs) {
          if (kv.key == want && kv.value == m.id && live.count(m.to)) ready.insert(m.id);
        }
      }
      if (!ready.empty()) {
        RAGD_ASSIGN_OR_RETURN(bool swapped, swap_map(switch_moves(map, ready), map.revision));
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
                               " s these moves are still bootstrapping (they stay planned: run the same command "
                               "again to resume, or --cancel): " + pending);
      }
      std::this_thread::sleep_for(250ms);
    }
  }
}

}  // namespace ragd::cluster
