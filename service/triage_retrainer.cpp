#include "service/triage_retrainer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "ragd/clock.h"

namespace ragd {
namespace {
// The request string of a triggered run (a scheduled one gets "").
constexpr const char* kRequested = "requested";
}  // namespace

std::function<Status(const std::string&, const std::string&, const std::string&)> audit_forced_triage(
    AuditLog& audit, std::string caller) {
  return [&audit, caller = std::move(caller)](const std::string& field, const std::string& version,
                                              const std::string& verdict) {
    AuditRecord rec;
    rec.time_ms = unix_ms();
    rec.request_id = "triage-activate-" + field + "-" + version + "-" + std::to_string(rec.time_ms);
    rec.caller = caller;
    rec.task = "triage_activation";
    rec.query = "activate triage " + field + " " + version;
    rec.outcome = "forced";
    rec.finish_reason = verdict;
    return audit.append(rec);
  };
}

TriageRetrainer::TriageRetrainer(Store& store, StoredTriage& triage, RetrainOptions options)
    : store_(store),
      triage_(triage),
      options_(std::move(options)),
      job_(options_.interval_seconds, [this](const std::string& request) {
        std::vector<std::string> fields;
        bool force = false, activate = true;
        std::string caller = "schedule";
        if (request == kRequested) {
          std::lock_guard lock(mu_);
          fields = std::move(requested_fields_);
          force = requested_force_;
          activate = requested_activate_;
          caller = std::move(requested_caller_);
          requested_fields_.clear();
          requested_force_ = false;
          requested_activate_ = true;
          requested_caller_.clear();
        }
        std::vector<RetrainFieldResult> results = run(fields, force, caller, activate);
        std::lock_guard lock(mu_);
        last_ = std::move(results);
        return std::string();  // per-field errors are in last_
      }) {}

TriageRetrainer::~TriageRetrainer() { job_.stop(); }

TriageRetrainer::Trigger TriageRetrainer::trigger(std::vector<std::string> fields, bool force, std::string caller,
                                                  bool activate) {
  // Held across the job's trigger, so the run it starts reads these.
  std::lock_guard lock(mu_);
  std::vector<std::string> before = std::exchange(requested_fields_, std::move(fields));
  const bool force_before = std::exchange(requested_force_, force);
  const bool activate_before = std::exchange(requested_activate_, activate);
  std::string caller_before = std::exchange(requested_caller_, std::move(caller));
  if (!job_.trigger(kRequested)) {
    requested_fields_ = std::move(before);
    requested_force_ = force_before;
    requested_activate_ = activate_before;
    requested_caller_ = std::move(caller_before);
    return Trigger::kAlreadyRunning;
  }
  return Trigger::kStarted;
}

RetrainStatus TriageRetrainer::status() const {
  const JobStatus j = job_.status();
  RetrainStatus s;
  s.running = j.running;
  s.interval_seconds = j.interval_seconds;
  s.last_start_ms = j.last_start_ms;
  s.last_end_ms = j.last_end_ms;
  s.next_run_ms = j.next_run_ms;
  s.runs = j.runs;
  std::lock_guard lock(mu_);
  s.last = last_;
  return s;
}

Status TriageRetrainer::change_models(const std::function<Status()>& change) {
  std::unique_lock lock(models_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return Status::already_exists("a triage training run is running; try again after it ends");
  RAGD_RETURN_IF_ERROR(change());
  return triage_.reload(store_).with_context("stored, but the server could not load the models; the previous ones "
                                             "keep serving");
}

std::vector<RetrainFieldResult> TriageRetrainer::run(const std::vector<std::string>& asked, bool force,
                                                     const std::string& caller, bool activate) {
  std::lock_guard models(models_mu_);
  std::vector<std::string> fields = asked.empty() ? options_.fields : asked;
  if (fields.empty()) {
    for (const auto& m : triage_.served()) fields.push_back(m.field);
  }
  std::vector<RetrainFieldResult> out;
  for (const std::string& field : fields) {
    RetrainFieldResult r;
    r.field = field;
    triage::TrainOptions o = options_.train;
    o.field = field;
    o.activate = activate;
    // Without an audit log to record it, a worse model is not forced in.
    o.force = force && options_.audit != nullptr;
    if (o.force) o.before_forced_activation = audit_forced_triage(*options_.audit, caller.empty() ? "http" : caller);
    const auto t0 = std::chrono::steady_clock::now();
    auto report = triage::train_field(store_, o);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!report.is_ok()) {
      r.error = report.status().to_string();
      spdlog::warn("triage retrain of '{}': {}", field, r.error);
      out.push_back(std::move(r));
      continue;
    }
    r.version = report->version;
    r.previous = report->previous;
    r.activated = report->activated;
    r.decision = report->decision;
    r.chosen = report->eval.chosen;
    r.examples = report->eval.examples;
    for (const auto& f : report->eval.families) {
      if (f.family == report->eval.chosen) r.accuracy = f.test.accuracy;
    }
    spdlog::info("triage retrain of '{}': version {} on {} examples, {} ({})", field, r.version, r.examples,
                 r.activated ? "activated" : "kept, not served", r.decision);
    out.push_back(std::move(r));
  }
  if (std::any_of(out.begin(), out.end(), [](const RetrainFieldResult& r) { return r.activated; })) {
    if (Status s = triage_.reload(store_); !s.is_ok()) {
      spdlog::error("triage retrain: reloading the models failed, the previous ones keep serving: {}", s.to_string());
      for (auto& r : out) {
        if (r.activated) r.error = "activated, but the server could not load it: " + s.to_string();
      }
    }
  }
  return out;
}

}  // namespace ragd
