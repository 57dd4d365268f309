#include "cluster/accept_gap.h"

#include <algorithm>
#include <charconv>

#include "cluster/etcd.h"
#include "cluster/node.h"
#include "cluster/status.h"

namespace ragd::cluster {
namespace {

std::string range_text(uint64_t first, uint64_t last) {
  return first == last ? "message " + std::to_string(first)
                       : "messages " + std::to_string(first) + "-" + std::to_string(last);
}

}  // namespace

Result<AcceptedGap> accept_gap(const ClusterOptions& o, const AcceptGapOptions& a) {
  if (a.shard >= o.shards) {
    return Status::invalid_argument("--shard " + std::to_string(a.shard) + ": cluster '" + o.name +
                                    "' has shards 0 to " + std::to_string(o.shards - 1));
  }
  if (a.through && *a.through == 0) return Status::invalid_argument("--through: stream sequences start at 1");
  // What `ragd cluster status` reads: the map, the live nodes' /v1/stats,
  // the stream's last sequence.
  RAGD_ASSIGN_OR_RETURN(ClusterView view, read_cluster_view(o, a.api_key));
  const ShardView* shard = nullptr;
  for (const auto& s : view.shards) {
    if (s.shard == a.shard) shard = &s;
  }
  if (shard == nullptr) return Status::unavailable("shard " + std::to_string(a.shard) + " is not in the shard map");
  AcceptedGap out;
  uint64_t stopped_through = 0;
  for (const auto& r : shard->replicas) {
    if (!r.live || !r.answered) {
      out.unknown.push_back(r.node + " (" + (r.live ? r.error : std::string("not live")) + ")");
    } else if (r.gap_last != 0) {
      out.stopped.push_back(r.node + ": " + range_text(r.gap_first, r.gap_last));
      stopped_through = std::max(stopped_through, r.gap_last);
    }
  }
  const std::string name = "shard " + std::to_string(a.shard);
  if (!a.through && stopped_through == 0) {
    std::string msg = name + " is not stopped at a gap: no replica of it reports one (see `ragd cluster status`)";
    if (!out.unknown.empty()) {
      msg += "; replicas that did not answer, whose gaps are unknown: ";
      for (size_t i = 0; i < out.unknown.size(); ++i) msg += (i ? ", " : "") + out.unknown[i];
    }
    msg += ". Nothing accepted. To accept the holes up to a sequence all the same (a replica that is down, a "
           "replay to come), give --through SEQ";
    return Status::failed_precondition(msg);
  }
  const uint64_t through = a.through ? *a.through : stopped_through;
  // Past the stream's end it would accept, unseen, holes that do not exist
  // yet: a message deleted tomorrow would be stepped over without a word.
  if (a.through && shard->stream_error.empty() && through > shard->stream_last) {
    return Status::invalid_argument("--through " + std::to_string(through) + " is past the end of " + name +
                                    "'s stream (its last sequence is " + std::to_string(shard->stream_last) +
                                    "): only holes that exist can be accepted");
  }
  out.through = through;

  Etcd etcd(o.etcd, 5, o.tls, o.etcd_auth);
  const std::string key = gap_accepted_key(o, a.shard);
  for (int attempt = 0; attempt < 5; ++attempt) {
    RAGD_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> kv, etcd.get(key));
    uint64_t previous = 0;
    if (kv) {
      const std::string& v = kv->value;
      if (std::from_chars(v.data(), v.data() + v.size(), previous).ec != std::errc()) previous = 0;
    }
    out.previous = previous;
    if (previous >= through) {
      out.through = previous;
      return out;
    }
    const std::string value = std::to_string(through);
    bool put = false;
    if (!kv) {
      RAGD_ASSIGN_OR_RETURN(std::string held, etcd.put_if_absent(key, value));
      put = held == value;
    } else {
      RAGD_ASSIGN_OR_RETURN(put, etcd.put_if_revision(key, value, kv->mod_revision));
    }
    if (put) {
      out.written = true;
      return out;
    }
    // Another operator wrote it meanwhile: look again.
  }
  return Status::unavailable(key + " kept changing under this command; run it again");
}

}  // namespace ragd::cluster
