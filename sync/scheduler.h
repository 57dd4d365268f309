// The sync scheduler of `ragd serve`: every [[source]] runs on its interval
// on its own background thread (one pass per source at a time, never two),
// can be triggered now (POST /v1/sources/{name}/sync), and receives the
// source's signed webhooks. Keeps each source's state in memory beside the
// durable cursor, for GET /v1/sources and /metrics.
//
// A pass that stops (401/403, retries exhausted) keeps its error in the
// state and the source is tried again at the next interval.
//
// Thread safety: every public method may be called from any thread.
// stop() (or the destructor) ends running passes at their next page or
// retry wait and joins the threads; the cursor stays at the last durable page.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "index/store.h"
#include "ingest/pipeline.h"
#include "ragd/embedder.h"
#include "ragd/status.h"
#include "sync/engine.h"
#include "sync/http.h"
#include "sync/source.h"
#include "sync/webhook.h"

namespace ragd::sync {

struct SchedulerOptions {
  IngestOptions ingest;
  HttpOptions http;
  WebhookOptions webhook;
  // Run each source's first pass at start (true) or one interval after it.
  // Default: true.
  bool run_at_start = true;
  // Where passes and webhooks write (sync/target.h), kept by the caller.
  // Null: the scheduler's store, through ingest with the current encoder.
  // A cluster node gives its log (cluster/sync_target.h): only the node
  // that claims a source runs its passes; the others look again every
  // claim_retry_seconds (or the source's interval when shorter), so one
  // takes over once the claimant's lease is gone.
  SyncTarget* target = nullptr;
  int64_t claim_retry_seconds = 10;
};

// One source as GET /v1/sources shows it. Times are unix milliseconds, 0 =
// never. No secrets.
struct SourceStatus {
  std::string name;
  std::string type;
  std::string url;
  int64_t interval_seconds = 0;
  bool webhook = false;           // a webhook secret is configured and loaded
  // On a cluster node: the node that runs this source's passes, when it is
  // another one ("" here, or on one node). Passes are not run here then.
  std::string synced_by;
  bool running = false;
  bool running_full = false;      // the running (or requested) pass prunes
  int64_t last_start_ms = 0;
  int64_t last_end_ms = 0;
  int64_t last_success_ms = 0;    // end of the last pass that finished ok
  int64_t next_run_ms = 0;
  SyncCounts last_counts;         // of the last finished pass
  std::string last_error;         // "" when the last pass finished ok
  std::vector<std::string> last_record_errors;  // failed records of the last pass (first 20)
  // Pruning (id-only listing, SyncEngine::prune; or a full pass): when the
  // last one ended (kept in the store, so a restart does not prune again at
  // once), what it removed, its error ("" when it finished ok), and when the
  // next is due (0: prune_interval is 0).
  int64_t last_prune_ms = 0;
  uint64_t last_prune_deleted = 0;
  std::string last_prune_error;
  int64_t next_prune_ms = 0;
  // The stored cursor (JSON), "" before the first page. With a target
  // other than the store (a cluster), as of the last pass or claim look.
  std::string cursor;
  // Since the server started: passes and webhooks together.
  SyncCounts totals;
  uint64_t passes = 0;
  uint64_t errors = 0;            // passes that stopped with an error
  uint64_t webhooks_applied = 0;
  uint64_t webhooks_refused = 0;  // bad signature, old or replayed
  int64_t newest_record_at = 0;   // the source's update time of the newest record stored (unix s)
};

struct WebhookOutcome {
  std::string event;     // the vendor's event name
  std::string action;    // "upserted", "deleted", "ignored"
  std::string id;        // the document id acted on
  SyncCounts counts;
  std::vector<std::string> errors;  // a malformed record
};

class Scheduler {
 public:
  // The current encoder (it may change during a background reindex); null
  // when none is loaded (passes then fail with a clear error).
  using EmbedderFn = std::function<const Embedder*()>;

  // `store` and what `embedder` returns must outlive the scheduler. Webhook
  // secrets are read from each source's webhook_secret_env here.
  Scheduler(Store& store, EmbedderFn embedder, std::vector<SourceConfig> sources, SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts one thread per source. Call once.
  void start();
  // Ends running passes at their next page or wait, joins. Idempotent.
  void stop();

  // kElsewhere: another cluster node runs this source's passes
  // (SourceStatus::synced_by names it); ask that one.
  enum class Trigger { kStarted, kAlreadyRunning, kUnknown, kElsewhere };
  enum class PassKind {
    kIncremental,  // from the cursor; then a prune if one is due
    kPrune,        // from the cursor, then an id-only prune now
    kFull,         // from an empty cursor, removing what it did not see
  };
  // Asks for a pass now. kElsewhere puts the node that runs the source's
  // passes in `holder` (when not null).
  Trigger trigger(const std::string& name, PassKind kind, std::string* holder = nullptr);

  std::vector<SourceStatus> status() const;
  size_t size() const { return slots_.size(); }
  // Waits until `name` has finished at least `passes` passes. False on timeout.
  bool wait_passes(const std::string& name, uint64_t passes, std::chrono::milliseconds timeout) const;

  // A webhook for source `name`: verifies it (kUnauthenticated), reads the
  // event (kInvalidArgument), then upserts or deletes at once through the
  // poller's mapping. kNotFound: no such source, or it has no webhook secret.
  Result<WebhookOutcome> webhook(const std::string& name, const Headers& headers, const std::string& body);

 private:
  struct Slot {
    SourceConfig config;
    std::string webhook_secret;
    std::thread thread;
    // Guarded by mu_:
    bool running = false;
    bool requested = false;
    PassKind requested_kind = PassKind::kIncremental;
    SyncEngine* engine = nullptr;  // the running pass's engine
    SourceStatus state;
  };
  void loop(Slot& slot);
  // The target a pass or webhook writes to: options_.target, or a
  // StoreTarget over store_ with `embedder` (not null then; kept in `own`).
  SyncTarget& target_for(const Embedder* embedder, std::unique_ptr<SyncTarget>& own);
  Slot* find(const std::string& name);
  const Slot* find(const std::string& name) const;

  Store& store_;
  EmbedderFn embedder_;
  SchedulerOptions options_;
  ReplayCache replay_;
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // a pass ended, a trigger, or stop
  bool stopping_ = false;               // guarded by mu_
  bool started_ = false;
};

}  // namespace ragd::sync
