// SyncEngine: one pass over one source. Pages come from the vendor client,
// documents go through ingest (Ingestor), and after each page is durable the
// cursor is written (Store::put_state), so a crash replays at most one page,
// which the content hash turns into no-ops: nothing skipped, nothing twice.
//
// Thread safety: an engine runs one pass at a time (run() is not reentrant);
// engines for different sources may run on different threads over one Store
// (`serve` can give each source a thread later). `stop` ends a pass at the
// next page or retry wait; the cursor stays at the last durable page.
// Inside a pass, the next page is fetched and mapped on a second thread
// while the current one is ingested.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "index/store.h"
#include "ingest/pipeline.h"
#include "ragd/embedder.h"
#include "ragd/status.h"
#include "sync/http.h"
#include "sync/source.h"
#include "sync/target.h"
#include "sync/vendor.h"

namespace ragd::sync {

struct SyncCounts {
  uint64_t fetched = 0;    // records read from the source
  uint64_t added = 0;      // documents new to the store
  uint64_t updated = 0;    // documents whose content changed
  uint64_t unchanged = 0;  // same content hash: nothing written
  uint64_t deleted = 0;    // removed (vendor marker or prune)
  uint64_t failed = 0;     // malformed records and rejected documents
  uint64_t tombstoned = 0; // skipped: purged with `ragd purge` (sync/source.h kTombstonePrefix)
  uint64_t pages = 0;
  uint64_t retries = 0;    // HTTP retries (429/503/5xx/timeouts)
  // The source's own update time of the newest record stored (unix seconds,
  // 0: none), for the lag metric.
  int64_t newest_updated_at = 0;
};

struct SyncResult {
  Status status;                    // not ok: the pass stopped (401/403, retries exhausted, store error)
  SyncCounts counts;
  std::vector<std::string> errors;  // one line per failed record (first 1,000)
  std::string cursor;               // the stored cursor after the pass (JSON)
};

struct SyncRunOptions {
  // Start from an empty cursor and, at the end of the pass, remove every
  // document of this source that the pass did not see (pruning). Default: false.
  bool full = false;
  // Stop after this many pages (0: no limit); for tests. Default: 0.
  uint64_t max_pages = 0;
};

// The store key of a source's cursor.
std::string cursor_key(const std::string& source_name);
// The store key of the end of a source's last prune that finished (unix
// milliseconds, decimal): SyncEngine::prune and full passes write it.
std::string prune_key(const std::string& source_name);

class SyncEngine {
 public:
  // Writes to `target` (kept by the caller: a cluster's log, a store).
  explicit SyncEngine(SyncTarget& target, HttpOptions http = {});
  // Writes to one store (a StoreTarget of its own).
  SyncEngine(Store& store, const Embedder& embedder, IngestOptions ingest = {}, HttpOptions http = {});

  SyncResult run(const SourceConfig& source, const SyncRunOptions& options = {});

  // Stores a page's documents (with the source's acl_groups and metadata
  // sync_source) and removes its deletions, durable when it returns; moves
  // no cursor. run() calls it per page; webhooks call it for one record.
  // The page's documents are moved out (to the target).
  // Counts are added to `counts`, rejected documents' lines to `errors`.
  // Not ok when the store failed (nothing of the page should be trusted).
  Status apply(const SourceConfig& source, Page& page, SyncCounts& counts, std::vector<std::string>& errors);

  // Pruning without a full pass: lists the ids the source holds now
  // (VendorClient::list_ids, a few bytes per record) and removes this
  // source's stored documents that the listing left out. Nothing is
  // removed when the listing fails or stops, or when the removals would
  // exceed the source's prune_max_fraction (kFailedPrecondition). Counts: fetched = ids listed,
  // pages, deleted. Moves no cursor.
  SyncResult prune(const SourceConfig& source);

  // Called after every page (on the caller's thread).
  std::function<void(const SourceConfig&, const SyncCounts&, std::optional<uint64_t> total)> on_page;
  // Set from another thread to stop the pass at the next page or wait.
  std::atomic<bool> stop{false};
  // Replaces HttpClient::sleep (tests record the waits instead of sleeping).
  std::function<bool(int64_t ms)> sleep_override;

 private:
  // Gives `http` the source's credentials and a sleep that ends early on
  // `stop` or `halt`.
  Status connect(const SourceConfig& source, HttpClient& http, const std::atomic<bool>& halt);
  // ok while the target still gives this process `source`'s passes
  // (SyncTarget::claim), else kFailedPrecondition naming who has them.
  Status still_claimed(const SourceConfig& source);
  // Removes the documents of `source` whose ids are not in `listed`.
  Status remove_unlisted(const SourceConfig& source, const std::set<std::string>& listed, double max_fraction,
                         SyncCounts& counts);

  std::unique_ptr<SyncTarget> own_target_;  // the second constructor's
  SyncTarget& target_;
  HttpOptions http_;
};

}  // namespace ragd::sync
