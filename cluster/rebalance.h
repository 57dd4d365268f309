// `ragd cluster rebalance`: moves shard replicas between nodes without
// stopping the service (cluster/README.md, "Rebalancing"). A move bootstraps
// the new replica first, switches the map, and only then retires the old
// one:
//
//   1. plan: the moves are written into the shard map (ShardMap::moves) in
//      one compare-and-swap on its revision;
//   2. bootstrap: each node reads the map every second; the target of a
//      move starts an applier that replays the shard's stream into a new
//      store (not searched: the map does not list it yet) and, once it has
//      applied everything the stream held, puts its ready key in etcd;
//   3. switch: this driver replaces `from` with `to` in the map for every
//      ready move (compare-and-swap again);
//   4. retire: `from` sees the new map, keeps answering for
//      retire_grace_seconds (a search that began on the old map can still
//      fetch its chunks), then deletes its copy and its consumer.
//
// The driver keeps no state of its own: the plan lives in etcd, so running
// it again resumes, and --cancel drops what has not switched yet.
//
// One driver at a time: a run holds the rebalance lock in etcd
// (rebalance_lock_key, created only if absent, under a lease), whether it
// is an operator's `ragd cluster rebalance` or a node's automatic
// rebalancer (auto_rebalance.h). An operator's run waits for the lock; a
// node's gives up at once and looks again later.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/node.h"
#include "cluster/options.h"
#include "ragd/status.h"

namespace ragd::cluster {

class Etcd;

// The etcd keys of rebalancing, under <prefix>rebalance/: `lock` (held by
// the running driver, under its lease: RebalanceLock as JSON), `paused`
// (put by --cancel: the automatic rebalancers start nothing until an
// operator's run ends) and `drained/<node>` (put by --drain: every run, the
// automatic ones included, keeps the node empty; the node deletes it when
// it starts again, back in service).
std::string rebalance_prefix(const ClusterOptions& o);
std::string rebalance_lock_key(const ClusterOptions& o);
std::string rebalance_paused_key(const ClusterOptions& o);
std::string drained_key(const ClusterOptions& o, const std::string& node);
// A node's absence as the automatic rebalancers agree on it (auto_rebalance.h):
// AbsenceRecord as JSON.
std::string absent_key(const ClusterOptions& o, const std::string& node);
// Put under a short lease (absence_watch_seconds) by every automatic
// rebalancer at each look: while it exists, some node watches the absence
// records, and their timers count.
std::string absent_watch_key(const ClusterOptions& o);
struct AbsenceRecord {
  std::string by;     // the node that saw the lease go first
  int64_t timer = 0;  // an etcd lease of dead_after_seconds granted then, never renewed
};
std::string absence_to_json(const AbsenceRecord& a);
// nullopt when malformed (no "by" string, no "timer" naming a lease).
std::optional<AbsenceRecord> absence_from_json(const std::string& text);

// Who holds the rebalance lock, and why.
struct RebalanceLock {
  std::string by;          // a node id, or "cli-<host>-<pid>" for an operator's run
  bool automatic = false;  // a node's automatic rebalancer
  std::string reason;      // why it runs ("node n5 joined ...", "node n3 dead ...")
  std::string nonce;       // this run's own: the lock is released only by it
};
std::string rebalance_lock_to_json(const RebalanceLock& l);
// nullopt when malformed.
std::optional<RebalanceLock> rebalance_lock_from_json(const std::string& text);

// What etcd says about rebalancing now: the lock's holder (nullopt: none),
// whether the automatic rebalancers are paused, the drained nodes.
struct RebalanceState {
  std::optional<RebalanceLock> lock;
  bool paused = false;
  std::set<std::string> drained;
};
Result<RebalanceState> read_rebalance_state(Etcd& etcd, const ClusterOptions& o);

struct RebalanceOptions {
  // Nodes to empty (to decommission them): each of their replicas moves to
  // a live node, which may leave the rest less even. Recorded in etcd
  // (drained_key), so that later runs keep them empty.
  std::vector<std::string> drain;
  bool dry_run = false;  // print the plan, write nothing
  // Drop the pending moves (their targets retire them) and pause the
  // automatic rebalancers until an operator's run ends.
  bool cancel = false;
  int timeout_seconds = 600;
  // Called with one line per step (planned, resumed, switched, done).
  std::function<void(const std::string&)> progress;
  // The lock's holder. An empty `lock.by` names this process
  // ("cli-<host>-<pid>"); the nonce is made here.
  RebalanceLock lock;
  // The lease to hold the lock under; 0: one of its own, renewed while the
  // run lasts and revoked at its end.
  int64_t lease = 0;
  // Nodes whose replicas are to be made again elsewhere (dead), given the
  // live ones; asked at each round's plan. Default: none.
  std::function<std::set<std::string>(const std::set<std::string>& live)> dead;
  // True when the caller is stopping: the run ends (kCancelled), its moves
  // left pending in etcd.
  std::function<bool()> stopping;
  // Called after a switch took shard `shard`'s replica from `node`, which
  // had no lease then (dead, or away): its durable JetStream consumer would
  // otherwise stay on the NATS servers until the node came back and
  // deleted it. The automatic rebalancer deletes it (the node, back,
  // reads the new map and makes no consumer for the shard). An error is
  // reported as a step; the switch stands. `ragd cluster rebalance`
  // deletes it over a NATS connection of its own. Default: none (the node
  // deletes it when back).
  std::function<Status(uint32_t shard, const std::string& node)> retired_away;
};

// A RebalanceOptions::retired_away for a run outside the nodes (`ragd
// cluster rebalance`): it deletes a node's durable consumer of a shard
// over a NATS connection of its own, made at the first call (the cluster
// file's servers, TLS and credentials).
std::function<Status(uint32_t shard, const std::string& node)> consumer_deleter(const ClusterOptions& o);

// The moves that even out `map` over the `live` nodes not in `drain`:
// first every replica on a drained node, then from the most to the least
// loaded node until their replica counts differ by at most one. A node
// never gets a second replica of a shard; a replica on a node that is
// neither live nor drained stays where it is (the node may be restarting).
// Deterministic (ties go to the lower node id and shard); the moves' ids
// are left empty. kFailedPrecondition when no live node is left, or a
// drained replica has nowhere to go. A replica on a `dead` node moves first,
// like a drained one, to a live node without the shard; with none, it stays.
Result<std::vector<ShardMove>> plan_moves(const ShardMap& map, const std::set<std::string>& live,
                                          const std::set<std::string>& drain,
                                          const std::set<std::string>& dead = {});

// `map` with the moves whose ids are in `ready` done: `to` takes `from`'s
// place among the shard's replicas, and the move leaves the list.
ShardMap switch_moves(const ShardMap& map, const std::set<std::string>& ready);

// Runs the steps above to the end: takes the lock (an automatic run:
// kAlreadyExists at once when another holds it; else waits for it), plans
// (unless moves are pending, which it resumes), then switches each move as
// its target reports ready, and releases the lock. Returns the final map.
// kTimeout after `timeout_seconds` with moves still pending (they stay in
// the map: run again to resume); kCancelled when the lock was lost (the
// lease lapsed), an automatic run was paused, or `stopping` said so.
Result<ShardMap> rebalance(const ClusterOptions& o, const RebalanceOptions& r);

}  // namespace ragd::cluster
