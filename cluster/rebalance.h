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
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "cluster/node.h"
#include "cluster/options.h"
#include "ragd/status.h"

namespace ragd::cluster {

struct RebalanceOptions {
  // Nodes to empty (to decommission them): each of their replicas moves to
  // a live node, which may leave the rest less even.
  std::vector<std::string> drain;
  bool dry_run = false;  // print the plan, write nothing
  bool cancel = false;   // drop the pending moves (their targets retire them)
  int timeout_seconds = 600;
  // Called with one line per step (planned, resumed, switched, done).
  std::function<void(const std::string&)> progress;
};

// The moves that even out `map` over the `live` nodes not in `drain`:
// first every replica on a drained node, then from the most to the least
// loaded node until their replica counts differ by at most one. A node
// never gets a second replica of a shard; a replica on a node that is
// neither live nor drained stays where it is (the node may be restarting).
// Deterministic (ties go to the lower node id and shard); the moves' ids
// are left empty. kFailedPrecondition when no live node is left, or a
// drained replica has nowhere to go.
Result<std::vector<ShardMove>> plan_moves(const ShardMap& map, const std::set<std::string>& live,
                                          const std::set<std::string>& drain);

// `map` with the moves whose ids are in `ready` done: `to` takes `from`'s
// place among the shard's replicas, and the move leaves the list.
ShardMap switch_moves(const ShardMap& map, const std::set<std::string>& ready);

// Runs the steps above to the end: plans (unless moves are pending, which
// it resumes), then switches each move as its target reports ready.
// Returns the final map. kTimeout after `timeout_seconds` with moves still
// pending (they stay in the map: run again to resume).
Result<ShardMap> rebalance(const ClusterOptions& o, const RebalanceOptions& r);

}  // namespace ragd::cluster
