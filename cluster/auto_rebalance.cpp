#include "cluster/auto_rebalance.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "cluster/etcd.h"
#include "cluster/log.h"
#include "cluster/rebalance.h"

namespace ragd::cluster {
namespace {

using namespace std::chrono_literals;

constexpr auto kLookEvery = 2s;
constexpr size_t kStepsKept = 50;

// The nodes the map names: its replicas and its moves' ends.
std::set<std::string> named_by(const ShardMap& map) {
  std::set<std::string> out;
  for (const auto& r : map.replicas) out.insert(r.begin(), r.end());
  for (const auto& m : map.moves) {
    out.insert(m.from);
    out.insert(m.to);
  }
  return out;
}

}  // namespace

AutoRebalancer::AutoRebalancer(const ClusterOptions& o, Hooks hooks)
    : o_(o), hooks_(std::move(hooks)), etcd_(std::make_unique<Etcd>(o.etcd, 5, o.tls, o.etcd_auth)) {
  status_.enabled = true;
  thread_ = std::thread([this] { loop(); });
}

AutoRebalancer::~AutoRebalancer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

AutoRebalanceStatus AutoRebalancer::status() const {
  std::lock_guard lock(mu_);
  AutoRebalanceStatus out = status_;
  for (const auto& [n, a] : absent_) {
    out.absent_seconds[n] = a.seconds;
    if (a.dead) out.dead.push_back(n);
  }
  return out;
}

void AutoRebalancer::loop() {
  while (!stop_) {
    for (auto until = std::chrono::steady_clock::now() + kLookEvery;
         !stop_ && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(50ms);
    }
    if (!stop_) look();
  }
}

Result<bool> AutoRebalancer::watch() {
  const std::string key = absent_watch_key(o_);
  RAGD_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> was, etcd_->get(key));
  if (watch_lease_ != 0) {
    RAGD_ASSIGN_OR_RETURN(int64_t ttl, etcd_->lease_keepalive(watch_lease_));
    if (ttl <= 0) watch_lease_ = 0;
  }
  if (watch_lease_ == 0) {
    RAGD_ASSIGN_OR_RETURN(watch_lease_, etcd_->lease_grant(o_.absence_watch_seconds));
  }
  RAGD_RETURN_IF_ERROR(etcd_->put(key, o_.node_id, watch_lease_));
  return was.has_value();
}

std::set<std::string> AutoRebalancer::note_live(const ShardMap& map, const std::set<std::string>& live) {
  const std::set<std::string> named = named_by(map);
  const std::string prefix = absent_key(o_, "");
  auto watched = watch();
  if (!watched.is_ok()) return {};  // etcd cannot say: nobody is dead yet
  auto records = etcd_->range_prefix(prefix);
  if (!records.is_ok()) return {};
  std::map<std::string, std::string> recorded;  // node -> its absence record
  for (const auto& kv : records->kvs) recorded[kv.key.substr(prefix.size())] = kv.value;
  std::set<std::string> dead, unread;  // unread: absent, but etcd did not say for how long
  // Back, or out of the map: its absence ends (for every node). With
  // nobody watching for absence_watch_seconds (the whole cluster was down),
  // the records' timers ran while no node could see anyone come back: every
  // absence starts again now, with a fresh timer.
  for (auto it = recorded.begin(); it != recorded.end();) {
    const auto& [n, record] = *it;
    const bool ended = live.count(n) || !named.count(n);
    if (!ended && *watched) {
      ++it;
      continue;
    }
    auto removed = etcd_->remove_if_equal(prefix + n, record);
    if (!ended) {
      cluster_log().info("node {}: nobody watched the absences for {} s or more (every node was down or away "
                         "from etcd): node {}'s absence counts again from now",
                         o_.node_id, o_.absence_watch_seconds, n);
      // Changed meanwhile (another node restarted it): read at the next look.
      if (!removed.is_ok() || !*removed) unread.insert(n);
    }
    it = recorded.erase(it);
  }
  std::map<std::string, Absence> seen;
  for (const auto& n : named) {
    if (live.count(n) || n == o_.node_id || unread.count(n)) continue;
    std::string record;
    if (auto it = recorded.find(n); it != recorded.end()) {
      record = it->second;
    } else {
      // The first to see it go: a timer of dead_after_seconds from now,
      // unless another node records its own first.
      auto timer = etcd_->lease_grant(o_.dead_after_seconds);
      if (!timer.is_ok()) {
        unread.insert(n);
        continue;
      }
      const std::string mine = absence_to_json({o_.node_id, *timer});
      auto stored = etcd_->put_if_absent(prefix + n, mine);
      // Another node's record won: this timer is no one's. On an error it
      // is left to expire: the put may have been stored (its answer lost),
      // and a revoked timer would call the node dead at once.
      if (stored.is_ok() && *stored != mine) (void)etcd_->lease_revoke(*timer);
      if (!stored.is_ok()) {
        unread.insert(n);
        continue;
      }
      record = *stored;
    }
    const std::optional<AbsenceRecord> parsed = absence_from_json(record);
    if (!parsed) {
      // Not a record ragd wrote: made again at the next look; the node is
      // still absent, as last read.
      (void)etcd_->remove_if_equal(prefix + n, record);
      unread.insert(n);
      continue;
    }
    auto left = etcd_->lease_time_to_live(parsed->timer);
    if (!left.is_ok()) {
      unread.insert(n);
      continue;
    }
    Absence a{record, parsed->by, *left < 0 ? o_.dead_after_seconds : o_.dead_after_seconds - *left, *left < 0};
    if (a.dead) dead.insert(n);
    seen.emplace(n, std::move(a));
  }
  std::lock_guard lock(mu_);
  // As last read, but not dead on that word alone.
  for (const auto& n : unread) {
    if (auto it = absent_.find(n); it != absent_.end()) {
      seen.emplace(n, Absence{it->second.record, it->second.by, it->second.seconds, false});
    }
  }
  for (const auto& [n, a] : absent_) {
    if (!seen.count(n)) {
      cluster_log().info("node {}: node {} is back (or left the map) after {} s or more", o_.node_id, n, a.seconds);
    }
  }
  for (const auto& [n, a] : seen) {
    if (!absent_.count(n)) {
      cluster_log().info("node {}: node {} has no lease (for {} s, first seen by {}); its replicas are made again "
                         "elsewhere once it has been away {} s",
                         o_.node_id, n, a.seconds, a.by, o_.dead_after_seconds);
    }
  }
  absent_ = std::move(seen);
  return dead;
}

std::string AutoRebalancer::reason_for(const ShardMap& map, const std::set<std::string>& live,
                                       const std::set<std::string>& dead, const std::vector<ShardMove>& plan) const {
  std::map<std::string, size_t> load;
  size_t replicas = 0;
  for (const auto& r : map.replicas) {
    for (const auto& n : r) ++load[n];
    replicas += r.size();
  }
  std::set<std::string> from, to;
  for (const auto& m : plan) {
    from.insert(m.from);
    to.insert(m.to);
  }
  std::string why;
  auto add = [&](const std::string& part) { why += (why.empty() ? "" : "; ") + part; };
  for (const auto& n : dead) {
    if (!from.count(n)) continue;
    add("node " + n + " dead (no lease for " + std::to_string(o_.dead_after_seconds) + " s or more): its " +
        std::to_string(load[n]) + " replica(s) made again on the live nodes");
  }
  const size_t holders = std::count_if(live.begin(), live.end(), [&](const std::string& n) { return !dead.count(n); });
  const size_t share = holders == 0 ? 0 : replicas / holders;
  for (const auto& n : to) {
    if (load[n] < share) {
      add("node " + n + " joined: holds " + std::to_string(load[n]) + " replica(s), its share is " +
          std::to_string(share));
    }
  }
  if (why.empty()) add("the live nodes' loads differ by more than one replica");
  return why;
}

void AutoRebalancer::look() {
  auto live = hooks_.live();
  if (!live.is_ok()) return;  // etcd away: look again later
  // Read now, not the node's copy (a second old at most): a run that just
  // ended must not look pending.
  auto read = read_shard_map(*etcd_, o_);
  if (!read.is_ok()) return;
  const ShardMap& map = *read;
  const std::set<std::string> dead = note_live(map, *live);
  auto state = read_rebalance_state(*etcd_, o_);
  if (!state.is_ok()) return;
  {
    std::lock_guard lock(mu_);
    status_.paused = state->paused;
    status_.held_by = state->lock ? state->lock->by : "";
  }
  if (state->lock && state->lock->by == o_.node_id) {
    // This node's, from a run whose release failed (etcd away): under the
    // node's own lease it would outlive the run for ever.
    (void)etcd_->remove_if_equal(rebalance_lock_key(o_), rebalance_lock_to_json(*state->lock));
    return;
  }
  if (state->paused || state->lock) return;
  std::string reason;
  if (!map.moves.empty()) {
    reason = "resuming " + std::to_string(map.moves.size()) + " pending move(s)";
  } else {
    auto plan = plan_moves(map, *live, state->drained, dead);
    if (!plan.is_ok()) {
      cluster_log().warn("node {}: automatic rebalance: {}", o_.node_id, plan.status().to_string());
      return;
    }
    if (plan->empty()) return;
    reason = reason_for(map, *live, dead, *plan);
  }

  RebalanceOptions r;
  r.lock = RebalanceLock{o_.node_id, true, reason, ""};
  r.lease = hooks_.lease();
  r.dead = [this](const std::set<std::string>& now_live) { return note_live(hooks_.map(), now_live); };
  r.stopping = [this] { return stop_.load(); };
  r.retired_away = hooks_.delete_consumer;
  r.progress = [this](const std::string& line) {
    cluster_log().info("node {}: automatic rebalance: {}", o_.node_id, line);
    std::lock_guard lock(mu_);
    status_.steps.push_back(line);
    if (status_.steps.size() > kStepsKept) status_.steps.erase(status_.steps.begin());
    if (line.starts_with("switched ")) ++status_.switched;
  };
  {
    std::lock_guard lock(mu_);
    status_.running = true;
    status_.reason = reason;
    status_.steps.clear();
    status_.held_by = o_.node_id;
    ++status_.runs;
  }
  cluster_log().info("node {}: automatic rebalance starts: {}", o_.node_id, reason);
  auto done = rebalance(o_, r);
  std::string result;
  if (done.is_ok()) {
    result = "done: shard map revision " + std::to_string(done->revision);
    cluster_log().info("node {}: automatic rebalance {}", o_.node_id, result);
  } else if (done.status().code() == StatusCode::kAlreadyExists) {
    result = "not run: " + done.status().message();  // another driver took the lock first
  } else {
    result = "stopped: " + done.status().to_string();
    cluster_log().warn("node {}: automatic rebalance {}", o_.node_id, result);
  }
  std::lock_guard lock(mu_);
  status_.running = false;
  status_.last_result = result;
  status_.held_by.clear();
}

}  // namespace ragd::cluster
