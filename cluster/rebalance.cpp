#include "cluster/rebalance.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "auth/crypto.h"
#include "cluster/etcd.h"
#include "cluster/jetstream.h"
#include "cluster/node.h"

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;
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

Status status_of(const Status& s) { return s; }
template <class T>
Status status_of(const Result<T>& r) {
  return r.status();
}

// Calls `call` until it answers or fails with something else than etcd
// being away for a moment (a member restarting), or `deadline` passes, or
// `stopping` says so.
template <class F>
auto patiently(std::chrono::steady_clock::time_point deadline, F call, const std::function<bool()>& stopping = {})
    -> decltype(call()) {
  for (;;) {
    auto got = call();
    if (got.is_ok() || status_of(got).code() != StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline || (stopping && stopping()))
      return got;
    std::this_thread::sleep_for(250ms);
  }
}

std::string describe(const ShardMove& m) {
  return "shard " + std::to_string(m.shard) + ": " + (m.from.empty() ? "(new)" : m.from) + " -> " + m.to;
}

}  // namespace

Result<std::vector<ShardMove>> plan_moves(const ShardMap& map, const std::set<std::string>& live,
                                          const std::set<std::string>& drain, const std::set<std::string>& dead) {
  std::map<std::string, size_t> load;  // the targets' replica counts, as planned so far
  for (const auto& n : live) {
    if (!drain.count(n) && !dead.count(n)) load[n] = 0;
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
  // 1. Replace the dead nodes' replicas, then empty the drained nodes (one
  // replica of a shard per plan: a second one moves in the next round). A
  // dead node's replica with nowhere to go stays; a drained one's is an error.
  auto empty_nodes = [&](const std::set<std::string>& nodes, bool may_stay) -> Status {
    for (uint32_t s = 0; s < map.replicas.size(); ++s) {
      for (const auto& n : map.replicas[s]) {
        if (!nodes.count(n) || moving(planned, s)) continue;
        const std::string to = lightest_without(s);
        if (!to.empty()) {
          move(s, n, to);
        } else if (!may_stay) {
          return Status::failed_precondition("shard " + std::to_string(s) + " cannot leave " + n +
                                             ": every live node left already holds it");
        }
      }
    }
    return Status::ok();
  };
  RAGD_RETURN_IF_ERROR(empty_nodes(dead, true));
  RAGD_RETURN_IF_ERROR(empty_nodes(drain, false));
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

std::string rebalance_prefix(const ClusterOptions& o) { return etcd_prefix(o) + "rebalance/"; }
std::string rebalance_lock_key(const ClusterOptions& o) { return rebalance_prefix(o) + "lock"; }
std::string rebalance_paused_key(const ClusterOptions& o) { return rebalance_prefix(o) + "paused"; }
std::string drained_key(const ClusterOptions& o, const std::string& node) {
  return rebalance_prefix(o) + "drained/" + node;
}
std::string absent_key(const ClusterOptions& o, const std::string& node) {
  return rebalance_prefix(o) + "absent/" + node;
}

std::string absent_watch_key(const ClusterOptions& o) { return rebalance_prefix(o) + "absent-watch"; }

std::string absence_to_json(const AbsenceRecord& a) {
  return Json{{"by", a.by}, {"timer", std::to_string(a.timer)}}.dump();
}

std::optional<AbsenceRecord> absence_from_json(const std::string& text) {
  const Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    AbsenceRecord a{j.at("by").get<std::string>(), std::stoll(j.at("timer").get<std::string>())};
    if (a.timer == 0) return std::nullopt;
    return a;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string rebalance_lock_to_json(const RebalanceLock& l) {
  return Json{{"by", l.by}, {"automatic", l.automatic}, {"reason", l.reason}, {"nonce", l.nonce}}.dump();
}

std::optional<RebalanceLock> rebalance_lock_from_json(const std::string& text) {
  const Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    return RebalanceLock{j.at("by").get<std::string>(), j.value("automatic", false), j.value("reason", ""),
                         j.value("nonce", "")};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Result<RebalanceState> read_rebalance_state(Etcd& etcd, const ClusterOptions& o) {
  RAGD_ASSIGN_OR_RETURN(EtcdRange r, etcd.range_prefix(rebalance_prefix(o)));
  RebalanceState st;
  const std::string drained = rebalance_prefix(o) + "drained/";
  for (const auto& kv : r.kvs) {
    if (kv.key == rebalance_lock_key(o)) {
      st.lock = rebalance_lock_from_json(kv.value);
      if (!st.lock) st.lock = RebalanceLock{"(unreadable lock: " + kv.value.substr(0, 80) + ")", false, "", ""};
    } else if (kv.key == rebalance_paused_key(o)) {
      st.paused = true;
    } else if (kv.key.starts_with(drained)) {
      st.drained.insert(kv.key.substr(drained.size()));
    }
  }
  return st;
}

namespace {

std::string describe(const RebalanceLock& l) {
  return l.by + (l.automatic ? " (automatic" + (l.reason.empty() ? std::string() : ": " + l.reason) + ")" : "");
}

// The rebalance lock of one run: taken under the run's lease, or a lease of
// its own that a thread renews; released (only if still this run's) and
// the own lease revoked when the run ends.
class LockHold {
 public:
  LockHold(Etcd& etcd, const ClusterOptions& o, RebalanceLock lock, int64_t lease)
      : etcd_(etcd), o_(o), lock_(std::move(lock)), value_(rebalance_lock_to_json(lock_)), lease_(lease) {}
  ~LockHold() {
    if (taken_) (void)etcd_.remove_if_equal(rebalance_lock_key(o_), value_);
    if (renewer_.joinable()) {
      {
        std::lock_guard lock(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      renewer_.join();
      (void)etcd_.lease_revoke(lease_);
    }
  }
  LockHold(const LockHold&) = delete;
  LockHold& operator=(const LockHold&) = delete;

  // Takes the lock: true when this run holds it now, else `*holder` is who
  // does (nullopt: it went meanwhile).
  Result<bool> take(std::optional<RebalanceLock>* holder) {
    if (lease_ == 0) {
      RAGD_ASSIGN_OR_RETURN(lease_, etcd_.lease_grant(o_.lease_ttl_seconds));
      renewer_ = std::thread([this] { renew(); });
    }
    RAGD_ASSIGN_OR_RETURN(std::string stored, etcd_.put_if_absent(rebalance_lock_key(o_), value_, lease_));
    taken_ = stored == value_;
    if (!taken_) *holder = rebalance_lock_from_json(stored);
    return taken_;
  }
  bool held(const RebalanceState& st) const { return st.lock && st.lock->nonce == lock_.nonce; }

 private:
  void renew() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(o_.lease_ttl_seconds * 1000 / 3), [&] { return stop_; })) {
      lock.unlock();
      (void)etcd_.lease_keepalive(lease_);  // a lapse shows as the lock lost (held())
      lock.lock();
    }
  }

  Etcd& etcd_;
  const ClusterOptions& o_;
  const RebalanceLock lock_;
  const std::string value_;
  int64_t lease_;
  bool taken_ = false;
  std::thread renewer_;  // renews an own lease
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
};

// "cli-<host>-<pid>": an operator's run, as the lock names it.
std::string this_process() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "unknown");
  return "cli-" + std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace

Result<ShardMap> rebalance(const ClusterOptions& o, const RebalanceOptions& r) {
  auto say = [&](const std::string& line) {
    if (r.progress) r.progress(line);
  };
  Etcd etcd(o.etcd, 5, o.tls, o.etcd_auth);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(r.timeout_seconds);
  const std::string key = shard_map_key(o);
  auto patient = [&](auto call) { return patiently(deadline, call, r.stopping); };
  auto read_map = [&] { return patient([&] { return read_shard_map(etcd, o); }); };
  auto swap_map = [&](const ShardMap& next, int64_t revision) {
    return patient([&] { return etcd.put_if_revision(key, shard_map_to_json(next), revision); });
  };
  auto read_live = [&]() -> Result<std::set<std::string>> {
    auto got = patient([&] { return read_live_nodes(etcd, o); });
    RAGD_ASSIGN_OR_RETURN(auto nodes, std::move(got));
    std::set<std::string> live;
    for (const auto& [n, url] : nodes) live.insert(n);
    return live;
  };
  auto read_state = [&] { return patient([&] { return read_rebalance_state(etcd, o); }); };
  // The nodes to empty: this run's and the ones drained before.
  auto drained = [&](const RebalanceState& st) {
    std::set<std::string> d(r.drain.begin(), r.drain.end());
    d.insert(st.drained.begin(), st.drained.end());
    return d;
  };
  auto plan = [&](const ShardMap& map, const RebalanceState& st) -> Result<std::vector<ShardMove>> {
    RAGD_ASSIGN_OR_RETURN(auto live, read_live());
    return plan_moves(map, live, drained(st), r.dead ? r.dead(live) : std::set<std::string>{});
  };

  RAGD_ASSIGN_OR_RETURN(ShardMap map, read_map());
  RAGD_ASSIGN_OR_RETURN(RebalanceState state, read_state());
  if (r.dry_run) {
    if (state.lock) say("running: " + describe(*state.lock));
    if (state.paused) say("automatic rebalancing is paused (--cancel) until a `ragd cluster rebalance` run ends");
    for (const auto& m : map.moves) say((r.cancel ? "would cancel " : "pending ") + describe(m));
    if (!map.moves.empty() || r.cancel) {
      if (map.moves.empty()) say("no moves pending");
      return map;
    }
    RAGD_ASSIGN_OR_RETURN(map.moves, plan(map, state));
    for (const auto& m : map.moves) say("would move " + describe(m));
    if (map.moves.empty()) say("balanced: nothing to move (shard map revision " + std::to_string(map.revision) + ")");
    return map;
  }
  if (r.cancel) {
    // Paused first, so that no automatic rebalancer plans the moves again.
    RAGD_RETURN_IF_ERROR(patient([&] { return etcd.put(rebalance_paused_key(o), "cancel"); }));
    say("automatic rebalancing paused until a `ragd cluster rebalance` run ends");
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

  // One driver at a time.
  RebalanceLock me = r.lock;
  if (me.by.empty()) me.by = this_process();
  RAGD_ASSIGN_OR_RETURN(std::string nonce, auth::random_bytes(8));
  me.nonce = auth::hex_encode(nonce);
  LockHold hold(etcd, o, me, r.lease);
  for (bool said = false;;) {
    std::optional<RebalanceLock> other;
    RAGD_ASSIGN_OR_RETURN(bool got, patient([&] { return hold.take(&other); }));
    if (got) break;
    const std::string who = other ? describe(*other) : "another run";
    if (me.automatic) return Status::already_exists("the rebalance lock is held by " + who);
    if (!said) say("waiting for the rebalance lock, held by " + who);
    said = true;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::timeout("after " + std::to_string(r.timeout_seconds) + " s the rebalance lock is still held by " +
                             who + ": try again later, or stop it with --cancel");
    }
    std::this_thread::sleep_for(500ms);
  }
  for (const auto& n : r.drain) {
    RAGD_RETURN_IF_ERROR(patient([&] { return etcd.put(drained_key(o, n), me.by); }));
  }
  // Before each step: still this run's lock, not paused (automatic), not
  // stopping. Reads the state again.
  auto still_on = [&]() -> Status {
    if (r.stopping && r.stopping()) return Status::cancelled("stopping; the moves stay pending for the next run");
    RAGD_ASSIGN_OR_RETURN(state, read_state());
    if (!hold.held(state)) {
      return Status::cancelled("lost the rebalance lock (its etcd lease lapsed); the moves stay pending for the next run");
    }
    if (me.automatic && state.paused) return Status::cancelled("paused by `ragd cluster rebalance --cancel`");
    return Status::ok();
  };
  // Rounds: plan (at most one move per shard), then switch each move as its
  // target reports ready, until a plan comes out empty.
  for (int round = 0;; ++round) {
    RAGD_RETURN_IF_ERROR(still_on());
    RAGD_ASSIGN_OR_RETURN(map, read_map());
    if (!map.moves.empty()) {
      say("resuming " + std::to_string(map.moves.size()) + " pending move(s)");
    } else {
      RAGD_ASSIGN_OR_RETURN(std::vector<ShardMove> moves, plan(map, state));
      if (moves.empty()) {
        say(round == 0 ? "balanced: nothing to move (shard map revision " + std::to_string(map.revision) + ")"
                       : "done: shard map revision " + std::to_string(map.revision));
        if (!me.automatic && state.paused) {
          RAGD_RETURN_IF_ERROR(patient([&] { return etcd.remove(rebalance_paused_key(o)); }));
          say("automatic rebalancing resumed");
        }
        return map;
      }
      for (ShardMove& m : moves) {
        RAGD_ASSIGN_OR_RETURN(std::string bytes, auth::random_bytes(8));
        m.id = auth::hex_encode(bytes);
      }
      ShardMap next = map;
      next.moves = moves;
      RAGD_ASSIGN_OR_RETURN(bool swapped, swap_map(next, map.revision));
      if (!swapped) continue;  // changed meanwhile: plan again
      for (const auto& m : moves) say("planned " + describe(m));
    }
    // Switch each move once its target is ready and live.
    for (;;) {
      RAGD_RETURN_IF_ERROR(still_on());
      RAGD_ASSIGN_OR_RETURN(map, read_map());
      if (map.moves.empty()) break;
      RAGD_ASSIGN_OR_RETURN(EtcdRange ready_keys,
                            patient([&] { return etcd.range_prefix(etcd_prefix(o) + "ready/"); }));
      RAGD_ASSIGN_OR_RETURN(auto live, read_live());
      // A target that died will never be ready: its moves go, and the next
      // round plans the shard again.
      if (r.dead) {
        const std::set<std::string> dead = r.dead(live);
        ShardMap next = map;
        std::erase_if(next.moves, [&](const ShardMove& m) { return dead.count(m.to) != 0; });
        if (next.moves.size() != map.moves.size()) {
          RAGD_ASSIGN_OR_RETURN(bool swapped, swap_map(next, map.revision));
          for (const ShardMove& m : map.moves) {
            if (swapped && dead.count(m.to)) say("dropped " + describe(m) + ": " + m.to + " is dead");
          }
          continue;
        }
      }
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
            const bool away = !m.from.empty() && !live.count(m.from);
            say("switched " + describe(m) + "; " + m.from +
                (away ? " has no lease: its copy goes when it is back"
                      : " retires its copy in " + std::to_string(o.retire_grace_seconds) + " s"));
            (void)etcd.remove(ready_key(o, m.shard, m.to));  // the node drops it too
            // Nothing of the replica is left to use its consumer: the map
            // no longer gives the shard to `from`, which reads the map
            // before it starts an applier.
            if (away && r.retired_away) {
              const Status gone = r.retired_away(m.shard, m.from);
              say(gone.is_ok() ? "deleted " + m.from + "'s consumer of shard " + std::to_string(m.shard)
                               : "could not delete " + m.from + "'s consumer of shard " + std::to_string(m.shard) +
                                     " (" + gone.to_string() + "); " + m.from + " deletes it when it is back");
            }
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

std::function<Status(uint32_t shard, const std::string& node)> consumer_deleter(const ClusterOptions& o) {
  auto js = std::make_shared<std::unique_ptr<JetStream>>();
  return [o, js](uint32_t shard, const std::string& node) -> Status {
    if (!*js) {
      RAGD_ASSIGN_OR_RETURN(*js,
                            JetStream::connect(o.nats, "ragd-cluster-rebalance", o.tls, o.nats_auth, o.nats_silence));
    }
    return (*js)->delete_consumer(stream_name(o, shard), consumer_name(node, shard));
  };
}

}  // namespace ragd::cluster
