// `ragd cluster accept-gap`: the operator's word that a hole in a shard's
// stream is lost for good (cluster/README.md, "Gaps"). It puts the last
// missing sequence under gap_accepted_key() (node.h), which every replica's
// applier reads when it meets a hole: gaps of that shard at or below it no
// longer stop it. Without --through it accepts the gap a replica of the
// shard is stopped at now, read as `ragd cluster status` reads it (each
// live node's /v1/stats), and refuses when none is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cluster/options.h"
#include "ragd/status.h"

namespace ragd::cluster {

struct AcceptGapOptions {
  // The shard whose gap is accepted. Required (< ClusterOptions::shards).
  uint32_t shard = 0;
  // Accept the holes up to this stream sequence, whether or not a replica
  // is stopped at one now (a replica that is down, a replay to come). At
  // most the stream's last sequence. Default: nullopt = the gap the
  // shard's replicas are stopped at (the highest, when they differ).
  std::optional<uint64_t> through;
  // Bearer token for the nodes' /v1/stats when they require one ("" = none).
  std::string api_key;
};

struct AcceptedGap {
  uint64_t through = 0;   // what the key holds now
  uint64_t previous = 0;  // what it held before (0: nothing)
  bool written = false;   // false: `previous` already covered `through`
  // The replicas stopped at a gap when this ran: "<node>: messages F-L".
  std::vector<std::string> stopped;
  // Replicas of the shard that did not answer (their gaps are unknown).
  std::vector<std::string> unknown;
};

// Writes the acceptance (a compare-and-swap: never lowers an acceptance
// already there, which would stop replicas again at holes accepted
// before). kFailedPrecondition when no --through is given and no replica
// of the shard is stopped at a gap; kInvalidArgument for a shard out of
// range or a --through of 0 or past the stream's end; kUnavailable when
// etcd cannot be read or written.
Result<AcceptedGap> accept_gap(const ClusterOptions& o, const AcceptGapOptions& a);

}  // namespace ragd::cluster
