// A ragd node in a cluster (cluster/README.md): the write path publishes to
// the shard's JetStream stream, appliers materialise the owned shards into
// local stores, membership and the shard map live in etcd, and any node
// coordinates a search across one live replica per shard.
//
// Thread safety: every public method may be called from many threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cluster/options.h"
#include "cluster/shard_search.h"
#include "ingest/pipeline.h"
#include "ragd/document.h"
#include "ragd/search.h"
#include "ragd/status.h"
#include "service/collections.h"

namespace ragd::sync {
class HttpClient;
}  // namespace ragd::sync

namespace ragd::cluster {

class JetStream;
class Etcd;
class FanOut;
class HttpClientPool;
class StatsCache;
class SnapshotServer;
class AutoRebalancer;
struct PeerLink;
struct WriteMessage;
struct OutgoingMessage;

// A replica on its way from node `from` to node `to` (`ragd cluster
// rebalance`, rebalance.h): `to` bootstraps the shard by replaying its
// stream while `from` keeps serving it, reports ready in etcd
// (ready_key), and the rebalancer then switches the map; `from` retires its
// copy retire_grace_seconds later. `id` names this move alone.
struct ShardMove {
  uint32_t shard = 0;
  std::string from, to, id;
};

// The revisioned shard map: replicas[shard] = the node ids that serve it.
// Dealt and written to etcd by the first node up; changed only by the
// rebalancer (compare-and-swap on its revision); every node follows it.
struct ShardMap {
  int64_t revision = 0;  // etcd mod_revision of the map key
  std::vector<std::vector<std::string>> replicas;
  std::vector<ShardMove> moves;  // pending: `to` is not in replicas yet
  // The shards `node` materialises: those it serves and those moving to it.
  std::vector<uint32_t> shards_of(const std::string& node) const;
};

// Deals `shards` shards round-robin over `nodes`, `per_shard` replicas each
// (capped at nodes.size()): shard s goes to nodes s, s+1, ... (mod N).
ShardMap deal_shard_map(const std::vector<std::string>& nodes, uint32_t shards, uint32_t per_shard);
std::string shard_map_to_json(const ShardMap& m);
Result<ShardMap> shard_map_from_json(const std::string& text, uint32_t shards);

// Node id -> advertised URL of the nodes whose lease is alive, from etcd.
Result<std::map<std::string, std::string>> read_live_nodes(Etcd& etcd, const ClusterOptions& o);
// The shard map in etcd with its revision; kNotFound when no node has
// written one yet.
Result<ShardMap> read_shard_map(Etcd& etcd, const ClusterOptions& o);

// The JetStream stream of shard `s` ("<name>_S<s>").
std::string stream_name(const ClusterOptions& o, uint32_t s);

// The subject of document `doc_id`'s writes in its shard's stream
// ("ragd.<name>.shard.<s>.<first 32 hex digits of sha256(id)>"): one per
// document, so that the log can say what a document holds now
// (Node::current_acls).
std::string document_subject(const ClusterOptions& o, const std::string& doc_id);

// The collection that holds shard `s` on a node ("shard-<s>").
std::string shard_collection(uint32_t s);
// True for the names shard_collection() makes ("shard-" and anything): on a
// cluster node those collections are written by the appliers alone.
bool is_shard_collection(std::string_view name);
// The shard a collection named by shard_collection() holds; nullopt for
// any other name.
std::optional<uint32_t> shard_number(std::string_view name);
// The etcd key prefix of the cluster ("/ragd/<name>/").
std::string etcd_prefix(const ClusterOptions& o);
// The key of the shard map, and the key under which node `node` says it has
// caught up with shard `shard` for a move (value: the move's id; under the
// node's lease).
std::string shard_map_key(const ClusterOptions& o);
std::string ready_key(const ClusterOptions& o, uint32_t shard, const std::string& node);
// The durable JetStream consumer of node `node` for shard `shard`.
std::string consumer_name(const std::string& node, uint32_t shard);
// Gaps in a shard's stream (cluster/README.md, "Gaps"). A purge records
// each message it erases under erased_key() before erasing it, so that an
// applier meeting the hole knows it for a purge's. An operator accepts the
// other holes of shard `shard` up to a sequence by putting that sequence
// (decimal) under gap_accepted_key(): missing messages at or below it no
// longer stop the appliers.
std::string erased_key(const ClusterOptions& o, uint32_t shard, uint64_t seq);
std::string gap_accepted_key(const ClusterOptions& o, uint32_t shard);

struct ShardStatus {
  uint32_t shard = 0;
  uint64_t applied = 0;   // last stream sequence written to the local store
  uint64_t failures = 0;  // apply attempts that failed (retried)
  // Keyed writes this replica refused to make since the node started: the
  // document they replace or delete has an ACL the writer's groups do not
  // cover (cluster/README.md, "Keyed writes"). Every replica refuses the
  // same ones.
  uint64_t refused = 0;
  std::string last_error;
  // The stream's last sequence as the applier last read it (about once a
  // second while it runs), 0 before the first read: stream_last - applied
  // is how far this replica is behind.
  uint64_t stream_last = 0;
  // The read before that, a second or more earlier: what a healthy replica
  // has applied by now (its `behind` is measured against it).
  uint64_t stream_last_before = 0;
  int64_t stream_read_ms = 0;  // steady clock, ms, of the last read; 0 before the first
  // A gap: the stream lacks messages gap_first..gap_last, right after
  // `applied`, that no purge erased and no operator accepted. The applier
  // stopped there (it applies nothing past them, so this replica stays
  // behind and is never called level) and retries; 0 and 0 when not stopped.
  uint64_t gap_first = 0, gap_last = 0;
  // Gaps met since the node started, accepted ones included (each counted
  // once, however often the applier retries it).
  uint64_t gaps = 0;
  // Messages a purge erased that this applier stepped over (no gap).
  uint64_t erased_skipped = 0;
  // "serving" (in the map), "joining" (a move to this node: bootstrapping,
  // not searched) or "retiring" (moved away: still answers the peers that
  // have not read the new map, deleted after retire_grace_seconds).
  // The peer snapshot this copy was loaded from since the node started
  // (cluster/README.md, "Snapshots"): the peer's node id ("" when none)
  // and the sequence the snapshot had applied; and the snapshots this
  // applier tried and refused or could not get (a corrupted or truncated
  // transfer, a peer behind or gone).
  std::string snapshot_from;
  uint64_t snapshot_sequence = 0;
  uint64_t snapshot_failures = 0;
  // Files of that snapshot verified in an earlier transfer that failed
  // half way, kept rather than fetched again.
  uint64_t snapshot_kept_files = 0;
  // Why the last snapshot this applier asked for was not loaded, for the
  // operator ("" once one was): a peer's refusal says what to set (the
  // cluster secret), the others name the peer and the check that failed.
  std::string snapshot_error;
  std::string role = "serving";
  // The applier's durable consumer is gone from the NATS servers (a
  // rebalancer deleted it after the map gave this replica to another node
  // while this node could not read the map): the copy applies nothing more
  // until the map, read again, retires it or names this node for the shard
  // (then the consumer is made again from the store's position).
  bool consumer_deleted = false;
};

// A node's automatic rebalancer (ClusterOptions::auto_rebalance,
// auto_rebalance.h) as it stands, for /v1/stats and /metrics.
struct AutoRebalanceStatus {
  bool enabled = false;
  bool running = false;  // this node runs a rebalance now (it holds the lock)
  // Why this node's current (or last) run started: "node n5 joined: ...",
  // "node n3 dead: ...", "resuming 2 pending move(s)".
  std::string reason;
  std::vector<std::string> steps;  // that run's steps as `ragd cluster rebalance` prints them (the last 50)
  std::string last_result;         // how the last run ended ("" while the first runs)
  // Who held the rebalance lock at the last look: a node id (this one while
  // it runs), "cli-<host>-<pid>" for an operator's run, "" for nobody; and
  // whether --cancel paused the automatic rebalancers.
  std::string held_by;
  bool paused = false;
  uint64_t runs = 0;      // runs this node started
  uint64_t switched = 0;  // moves those runs switched
  // Nodes the map names whose lease is gone: seconds since the first node
  // saw them go (their absence record's timer in etcd, auto_rebalance.h);
  // `dead` ones (dead_after_seconds or more) have their replicas made
  // again elsewhere.
  std::map<std::string, int64_t> absent_seconds;
  std::vector<std::string> dead;
};

// Read-your-writes. A write answers with a consistency token, the stream
// positions it reached: "<shard>:<sequence>" joined by commas, one per shard
// written, the highest sequence of each. A search given the token is
// answered only by replicas that have applied at least that far.
using StreamPositions = std::map<uint32_t, uint64_t>;
std::string format_consistency_token(const StreamPositions& at);
// kInvalidArgument when malformed or naming a shard >= `shards`.
Result<StreamPositions> parse_consistency_token(std::string_view token, uint32_t shards);

// The write path's check of one document before it is published, against
// the ingest options the appliers use (limits, chunker and its max_chunks):
// a document the applier would refuse must not be acknowledged. Normalises
// `doc` in place. kInvalidArgument or kResourceExhausted naming the limit.
Status check_publishable(Document& doc, const IngestOptions& options);

// A keyed caller's part in a write (cluster/README.md, "Keyed writes"): the
// caller's groups, which must cover the ACL of each document the write
// replaces or deletes. nullopt: an unrestricted writer (an admin, or a
// node without keys).
using WriterGroups = std::optional<std::vector<std::string>>;

class Node {
 public:
  // Joins the cluster: connects to NATS and etcd, creates the shards'
  // streams, writes the shard map unless one exists, registers this node
  // under a lease, opens the owned shards' stores (collections "shard-<s>"
  // of `collections`) and starts one applier thread per owned shard. From
  // then on it reads the map every second and follows it: an applier for a
  // shard moved here, retirement of one moved away (cluster/README.md,
  // "Rebalancing"). kUnavailable when NATS or etcd cannot be reached.
  static Result<std::unique_ptr<Node>> start(ClusterOptions options, Collections& collections);
  // A writer to the cluster that is not one of its nodes (`ragd sync
  // --cluster`): it connects to NATS and etcd and holds a lease of its own,
  // but registers no URL, holds no shard and applies nothing, so it needs
  // no store. write(), remove(), the sync calls (cursor, claims, purged,
  // documents_where over the nodes) work as a node's; search() does not.
  // It claims as "sync-<host>-<pid>" (node_id is replaced), never as the
  // node whose cluster file it was given, so a node running the same
  // source and this process cannot both think they hold its claim.
  // `ingest`: the options the appliers use (the write path checks each
  // document against them). kFailedPrecondition when no node has written
  // the shard map yet; kUnavailable when NATS or etcd cannot be reached.
  static Result<std::unique_ptr<Node>> start_writer(ClusterOptions options, IngestOptions ingest);
  // Stops the appliers and the lease keepalive (the lease then expires; a
  // writer's is revoked, so its claims go at once).
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // The write path. Each document is normalised, checked against the
  // ingest limits and published to its shard's stream; a document counts as
  // ingested once JetStream acknowledged it (durable on a quorum). Each
  // shard's documents are pipelined in request order, the shards side by
  // side; one left unacknowledged is resent until publish_timeout_ms, never
  // after a later write of the same document (a document's writes keep
  // their order). One that stays unacknowledged puts its status in
  // store_error (kUnavailable, HTTP 503; the first such document in request
  // order), `errors` names every document not acknowledged, the others stay
  // acknowledged. consistency_token names the positions of the
  // acknowledged ones.
  // A keyed caller's documents carry `writer` to the appliers, which
  // write one only when the groups cover the ACL of the stored document it
  // replaces (the HTTP layer checked that first, with current_acls()).
  // With `skip_tombstoned` (a sync source's write), the appliers skip a
  // document purged before (WriteMessage::skip_tombstoned).
  // The documents whose ids are in `creating` (the caller's lookup found
  // their subjects empty: current_acls' `never_written`) are published as
  // creations (OutgoingMessage::expect_new_subject): when another write of
  // the document reached the log first, that one is refused, named in
  // `errors`, and store_error is kAlreadyExists (HTTP 409) unless an
  // earlier document in request order failed otherwise.
  IngestStats write(std::vector<Document> docs, const WriterGroups& writer = std::nullopt,
                    bool skip_tombstoned = false, const std::set<std::string>& creating = {});
  // Publishes the deletion of `doc_id`; its consistency token once
  // acknowledged. With `writer`, as write().
  Result<std::string> remove(const std::string& doc_id, const WriterGroups& writer = std::nullopt);
  // The right to be forgotten (cluster/README.md, "Purge"): publishes a
  // purge of `doc_id`, which every replica of its shard applies as
  // govern::purge_document does on one node (removed, files compacted, a
  // tombstone), then deletes the document's earlier messages from the
  // stream. Its consistency token once both are done; kUnavailable when
  // either fails (the message names which: a purge whose earlier messages
  // stayed in the log is to be repeated).
  Result<std::string> purge(const std::string& doc_id);
  // Called by an applier after it purged a document (serve clears the LLM's
  // prompt-prefix cache, which may hold its passages), and on every node,
  // with "", at the look (every second, with the shard map's) that first
  // sees a purge that any node took since the last, and at the one after
  // it (a replica that was still applying the purge at the first may have
  // served its passages again). Thread-safe.
  void set_purge_listener(std::function<void(const std::string&)> listener);
  // The ACL each document of `ids` has now, in order; nullopt for one that
  // does not exist (never written, or deleted). Read from the log, not a
  // replica, as its shard's stream leader holds it, so every acknowledged
  // write counts, applied or not: the last message on the document's
  // subject, or, when a keyed writer's (which the replicas may have
  // refused), the subject's messages replayed as the appliers decide them.
  // The shards side by side. kUnavailable when a stream cannot be read. A
  // document written before the log had one subject per document is not
  // found here, nor one whose messages the stream's retention dropped; the
  // appliers' own check still holds for them. With `never_written`, it
  // says for each id whether its subject holds no message at all (never
  // written, or dropped: a write of it is a creation), as against a
  // document deleted or purged.
  Result<std::vector<std::optional<std::vector<std::string>>>> current_acls(const std::vector<std::string>& ids,
                                                                            std::vector<bool>* never_written = nullptr);
  // Waits until this node has applied shard `shard` up to `sequence`, at
  // most `timeout`. kUnavailable when it has not by then (naming how far it
  // got), kFailedPrecondition when it does not apply that shard.
  Status wait_applied(uint32_t shard, uint64_t sequence, std::chrono::milliseconds timeout);

  // The read path (coordinator.cpp): `request` (with the caller's groups
  // bound) answered over every shard as one store holding all their
  // documents would answer it, in three phases over one replica per shard
  // (shard_search.h): BM25 statistics summed over the shards, each shard's
  // candidates scored with them and fused here, then the chunks walked in
  // fused order for near-duplicate removal. A shard this node materialises
  // is searched in process (a request to ourselves over HTTP would need a
  // second route worker while this one waits: as many concurrent searches
  // as workers would stall); the others get the request with the phase's
  // fields POSTed to /v1/collections/shard-<s>/search on one live replica,
  // one request per peer and phase for all the shards it is asked for,
  // signed with the cluster secret, or else with `authorization` passed on
  // (the next replica when one fails in the first two phases). kUnavailable when a shard has no replica that
  // answers: never a partial result. With `after` (a parsed consistency
  // token), a shard is answered only by a replica that has applied its
  // position, waiting up to consistency_wait_ms. A search whose fetch
  // fails on the replica its candidates came from (killed between the
  // phases) runs once more when it failed within search_retry_within_ms:
  // its phases then pass over that replica (marked as a hedge marks a
  // slow one). No other failure is retried.
  Result<std::vector<Hit>> search(const SearchRequest& request, const std::string& authorization,
                                  const StreamPositions& after = {});
  // A document's chunks from its shard (a replica held here, else a live
  // peer), for an answer: empty when it is gone or `request`'s groups do
  // not let the caller see it.
  Result<std::vector<Chunk>> chunks_of(const SearchRequest& request, const std::string& doc_id,
                                       const std::string& authorization, const StreamPositions& after = {});
  // A document as stored, from its shard (a replica held here, else a live
  // peer), for ticket assist: nullopt when it is gone or `request`'s groups
  // do not let the caller see it. Both read, with `after`, only from a
  // replica that has applied its position for the document's shard.
  Result<std::optional<Document>> document_of(const SearchRequest& request, const std::string& doc_id,
                                              const std::string& authorization, const StreamPositions& after = {});
  // The three as a KnowledgeReader for the answer and ticket paths (valid
  // while this node and `authorization` live).
  KnowledgeReader reader(const std::string& authorization, const StreamPositions& after = {});

  // Sync on a cluster (cluster/sync_target.h, cluster/README.md "Sync").
  // A source's value kept in etcd under <prefix>sync/<key>; "" when none.
  Result<std::string> sync_state(const std::string& key);
  // Fenced by the claim: written only while this node holds source
  // `source`'s claim, else kFailedPrecondition (another node runs its
  // passes now; the pass that asked must stop).
  Status put_sync_state(const std::string& source, const std::string& key, const std::string& value);
  // Claims the passes of source `source` for this node, under its lease (so
  // the claim goes with the node): "" when this node holds the claim, else
  // the id of the node that does.
  Result<std::string> claim_source(const std::string& source);
  // Who holds source `source`'s claim now, read without claiming: "" when
  // this node does, "(nobody)" when no node does.
  Result<std::string> claim_holder(const std::string& source);
  // Which of `ids` were purged through this cluster (Node::purge records
  // each in etcd before it publishes the purge), for sync to leave out
  // before it publishes: a purged document's text must not reach the log
  // again.
  Result<std::vector<bool>> purged(const std::vector<std::string>& ids);
  // Whether `key` is seen here for the first time in the cluster within
  // `ttl_seconds` or more (etcd, under a lease shared by the keys of a few
  // minutes): a webhook replayed to another node is refused there too.
  // forget_sight() deletes it again (best effort).
  Result<bool> first_sight(const std::string& key, int ttl_seconds);
  void forget_sight(const std::string& key);
  // The ids of the documents with metadata `key` = `value`, over every
  // shard (one replica each, as a search): what a sync source stored, for
  // its pruning. kUnavailable when a shard has no replica that answers.
  Result<std::vector<std::string>> documents_where(const std::string& key, const std::string& value);

  // Registers this node's URL (under its lease) when the cluster file left
  // `advertise` empty: `serve` calls it once it knows the port it bound.
  Status set_advertise(const std::string& url);

  // The stream sequence this node has applied to `shard`; 0 when it does
  // not apply it.
  uint64_t applied_sequence(uint32_t shard) const;
  // That, and how far behind the stream's end (as the applier last read
  // it) it is: shard_search.h's ShardPosition.
  ShardPosition position(uint32_t shard) const;
  // The coordinator's BM25 statistics per shard (coordinator.cpp): read
  // from a replica, taken from the cache, and found stale after the fact
  // (a replica answered phase 2 at another sequence: phase 1 ran again).
  struct StatsCounts {
    uint64_t read = 0, cached = 0, stale = 0;
  };
  StatsCounts stats_counts() const {
    return {stats_reads_.load(), stats_cached_.load(), stats_stale_.load()};
  }
  // Hedged reads (ClusterOptions::hedge_after_ms): requests sent to a
  // shard's next replica because the one asked was slow, and how many of
  // those answered first.
  struct HedgeCounts {
    uint64_t sent = 0, won = 0;
  };
  HedgeCounts hedge_counts() const { return {hedges_sent_.load(), hedges_won_.load()}; }
  // Requests the searches sent to peers for phases 1 to 3 (one per peer
  // and phase however many of its shards it is asked for), hedges
  // included.
  uint64_t peer_requests() const { return peer_requests_.load(); }
  // Searches run a second time (search()).
  uint64_t search_retries() const { return search_retries_.load(); }
  // The peer's side of a search phase (shard_search.h): the shards held
  // here, each once it has applied `after`'s position for it (waiting up to
  // consistency_wait_ms), answered side by side on the searches' threads.
  ShardAccess shard_access(const StreamPositions& after);

  // The peer's side of a snapshot of shard `shard` (cluster/snapshot.h):
  // `body` names the phase (kSnapshotPhase, kSnapshotReadPhase,
  // kSnapshotClosePhase). The caller admits only the cluster's nodes and
  // admins. kNotFound when this node holds no copy of the shard.
  Result<std::string> answer_snapshot_phase(uint32_t shard, const std::string& body);

  // The live nodes as last read from etcd (each lease renewal, and by
  // searches), and whether that read answered: for /metrics, without a call.
  struct LiveView {
    size_t nodes = 0;
    bool etcd_ok = false;
  };
  LiveView live_view() const;
  // Whether this node can take writes and keep its view of the cluster:
  // its NATS connection is up (writes are refused at once when it has been
  // down for longer than publish_timeout_ms), and its last etcd read
  // answered. For /healthz; no call is made.
  struct Health {
    bool nats_connected = false;
    bool writes_refused = false;  // cut off for longer than publish_timeout_ms
    bool etcd_ok = false;
    // No renewal of the node's etcd lease answered for lease_ttl_seconds:
    // the lease has lapsed (or may have), so the other nodes count this one
    // out, and after dead_after_seconds make its replicas elsewhere
    // (cluster/README.md, "Partitions").
    bool lease_lapsed = false;
    // Shards whose applier stopped at a gap in the stream (ShardStatus).
    std::vector<uint32_t> stopped_at_gap;
  };
  Health health() const;

  // For /v1/stats: the node, the shard map and each owned shard's applier.
  const ClusterOptions& options() const { return options_; }
  ShardMap shard_map() const;
  std::vector<ShardStatus> shard_status() const;
  // The automatic rebalancer's state (`enabled` false without auto_rebalance).
  AutoRebalanceStatus auto_rebalance_status() const;

 private:
  // `collections`: null for a writer (start_writer).
  Node(ClusterOptions options, Collections* collections);
  Status join();
  Status join_as_writer();
  // A delete or purge (`what`) of `doc_id` may be published: a valid id,
  // and a connection to NATS.
  Status check_removal(const std::string& doc_id, const std::string& what);
  // The NATS connection has been down, or its server silent, for longer
  // than a publish may wait.
  bool cut_off_from_nats() const;
  // cut_off_from_nats(), after asking a silent server again (a PING, at
  // most every nats_silent_recheck_ms): writes refused here call no
  // publish(), which would otherwise be what asks it.
  bool refuses_writes();
  // Why writes are refused: the connection lost, or its server silent.
  std::string cut_off_reason() const;
  void keepalive_loop();
  // Reads the purges key and calls the purge listener when it changed
  // since the last look, and at the look after (set_purge_listener).
  void notice_purges();
  // Reads the shard map every second and calls follow_map().
  void watch_loop();
  // Makes this node's appliers match the map: starts the ones of shards
  // that are (or are moving) here, marks the others retiring and retires
  // those whose grace is over (stops the applier, deletes the consumer and
  // the collection). Collections shard-<s> left on disk that the map does
  // not give this node are deleted. The first error, after doing the rest.
  Status follow_map();
  // For each move to this node whose shard it has applied to the stream's
  // end: its ready key in etcd (again each second until the map switches;
  // the ones of finished moves are deleted).
  void report_ready();
  // Every node of `nodes` but this one has a live lease (the searches'
  // cached list of live nodes).
  bool replicas_live(const std::vector<std::string>& nodes);
  // No renewal of the etcd lease answered for lease_ttl_seconds (Health).
  bool lease_lapsed() const;
  // The shard map was read from etcd within lease_ttl_seconds and gives
  // this node shard `s` (serving or joining). A rebalancer deletes a
  // node's consumer only after its lease expired, so a map read since then
  // is the map that came after the deletion.
  bool map_gives_here(uint32_t s) const;
  // This node's copy of shard `s` was applied from the shard's current
  // stream (or applied nothing), so the stream can rebuild it.
  bool rebuildable(uint32_t s);
  // An applier stops when `quit` (or the node's stop_) is set. It first
  // bootstraps its copy from a peer's snapshot when that helps
  // (bootstrap_from_peer).
  void apply_loop(uint32_t shard, const std::atomic<bool>& quit);
  // One run of the applier over the shard's copy, from its bootstrap on;
  // true when it wants to start again from a bootstrap (a hole the
  // stream's retention made, which a peer's snapshot can fill).
  bool apply_shard(uint32_t shard, const std::atomic<bool>& quit);
  // A copy that has applied nothing while the stream holds messages, or
  // whose next message the stream no longer holds, is replaced by a
  // snapshot of a live peer replica that is level with the stream
  // (snapshot.h), each peer of the map tried in turn. True when one was
  // loaded; false when none was needed or none could be had (the applier
  // replays the stream then). Called by the applier before it opens the
  // store.
  bool bootstrap_from_peer(uint32_t shard, const std::function<bool()>& stopping);
  // Held by the applier of `shard` while it applies a batch, and by a
  // snapshot while it reads the applied sequence and makes its checkpoint:
  // the checkpoint falls between two batches.
  std::shared_ptr<std::mutex> batch_mutex(uint32_t shard);
  // Whether the applier of `shard`, having applied `applied`, may apply
  // message `next` (> applied + 1): ok when every message between was erased
  // by a purge (erased_key) or is accepted (gap_accepted_key). Else
  // kFailedPrecondition naming the gap, which is noted in status_ (logged
  // once); kUnavailable when etcd cannot say.
  Status check_gap(uint32_t shard, uint64_t applied, uint64_t next);
  // `m` as a message for its document's subject, with a Nats-Msg-Id of its own.
  OutgoingMessage outgoing(const WriteMessage& m);
  // Publishes `m`, retrying until publish_timeout_ms (JetStream::publish).
  Result<uint64_t> publish(const WriteMessage& m);
  // Readies a client for requests to peers: signed with the cluster secret
  // when there is one (auth/peer.h), else carrying the caller's
  // `authorization` on.
  void authorise(sync::HttpClient& http, const std::string& authorization) const;
  // Node id -> advertised URL of the nodes whose lease is alive (with etcd
  // away, the last list read: empty if none was).
  std::map<std::string, std::string> live_nodes();
  // Reads them from etcd now (the keepalive thread does, each renewal).
  Result<std::map<std::string, std::string>> refresh_live_nodes();
  // chunks_of(), document_of() and documents_where(): shard `s` answers
  // `local` on a replica held here, else a live peer request_body(token)
  // (read by `remote`), with `after`'s position for that shard.
  template <class T>
  Result<T> from_shard(uint32_t s, const std::string& authorization, const StreamPositions& after,
                                const std::function<Result<T>(const ServiceContext&)>& local,
                                const std::function<std::string(const std::string&)>& request_body,
                                const std::function<Result<T>(const std::string&)>& remote);
  // What a search's requests to its peers need of this node, for the
  // caller `authorization` (coordinator.cpp).
  PeerLink peer_link(const std::string& authorization);
  // How busy a peer looks from here, lowest first: 1,000,000 while a hedge
  // recently answered before it (for 5 s), plus this node's requests in
  // flight to it now. A search asks the least of a shard's replicas first.
  int64_t load_of(const std::string& url) const;
  // One attempt of search(); `fetch_failed` (may be null) is set when the
  // fetch phase failed.
  Result<std::vector<Hit>> search_once(const SearchRequest& request, const std::string& authorization,
                                       const StreamPositions& after, bool* fetch_failed);
  // Runs fn(s) for every shard s side by side (fan_out_); the first error
  // in shard order.
  Status for_each_shard(const std::function<Status(uint32_t)>& fn);

  ClusterOptions options_;
  Collections* collections_;  // null for a writer, which holds no shard
  std::unique_ptr<JetStream> js_;
  std::unique_ptr<Etcd> etcd_;
  mutable std::mutex map_mu_;
  ShardMap map_;  // guarded by map_mu_; replaced by watch_loop
  IngestOptions ingest_;  // the collections' ingest options; fixed after join()
  std::string write_nonce_;  // per process: part of each Nats-Msg-Id
  std::atomic<uint64_t> write_counter_{0};
  int64_t lease_ = 0;     // guarded by lease_mu_
  // Steady ms of the last lease grant or renewal that answered, and of the
  // last read of the shard map that answered (watch_loop).
  std::atomic<int64_t> lease_renewed_ms_{0}, map_read_ms_{0};
  std::string advertise_;  // guarded by lease_mu_; "" until known
  std::mutex lease_mu_;
  std::atomic<bool> stop_{false};
  std::thread keepalive_;
  std::thread watcher_;
  // The running appliers, each with its own stop flag. Touched by join()
  // and then by the watcher thread alone (and the destructor once it ended).
  struct Applier {
    std::atomic<bool> quit{false};
    std::thread thread;
  };
  std::map<uint32_t, std::unique_ptr<Applier>> appliers_;
  std::map<uint32_t, std::chrono::steady_clock::time_point> retiring_;  // shard -> when it goes; watcher only
  std::map<uint32_t, std::string> ready_sent_;  // shard -> move id of a ready key written; watcher only
  std::set<uint32_t> retire_held_;  // shards whose deletion waits (warned once); watcher only
  int64_t leftovers_checked_at_ = -1;  // map revision of the last look for leftover copies; watcher only
  mutable std::mutex status_mu_;
  std::condition_variable applied_cv_;      // notified when an applied sequence moves
  std::map<uint32_t, ShardStatus> status_;  // guarded by status_mu_
  mutable std::mutex live_mu_;
  std::map<std::string, std::string> live_;  // guarded by live_mu_
  int64_t live_read_ms_ = 0;                 // guarded by live_mu_
  int64_t live_failed_ms_ = 0;               // the last read that failed; guarded by live_mu_
  bool live_etcd_ok_ = false;                // the last read answered; guarded by live_mu_
  std::unique_ptr<FanOut> fan_out_;          // the searches' helper threads
  std::unique_ptr<FanOut> write_fan_out_;    // the writes' (shards published side by side)
  std::unique_ptr<HttpClientPool> peers_;    // the searches' HTTP clients, kept with their connections
  std::unique_ptr<StatsCache> stats_cache_;  // the shards' BM25 statistics (phase 1)
  std::unique_ptr<SnapshotServer> snapshots_;  // the checkpoints served to peers
  std::unique_ptr<AutoRebalancer> auto_rebalancer_;  // with auto_rebalance; made last by join()
  // Held while a shard's copy is fetched from a peer: one transfer at a
  // time per node, so a node bootstrapping many shards neither floods its
  // peers (each serves kMaxSnapshotsServed at once) nor its own disk.
  std::mutex bootstrap_mu_;
  std::map<uint32_t, std::shared_ptr<std::mutex>> batch_mu_;  // guarded by status_mu_
  std::mutex purge_listener_mu_;
  std::function<void(const std::string&)> purge_listener_;  // guarded by purge_listener_mu_
  // The purges key's mod_revision at the last look (-1: not read yet), and
  // whether the listener is due once more; watch_loop's alone after join()
  // read the first.
  int64_t purges_seen_ = -1;
  bool purge_again_ = false;
  std::atomic<uint64_t> stats_reads_{0}, stats_cached_{0}, stats_stale_{0};
  std::atomic<uint64_t> hedges_sent_{0}, hedges_won_{0}, peer_requests_{0}, search_retries_{0};
  std::mutex seen_lease_mu_;
  int64_t seen_lease_ = 0, seen_lease_until_ms_ = 0;  // first_sight's lease; guarded by seen_lease_mu_
  mutable std::mutex load_mu_;
  std::map<std::string, int> in_flight_;  // peer URL -> this node's requests to it now; guarded by load_mu_
  // Peer URL -> until when (steady ms) it is asked last: a hedge answered
  // before it. Guarded by load_mu_.
  std::map<std::string, int64_t> slow_until_;
};

}  // namespace ragd::cluster
