// Where sync writes. One node's store (StoreTarget, below), or a cluster's
// log: cluster/sync_target.h publishes each page to the shards' streams and
// keeps the cursors in etcd, so any node can carry a source on.
//
// Thread safety: a target serves one pass at a time, but webhooks may write
// through it while a pass runs: implementations take concurrent calls.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "index/store.h"
#include "ingest/pipeline.h"
#include "ragd/document.h"
#include "ragd/embedder.h"
#include "ragd/status.h"

namespace ragd::sync {

struct SyncCounts;

class SyncTarget {
 public:
  virtual ~SyncTarget() = default;

  // A value kept for source `source` (its cursor, the end of its last
  // prune); "" when none was put. A put fails with kFailedPrecondition when
  // this process no longer runs the source's passes (claim()).
  virtual Result<std::string> get_state(const std::string& key) = 0;
  virtual Status put_state(const std::string& source, const std::string& key, const std::string& value) = 0;

  // Stores one page's documents, durable when it returns. A document
  // purged with `ragd purge` is skipped, never stored or sent anywhere
  // (sync/source.h kTombstonePrefix). Adds to counts' added, updated,
  // unchanged and tombstoned as far as the target can tell them apart, and
  // newest_updated_at over the documents it took; a document the target
  // refuses (malformed, over a limit) is passed to `refused` as "<id>:
  // <reason>" and the others are stored. Not ok: the target did not take
  // the page (nothing of it is to be trusted; the cursor must not move).
  virtual Status write(std::vector<Document> docs, SyncCounts& counts,
                       const std::function<void(std::string)>& refused) = 0;
  // Removes a document, durable when it returns; true when it was there
  // (a log that cannot tell says true), false for an id no document can
  // have.
  virtual Result<bool> remove(const std::string& id) = 0;
  // The ids of the documents stored with metadata sync_source = `source`.
  virtual Result<std::vector<std::string>> source_documents(const std::string& source) = 0;

  // Whether this process runs `source`'s passes now. "" when it does;
  // otherwise who does (a cluster elects one node per source). One store:
  // always "".
  virtual Result<std::string> claim(const std::string& source) {
    (void)source;
    return std::string();
  }
  // A verified webhook's replay key (sync/webhook.h) seen for the first
  // time by every process that writes here, within `ttl_seconds`. One
  // process: the scheduler's own ReplayCache decides; true.
  virtual Result<bool> first_sight(const std::string& key, int ttl_seconds) {
    (void)key;
    (void)ttl_seconds;
    return true;
  }
  // Undoes first_sight(key): the event was not applied (its sender retries).
  virtual void forget_sight(const std::string& key) { (void)key; }
  // Who runs `source`'s passes now, read without claiming: "" when this
  // process does. The engine asks before each page and prune.
  virtual Result<std::string> holder(const std::string& source) { return claim(source); }
};

// One store: documents through ingest (Ingestor), removals and state in
// the store itself.
class StoreTarget : public SyncTarget {
 public:
  StoreTarget(Store& store, const Embedder& embedder, IngestOptions ingest);
  Result<std::string> get_state(const std::string& key) override;
  Status put_state(const std::string& source, const std::string& key, const std::string& value) override;
  Status write(std::vector<Document> docs, SyncCounts& counts,
               const std::function<void(std::string)>& refused) override;
  Result<bool> remove(const std::string& id) override;
  Result<std::vector<std::string>> source_documents(const std::string& source) override;

 private:
  Store& store_;
  const Embedder& embedder_;
  IngestOptions ingest_;
};

// The metadata key every synced document carries: its source's name.
inline constexpr const char* kSourceMetadataKey = "sync_source";

}  // namespace ragd::sync
