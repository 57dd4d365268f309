// `ragd cluster status`: the cluster as its three sources of truth see it,
// read from outside any node. etcd gives the shard map and the live nodes,
// JetStream each shard stream's last sequence, and each live node's
// /v1/stats how far it has applied the shards it holds. A replica is
// behind by stream_last - applied messages.
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
  uint64_t applied = 0;
  uint64_t failures = 0;  // apply attempts that failed since it started
  std::string error;      // why it did not answer
};

struct ShardView {
  uint32_t shard = 0;
  uint64_t stream_last = 0;
  std::string stream_error;  // the stream could not be read
  std::vector<ReplicaView> replicas;
  // A live replica answered and is level with the stream.
  bool serving() const;
};

struct ClusterView {
  std::string name;
  int64_t shard_map_revision = 0;
  std::map<std::string, std::string> live;  // node id -> URL
  std::vector<ShardView> shards;
  // Every shard has a live replica that answered (it can be searched).
  bool searchable() const;
};

// Reads the view. `api_key` goes to the nodes as a bearer token when their
// routes need one ("" = none). Errors: etcd unreachable, no shard map yet
// (kNotFound); a node or stream that cannot be read is noted in the view.
Result<ClusterView> read_cluster_view(const ClusterOptions& o, const std::string& api_key);

// The view as JSON (`--json`) and as a table for people.
std::string cluster_view_json(const ClusterView& v);
std::string cluster_view_table(const ClusterView& v);

}  // namespace ragd::cluster
