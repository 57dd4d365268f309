// A node's automatic rebalancer (ClusterOptions::auto_rebalance;
// cluster/README.md, "Rebalancing"). Every node that has it on looks every
// two seconds at the shard map and the live nodes:
//   - a node the map names whose lease is gone is "absent", and "dead" once
//     absent for dead_after_seconds (a restart within that time changes
//     nothing: a node that is not live neither gives nor takes replicas).
//     The absence is counted from one moment every node agrees on: the
//     first node to see the lease go puts rebalance/absent/<node> in etcd,
//     naming a timer, an etcd lease of dead_after_seconds granted then and
//     never renewed; every node reads the timer's time left from etcd, so
//     a node that takes the lock over (or just started) counts from that
//     moment, not from when it saw the node go itself. Any node that sees
//     the node live again (or out of the map) deletes the record. The
//     records count only while some node watches them: each look re-puts
//     rebalance/absent-watch under a lease of absence_watch_seconds, and a
//     look that finds it gone (the whole cluster was down) starts every
//     record again with a fresh timer;
//   - when moves are pending, or plan_moves() over the live nodes (the dead
//     ones' replicas made again elsewhere, the drained ones emptied) finds
//     something to move (a node joined and holds less than its share), it
//     runs rebalance() as `ragd cluster rebalance` does, as an automatic
//     run holding the rebalance lock under the node's lease.
// The lock makes one driver at a time: a node that finds it held (another
// node, an operator's run) starts nothing; when its holder dies the lease
// takes the lock with it, and the next node to look resumes the pending
// moves from the map. `ragd cluster rebalance --cancel` pauses them all.
//
// Thread safety: status() may be called from any thread; the rest runs on
// the rebalancer's own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "cluster/node.h"
#include "cluster/options.h"
#include "ragd/status.h"

namespace ragd::cluster {

class Etcd;

class AutoRebalancer {
 public:
  // What it needs of its node.
  struct Hooks {
    std::function<Result<std::set<std::string>>()> live;  // the live nodes, read from etcd now
    std::function<ShardMap()> map;                         // the map the node follows
    std::function<int64_t()> lease;                        // the node's lease now
    // Deletes `node`'s durable JetStream consumer of shard `shard`
    // (RebalanceOptions::retired_away).
    std::function<Status(uint32_t shard, const std::string& node)> delete_consumer;
  };
  // Starts the thread.
  AutoRebalancer(const ClusterOptions& o, Hooks hooks);
  // Stops the thread; a run ends at its next step, its moves left pending in
  // etcd for the next driver.
  ~AutoRebalancer();
  AutoRebalancer(const AutoRebalancer&) = delete;
  AutoRebalancer& operator=(const AutoRebalancer&) = delete;

  AutoRebalanceStatus status() const;

 private:
  void loop();
  // One look: starts a run (and waits for its end) when one is needed.
  void look();
  // Notes which nodes the map names are live now, through the absence
  // records in etcd (made for the absent nodes that have none, deleted for
  // the nodes live again); returns the dead ones: none when etcd cannot
  // say (never sooner).
  std::set<std::string> note_live(const ShardMap& map, const std::set<std::string>& live);
  // Re-puts rebalance/absent-watch under this node's watch lease
  // (absence_watch_seconds, renewed here); returns whether it was there
  // before: false when no node watched for that long.
  Result<bool> watch();
  // The run's reason, from the plan's moves.
  std::string reason_for(const ShardMap& map, const std::set<std::string>& live, const std::set<std::string>& dead,
                         const std::vector<ShardMove>& plan) const;

  const ClusterOptions& o_;
  Hooks hooks_;
  std::unique_ptr<Etcd> etcd_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  AutoRebalanceStatus status_;  // guarded by mu_
  // An absent node as the last look read it from etcd.
  struct Absence {
    std::string record;     // rebalance/absent/<node>'s value
    std::string by;         // the node that recorded it
    int64_t seconds = 0;    // absent for, by the timer's time left
    bool dead = false;      // the timer expired
  };
  std::map<std::string, Absence> absent_;  // guarded by mu_
  int64_t watch_lease_ = 0;                // the rebalancer's thread only; 0: none yet
  std::thread thread_;
};

}  // namespace ragd::cluster
