// ClusterOptions: how `ragd serve --cluster FILE` joins a cluster
// (cluster/README.md). The file is TOML, read with CLI11's reader:
//
//   name = "ragd"
//   node_id = "n1"
//   advertise = "http://127.0.0.1:8081"
//   nats = ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
//   etcd = ["http://127.0.0.1:2379"]
//   nodes = ["n1", "n2", "n3"]
//   shards = 8
//   shard_replicas = 2
//   stream_replicas = 3
//   secret_file = "cluster.secret"
//   accept_secret_files = ["cluster.secret.old"]
//   tls_ca_file = "ca.pem"        # with tls:// NATS and https:// etcd URLs
//   tls_cert_file = "node.pem"
//   tls_key_file = "node.key"
//   nats_token_file = "nats.token"  # or nats_user + nats_password_file,
//                                   # nats_creds_file, nats_nkey + nats_nkey_seed_file
//   etcd_user = "ragd"
//   etcd_password_file = "etcd.password"
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ragd/status.h"

namespace ragd::cluster {

// TLS to NATS, etcd and the other nodes (cluster/README.md, "TLS"): PEM
// files. A relative path in the cluster file is relative to it.
struct TlsFiles {
  // The certificate authority that signed the NATS servers', etcd
  // members' and nodes' server certificates. For etcd and the nodes it is
  // the only one trusted; libnats 3.4 trusts the system's store as well.
  // Default: "" = the system's store.
  std::filesystem::path ca_file;
  // This node's client certificate chain and its private key, presented to
  // NATS and etcd, which ask for one when they verify their clients
  // (nats-server --tlsverify, etcd --client-cert-auth): both or neither.
  // Default: "" = none.
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

// How a NATS server that stopped answering is told from a slow one
// (cluster/README.md, "Partitions").
struct NatsSilence {
  // How long a PING may go unanswered before the server counts as silent,
  // ms: a live server answers one in milliseconds, even while JetStream is
  // electing a leader (the PONG comes from its client connection). No PING
  // is sent when an answer to another request came since the unanswered
  // publish was sent (a busy server is not silent): the publish then waits
  // this long again and asks at its next timeout. Default: 1000.
  int64_t silent_after_ms = 1000;
  // While the server is silent, how often it is asked again with a PING
  // (of silent_after_ms), ms; the writes in between are refused at once.
  // Default: 500.
  int64_t silent_recheck_ms = 500;
  // How long a publish waits for its first acknowledgement before the
  // server is sent a PING, ms. Default: 500.
  int64_t first_ack_ms = 500;
  // How often the NATS client pings its server on its own, ms: after two
  // unanswered pings (two to three intervals of silence) it gives the
  // connection up and reconnects, to another server of the cluster if
  // one answers. first_ack_ms + silent_after_ms must be below twice this:
  // else the connection is given up before the node's own PING could tell
  // the silence (the defaults, 1500 ms, need more than 750). Shorter moves
  // off a silent server sooner, at the cost of reconnects from a server
  // merely slow to answer, and only with those two brought down with it.
  // Default: 2000.
  int64_t ping_interval_ms = 2000;
};

// Credentials for NATS other than a client certificate (cluster/README.md,
// "Credentials"): at most one way. The secrets come from files (readable by
// their owner only; a relative path is relative to the cluster file), read
// when the cluster file is read; their contents are never logged.
struct NatsCredentials {
  // A file holding the servers' token (nats-server `authorization { token }`,
  // --auth). Default: "" = none.
  std::filesystem::path token_file;
  // A user of the servers' `authorization` (--user) and the file holding
  // its password: both or neither. Default: "" = none.
  std::string user;
  std::filesystem::path password_file;
  // A credentials file (`nsc generate creds`: the user's JWT and nkey seed),
  // for servers in operator mode; libnats reads it again on each connect.
  // Default: "" = none.
  std::filesystem::path creds_file;
  // A user nkey (its public key, "U...", as the servers' `authorization`
  // lists it) and the file holding its seed ("SU..."): both or neither.
  // Default: "" = none.
  std::string nkey;
  std::filesystem::path nkey_seed_file;
  // token_file's and password_file's contents.
  std::string token, password;
  bool any() const { return !token_file.empty() || !user.empty() || !creds_file.empty() || !nkey.empty(); }
};

// etcd's own users (etcd v3 auth): a user and the file holding its password,
// both or neither. The user's role needs readwrite on the cluster's keys
// (the prefix /ragd/<name>/).
struct EtcdCredentials {
  std::string user;  // Default: "" = etcd without auth
  std::filesystem::path password_file;
  std::string password;  // password_file's contents
};

struct ClusterOptions {
  // Cluster name: prefixes the JetStream streams ("<NAME>_S<shard>") and
  // the etcd keys ("/ragd/<name>/"). [A-Za-z0-9_-]. Default: "ragd".
  std::string name = "ragd";
  // This node's id, one of `nodes`. Required.
  std::string node_id;
  // The base URL other nodes reach this node's HTTP API at. Default: ""
  // = http://<--listen host>:<bound port> (`serve` fills it in once bound;
  // set it when listening on 0.0.0.0 or behind NAT).
  std::string advertise;
  // NATS server URLs (any subset of the JetStream cluster): all tls://
  // (TLS, with `tls`) or none (nats://, or host:port). Required.
  std::vector<std::string> nats;
  // etcd client URLs (any member; the first that answers is used): http://
  // or https:// (TLS, with `tls`). Required.
  std::vector<std::string> etcd;
  // The files for TLS to NATS (tls:// URLs), etcd (https://) and the other
  // nodes (an https:// `advertise`). Default: none (the system's trust
  // store, no client certificate).
  TlsFiles tls;
  // Credentials other than the client certificate. Default: none.
  NatsCredentials nats_auth;
  // Telling a silent NATS server (cluster file: nats_silent_after_ms,
  // nats_silent_recheck_ms, nats_first_ack_ms, nats_ping_interval_ms;
  // defaults in NatsSilence).
  NatsSilence nats_silence;
  EtcdCredentials etcd_auth;
  // Every node of the cluster, in the order the shard map is dealt from.
  // Required; the map is written once to etcd by the first node up.
  std::vector<std::string> nodes;
  // Shards documents are hashed to (cluster/shard.h). Fixed for the
  // cluster's life. Default: 8.
  uint32_t shards = 8;
  // ragd nodes that materialise each shard (capped at nodes.size()).
  // Default: 2.
  uint32_t shard_replicas = 2;
  // JetStream replicas of each shard's stream (1, 3 or 5; needs that many
  // NATS servers). A write is acknowledged once a quorum holds it.
  // Default: 3.
  int stream_replicas = 3;
  // Retention of each shard's stream (JetStream's MaxAge and MaxBytes,
  // applied to existing streams when a node starts): messages older than
  // this many seconds, or the oldest beyond this many bytes per stream,
  // are dropped. A replica that needs dropped messages (a new one, a wiped
  // one, one down for longer) bootstraps from a peer replica's snapshot
  // (cluster/README.md, "Snapshots"); with no peer able to give one it
  // stops at the gap and says so. 0 = keep every message. Default: 0.
  int64_t stream_max_age_seconds = 0;
  int64_t stream_max_bytes = 0;
  // Whether a new or wiped replica (or one whose messages the stream
  // dropped) loads a live peer replica's snapshot of its shard before it
  // applies the stream, rather than replaying the stream from its start
  // (cluster/README.md, "Snapshots"). Default: true.
  bool snapshot_bootstrap = true;
  // etcd lease of a node's liveness key, seconds: a node that stops
  // renewing leaves the read path within this time. Renewed every third of
  // it by a thread that makes no other call than etcd's (none to NATS), so
  // the NATS times need no room within it. Default: 5.
  int lease_ttl_seconds = 5;
  // How long a write waits for JetStream's acknowledgement, ms. Default: 5000.
  int64_t publish_timeout_ms = 5000;
  // How long joining may wait for the JetStream cluster to create the
  // shards' streams (a fresh cluster elects its leaders first), s.
  // Default: 30.
  int join_timeout_seconds = 30;
  // How long a shard's search may take on a replica before it fails, s.
  // Default: 10.
  long search_timeout_seconds = 10;
  // Hedged reads: when the replica asked for a shard's part of a search
  // (statistics, candidates) has not answered within this many ms, the
  // shard's next live replica is asked as well, and the first answer is
  // used. 0: the next replica only after a failure. Default: 200.
  int64_t hedge_after_ms = 200;
  // A search whose fetch phase failed (a replica gone after giving its
  // candidates) runs once more when it failed within this many ms of
  // starting; a slower failure (a timeout) is not run again. 0: never.
  // Default: 1000.
  int64_t search_retry_within_ms = 1000;
  // How long a search with a consistency token (read-your-writes) waits for
  // a replica to apply the token's position of its shard before the next
  // replica is tried (or, with none left, the search fails with 503), ms.
  // Default: 2000.
  int64_t consistency_wait_ms = 2000;
  // How long a node keeps answering for a shard moved away from it (`ragd
  // cluster rebalance`) before it deletes its copy: the other nodes read
  // the new map within a second, and a search they began before that must
  // still find its chunks here: longer than the longest search (three
  // phases of search_timeout_seconds at worst), s. Default: 30.
  int retire_grace_seconds = 30;
  // Automatic rebalancing (cluster/README.md, "Rebalancing"): the nodes
  // give a live node holding less than its share (a node added) its share,
  // and replace the replicas of a node whose lease has been gone for
  // dead_after_seconds, with the moves `ragd cluster rebalance` makes; one
  // node at a time runs them, holding the rebalance lock in etcd. Every
  // node should set the same. Default: false.
  bool auto_rebalance = false;
  // How long a node's lease must have been gone before its replicas are
  // made again elsewhere (with auto_rebalance), s: longer than a restart
  // takes, so a node restarting is not replaced; more than
  // lease_ttl_seconds. Default: 120.
  int dead_after_seconds = 120;
  // How long the absence records count without a node watching them (with
  // auto_rebalance), s: every automatic rebalancer re-puts
  // rebalance/absent-watch under a lease of this TTL at each look (every
  // 2 s); one that finds it gone (every node was down, or cut off from
  // etcd, for this long) starts every absence again from then, so that a
  // whole cluster restarted does not call its not-yet-started nodes dead
  // at once (cluster/README.md, "Rebalancing"). At least 5 (a few looks).
  // Below dead_after_seconds (so that needs at least 6): a stop of every
  // node that outlasts the absences' timers but not the watch would have
  // the first node back call the others dead at its first look. Default: 10.
  int absence_watch_seconds = 10;
  // The file holding the secret every node of the cluster shares (at least
  // 32 bytes; its trailing whitespace is dropped; readable by its owner
  // only). A relative path is relative to the cluster file. With it, a
  // node signs the requests it sends its peers (auth/peer.h) instead of
  // passing the caller's API key on, and its shard replicas answer only
  // signed requests (an admin's GETs aside): a key needs to exist only on
  // the nodes its clients call, and no key can search a shard replica or
  // ask its statistics directly (cluster/README.md, "Between nodes").
  // Default: "" = no secret.
  std::filesystem::path secret_file;
  // Its contents: read by `serve` and `ragd sync --cluster` alone
  // (read_cluster_secrets), so that `ragd cluster status` needs only the
  // cluster file; never logged.
  std::string secret;
  // Files of secrets accepted as well (checked like secret_file), never
  // signed with: a secret is rotated with rolling restarts and no downtime
  // (cluster/README.md, "Between nodes"). Default: none.
  std::vector<std::filesystem::path> accept_secret_files;
  // Their contents, read with `secret`.
  std::vector<std::string> accepted_secrets;
};

// Reads and checks the file, and the credentials' secret files; errors
// name the file and key, never a secret.
Result<ClusterOptions> read_cluster_options(const std::filesystem::path& file);
// Checks the fields (required ones present, counts in range) and the
// options that must hold against each other; an error names both.
Status check_cluster_options(const ClusterOptions& o);
// A secret_file's secret: the file must be a regular file that only its
// owner may read, holding at least auth::kMinPeerSecretBytes bytes.
Result<std::string> read_cluster_secret(const std::filesystem::path& file);
// Fills `o.secret` and `o.accepted_secrets` from its secret_file and
// accept_secret_files (nothing without a secret_file), for the processes
// that talk to the nodes as a peer (`serve`, `ragd sync --cluster`); errors
// name `file`, the cluster file.
Status read_cluster_secrets(ClusterOptions& o, const std::filesystem::path& file);

}  // namespace ragd::cluster
