// Triage retraining inside `ragd serve`. The serving process holds the
// RocksDB store (one process per store), so `ragd triage train` cannot run
// beside it; this runs the same training (triage::train_field) on a
// background thread of the server, on a schedule (--triage-retrain) and on
// request (POST /v1/triage/train), then reloads the models that ticket
// assist serves. A new version is activated only when its held-out metrics
// are not worse than the active one (train_field decides and says why); a
// forced run that activates a worse one records it in the audit log first.
//
// Thread safety: every public method may be called from any thread; one
// training run at a time. stop() (or the destructor) waits for a running
// field to finish (a field takes seconds to a minute; it is not cancelled
// halfway, so nothing half-trained is stored).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "generate/audit_log.h"
#include "index/store.h"
#include "ragd/status.h"
#include "service/periodic_job.h"
#include "service/ticket_assist.h"
#include "triage/trainer.h"

namespace ragd {

struct RetrainOptions {
  // Fields retrained by a scheduled run or a request that names none.
  // Empty: the fields that have an active model when the run starts.
  std::vector<std::string> fields;
  // Seconds between scheduled runs; 0: only on request. Default: 0.
  int64_t interval_seconds = 0;
  // Settings of every run (the field is set per run).
  triage::TrainOptions train;
  // Where a forced activation of a worse model is recorded before it serves
  // (audit_forced_triage); null: a forced run activates only models that
  // are not worse. Must outlive the retrainer.
  AuditLog* audit = nullptr;
};

// A TrainOptions::before_forced_activation that appends to `audit` a record
// with task "triage_activation", outcome "forced", the caller, query
// "activate triage FIELD VERSION" and the verdict in finish_reason.
std::function<Status(const std::string&, const std::string&, const std::string&)> audit_forced_triage(
    AuditLog& audit, std::string caller);

// One field of a run.
struct RetrainFieldResult {
  std::string field;
  std::string error;      // "" when it trained (activated or not)
  std::string version;    // the stored version
  std::string previous;   // the version serving before
  bool activated = false;
  std::string decision;   // why (not) activated
  std::string chosen;     // the model family
  double accuracy = 0;    // held-out accuracy of the chosen family
  size_t examples = 0;
  double seconds = 0;
};

// GET /v1/triage. Times are unix milliseconds, 0 = never.
struct RetrainStatus {
  bool running = false;
  int64_t interval_seconds = 0;
  int64_t last_start_ms = 0;
  int64_t last_end_ms = 0;
  int64_t next_run_ms = 0;  // 0: no schedule
  uint64_t runs = 0;
  std::vector<RetrainFieldResult> last;  // the fields of the last finished run
};

class TriageRetrainer {
 public:
  // `store` and `triage` must outlive this.
  TriageRetrainer(Store& store, StoredTriage& triage, RetrainOptions options);
  ~TriageRetrainer();
  TriageRetrainer(const TriageRetrainer&) = delete;
  TriageRetrainer& operator=(const TriageRetrainer&) = delete;

  // Starts the background thread (the first scheduled run one interval
  // after start). Call once.
  void start() { job_.start(); }
  void stop() { job_.stop(); }

  enum class Trigger { kStarted, kAlreadyRunning };
  // A run now over `fields` (empty: RetrainOptions::fields, else the served
  // fields); `force` activates even a worse model (recorded in the audit
  // log for `caller`, the API key's name); `activate` false stores the new
  // versions as candidates without serving them (force is then moot).
  Trigger trigger(std::vector<std::string> fields, bool force, std::string caller = "", bool activate = true);
  // Runs `change` (an activation written to the store, POST
  // /v1/triage/activate), then reloads what serves. One at a time with
  // training runs: while one runs, kAlreadyExists and `change` is not
  // called. `change`'s error is returned as is (nothing reloaded); a reload
  // error leaves the current models serving.
  Status change_models(const std::function<Status()>& change);
  RetrainStatus status() const;
  // Waits until `runs` runs have finished. False on timeout.
  bool wait_runs(uint64_t runs, std::chrono::milliseconds timeout) const {
    return job_.wait_runs(runs, timeout);
  }

 private:
  std::vector<RetrainFieldResult> run(const std::vector<std::string>& fields, bool force, const std::string& caller,
                                      bool activate);

  Store& store_;
  StoredTriage& triage_;
  // Held by a training run and by change_models(): what serves changes
  // through one of them at a time.
  std::mutex models_mu_;
  RetrainOptions options_;
  mutable std::mutex mu_;
  // Guarded by mu_: what trigger() asked for, taken by the run it starts.
  std::vector<std::string> requested_fields_;
  bool requested_force_ = false;
  bool requested_activate_ = true;
  std::string requested_caller_;
  std::vector<RetrainFieldResult> last_;  // guarded by mu_
  // Last: its thread runs run(); stopped before the members above go.
  PeriodicJob job_;
};

}  // namespace ragd
