// `ragd cluster status`: the cluster as its three sources of truth see it,
// read from outside any node. etcd gives the shard map, the live nodes and
// each member's leader, JetStream each shard stream's last sequence, leader
// and replicas, and each live node's /v1/stats how far it has applied the
// shards it holds. A replica is behind by stream_last - applied messages.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cluster/options.h"
#include "ragd/status.h"

namespace ragd::cluster {

struct ReplicaView {
  std::string node;
  bool live = false;      // its lease is alive in etcd
  bool answered = false;  // its /v1/stats answered and listed the shard
  // A rebalance is moving the shard to this node: it bootstraps and is not
  // searched until the map switches (it counts for no verdict).
  bool joining = false;
  std::string joining_from;  // the replica it replaces
  uint64_t applied = 0;
  uint64_t failures = 0;  // apply attempts that failed since it started
  // Its applier stopped at a gap: the stream lacks these messages (0 and 0
  // when not; cluster/README.md, "Gaps").
  uint64_t gap_first = 0, gap_last = 0;
  std::string error;      // why it did not answer
};

struct ShardView {
  uint32_t shard = 0;
  uint64_t stream_last = 0;
  std::string stream_error;  // the stream could not be read
  // The stream's Raft group: the server leading it ("" when it has none:
  // the shard takes no writes) and its other replicas.
  std::string stream_leader;
  struct LogReplica {
    std::string name;  // the nats-server's name
    bool current = false, offline = false;
    uint64_t lag = 0;
  };
  std::vector<LogReplica> stream_replicas;
  std::vector<ReplicaView> replicas;
  // A live replica answered and is level with the stream.
  bool serving() const;
  // The stream was read and has a leader.
  bool writable() const { return stream_error.empty() && !stream_leader.empty(); }
};

struct EtcdMemberView {
  std::string endpoint;
  bool answered = false;
  // When answered: its id and the leader it follows ("" or "0": none).
  std::string member_id, leader_id, version;
  int64_t db_size = 0, raft_term = 0;
  std::string error;  // when not
  bool leads() const { return answered && !member_id.empty() && member_id == leader_id; }
};

struct ClusterView {
  std::string name;
  int64_t shard_map_revision = 0;
  std::map<std::string, std::string> live;  // node id -> URL
  std::vector<ShardView> shards;
  std::vector<EtcdMemberView> etcd;  // one per endpoint of the cluster file
  // Rebalancing (rebalance.h): who runs one now ("" for nobody: a node's
  // automatic rebalancer, or an operator's run) and why, the moves pending,
  // whether --cancel paused the automatic rebalancers, the drained nodes.
  std::string rebalance_by;
  bool rebalance_automatic = false;
  std::string rebalance_reason;
  size_t moves_pending = 0;
  bool rebalance_paused = false;
  std::vector<std::string> drained;
  // Every shard has a live replica that answered (it can be searched).
  bool searchable() const;
  // Every shard's stream has a leader and exactly one etcd member leads,
  // followed by a majority of the endpoints (writes and membership work).
  bool writable() const;
};

// Reads the view. `api_key` goes to the nodes as a bearer token when their
// routes need one ("" = none). Errors: etcd unreachable, no shard map yet
// (kNotFound); a node or stream that cannot be read is noted in the view.
Result<ClusterView> read_cluster_view(const ClusterOptions& o, const std::string& api_key);

// The view as JSON (`--json`) and as a table for people. The table ends
// with the verdict: NOT SEARCHABLE, WRITES FAIL, or that all is well.
std::string cluster_view_json(const ClusterView& v);
std::string cluster_view_table(const ClusterView& v);

}  // namespace ragd::cluster
