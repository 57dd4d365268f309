// The cluster's log: NATS JetStream through libnats (the only file that
// includes it is jetstream.cpp). One stream per shard, replicated by
// JetStream's own Raft groups; ragd keeps no log of its own.
//
// Thread safety: JetStream's methods may be called from many threads (the
// libnats connection is thread-safe). A PullConsumer is used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/options.h"
#include "ragd/status.h"

namespace ragd::cluster {

// One fetched message; `index` names it to PullConsumer::ack().
struct StreamMessage {
  uint64_t stream_seq = 0;
  std::string data;
  size_t index = 0;
};

// A stream's Raft group as JetStream reports it: the server that leads it
// (takes its writes) and the other replicas.
struct StreamPeer {
  std::string name;      // the nats-server's name (-n)
  bool current = false;  // caught up with the leader
  bool offline = false;
  uint64_t lag = 0;      // operations behind the leader
};
struct StreamHealth {
  uint64_t last_seq = 0;
  // "" while the group has none (no quorum): writes fail. "(one server)"
  // when JetStream is not clustered.
  std::string leader;
  std::vector<StreamPeer> replicas;  // without the leader
};

// A stream's retention (ClusterOptions::stream_max_age_seconds, _bytes):
// 0 = no limit.
struct StreamLimits {
  int64_t max_age_seconds = 0;
  int64_t max_bytes = 0;
};

// The sequences a stream holds now: its first message's and its last
// message's. An empty stream whose messages were all deleted or dropped
// has first = last + 1; one never written to, 0 and 0.
struct StreamBounds {
  uint64_t first = 0;
  uint64_t last = 0;
};

// A message for JetStream::publish_all.
struct OutgoingMessage {
  std::string subject;
  std::string msg_id;  // the Nats-Msg-Id header
  std::string data;
  // Stored only while `subject` holds no message in the stream
  // (Nats-Expected-Last-Subject-Sequence: 0): a document's creation, which
  // a second creation of the same document must not pass
  // (cluster/README.md, "Keyed writes"). Refused: kAlreadyExists.
  bool expect_new_subject = false;
};

class PullConsumer {
 public:
  virtual ~PullConsumer() = default;
  // Up to `max` messages, waiting at most `timeout_ms` for the first; an
  // empty list when none came. Acks of the previous fetch must be done.
  virtual Result<std::vector<StreamMessage>> fetch(int max, int64_t timeout_ms) = 0;
  // Acknowledges a message of the last fetch (fire and forget: a lost ack
  // only means a redelivery, which the applier skips by sequence).
  virtual Status ack(const StreamMessage& m) = 0;
};

class JetStream {
 public:
  // Connects to any of `urls` (and follows the cluster's other servers),
  // reconnecting for ever in the background. tls:// URLs speak TLS,
  // verifying the servers against `tls.ca_file` (else the system's store)
  // and presenting `tls.cert_file` when set; `auth`'s credentials, when
  // set, are sent on every (re)connect. kUnavailable when none answers;
  // kUnauthenticated when the servers refuse the credentials (or ask for
  // some); kInvalidArgument when a TLS or credentials file cannot be loaded.
  static Result<std::unique_ptr<JetStream>> connect(const std::vector<std::string>& urls,
                                                    const std::string& client_name, const TlsFiles& tls = {},
                                                    const NatsCredentials& auth = {},
                                                    const NatsSilence& silence = {});
  virtual ~JetStream() = default;

  // How long the connection to NATS has been down, or its server silent,
  // ms; 0 while it is up and answering. A server that stops answering (a
  // partition, a hung process) counts as silent once a publish got no
  // acknowledgement within first_ack_ms and a PING then no PONG within
  // silent_after_ms (NatsSilence; publish() and publish_all() fail at once
  // from then on, asking again with a PING silent_recheck_ms after the
  // last one ended, as recheck_silence() does); libnats gives the connection up after two
  // unanswered pings of its own (every ping_interval_ms, 2 s by default:
  // 4-6 s) and reconnects to
  // another server of the cluster. One that goes away is noticed at once.
  // Reconnecting (to any server) goes on for ever, and usually takes a
  // fraction of a second.
  virtual int64_t down_for_ms() const = 0;
  // Whether the connection is up but its server known to be silent.
  virtual bool silent() const = 0;
  // While the server is silent (and the connection up), asks it again with
  // a PING of silent_after_ms, silent_recheck_ms after the last PING ended
  // at the soonest (a call sooner, or while another caller's PING is in
  // flight, returns at once); a PONG ends the silence. The connection's own
  // thread calls it every 50 ms, so a silence ends without a write; a
  // caller that refuses writes without publishing calls it too, so that the
  // write after the first PONG goes through. May wait silent_after_ms.
  virtual void recheck_silence() = 0;
  // Creates the stream (file storage, `replicas`, `limits`) unless it
  // exists, taking `subject` and every subject under it (`subject`.*). A
  // stream made with `subject` alone (by an earlier ragd) gets the subjects
  // under it added; an existing stream's retention is set to `limits`.
  virtual Status ensure_stream(const std::string& stream, const std::string& subject, int replicas,
                               const StreamLimits& limits = {}) = 0;
  // Publishes with the Nats-Msg-Id header `msg_id` and waits for the
  // stream's acknowledgement (stored on a quorum of its replicas), retrying
  // with the same id until `timeout_ms` (JetStream drops the duplicates).
  // Returns the message's stream sequence; kUnavailable when no ack came
  // (at once, without waiting for `timeout_ms`, while the server is silent:
  // down_for_ms);
  // kResourceExhausted at once, without retrying, when `data` is over the
  // servers' max_payload. With `expect_new_subject`, as OutgoingMessage's:
  // kAlreadyExists at once when the subject holds a message.
  virtual Result<uint64_t> publish(const std::string& subject, const std::string& msg_id, std::string_view data,
                                   int64_t timeout_ms, bool expect_new_subject = false) = 0;
  // Publishes `msgs` in order without waiting for each acknowledgement (one
  // connection keeps their order), then waits for all of them, at most
  // `timeout_ms` in all. One result per message, in order: its stream
  // sequence, or why it was not acknowledged (kUnavailable; a message over
  // max_payload kResourceExhausted without being sent; kAlreadyExists for
  // an expect_new_subject message whose subject held one). Nothing is retried
  // here: a message that failed may still have been stored, and the caller
  // decides what a retry (publish() with the same id) may reorder.
  virtual std::vector<Result<uint64_t>> publish_all(const std::vector<OutgoingMessage>& msgs,
                                                    int64_t timeout_ms) = 0;
  // The durable pull consumer `durable` of `stream`, (re)created to start
  // at `start_seq` with explicit acks, over every subject of the stream:
  // the applier's own position (kept in its store) decides where delivery
  // starts, so a wiped store replays the stream and a consumer left ahead
  // of the store cannot skip messages.
  virtual Result<std::unique_ptr<PullConsumer>> consume(const std::string& stream, const std::string& durable,
                                                        uint64_t start_seq) = 0;
  // The last message of `stream` on `subject` (index unused), as the
  // stream's leader holds it: every acknowledged publish is in it. nullopt
  // when the subject has none.
  virtual Result<std::optional<StreamMessage>> last_message(const std::string& stream,
                                                            const std::string& subject) = 0;
  // Deletes the durable consumer `durable` of `stream` (a shard replica
  // retired from this node); one that does not exist is not an error.
  virtual Status delete_consumer(const std::string& stream, const std::string& durable) = 0;
  // The names of `stream`'s consumers (the appliers' <node>_s<S>).
  virtual Result<std::vector<std::string>> consumer_names(const std::string& stream) = 0;
  // The last sequence stored in the stream (0 when empty).
  virtual Result<uint64_t> last_sequence(const std::string& stream) = 0;
  // The first and last sequence stored in the stream.
  virtual Result<StreamBounds> stream_bounds(const std::string& stream) = 0;
  // The last sequence, the leader and the replicas (`ragd cluster status`).
  virtual Result<StreamHealth> stream_health(const std::string& stream) = 0;
  // When the stream was created (UTC nanoseconds): its identity. A stream
  // deleted and created again under the same name gets a new one, and its
  // sequences restart at 1.
  virtual Result<int64_t> stream_created(const std::string& stream) = 0;
  // The first message of `stream` on `subject` at or after `from_seq` (index
  // unused); nullopt when there is none. Asked of the stream's leader.
  virtual Result<std::optional<StreamMessage>> next_message(const std::string& stream, const std::string& subject,
                                                            uint64_t from_seq) = 0;
  // Deletes message `seq` of `stream`, its bytes overwritten on the servers'
  // disks (the right to be forgotten). Consumers are not moved: one that
  // had not reached it skips it. One already gone is not an error.
  //
  // Not JetStream's purge by subject: in nats-server 2.9 that moves every
  // consumer whose filter covers the subject (ragd's appliers have none)
  // past everything before the purge point, and a server recovering its
  // Raft log replays it as a purge of the whole stream.
  virtual Status erase_message(const std::string& stream, uint64_t seq) = 0;
  // Deletes the stream and its messages (operators' tooling; tests).
  virtual Status delete_stream(const std::string& stream) = 0;
};

}  // namespace ragd::cluster
