#include "service/triage_retrainer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace ragd {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TriageRetrainer::TriageRetrainer(Store& store, StoredTriage& triage, RetrainOptions options)
    : store_(store), triage_(triage), options_(std::move(options)) {
  status_.interval_seconds = options_.interval_seconds;
}

TriageRetrainer::~TriageRetrainer() { stop(); }

void TriageRetrainer::start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  if (options_.interval_seconds > 0) status_.next_run_ms = now_ms() + options_.interval_seconds * 1000;
  thread_ = std::thread([this] { loop(); });
}

void TriageRetrainer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

TriageRetrainer::Trigger TriageRetrainer::trigger(std::vector<std::string> fields, bool force) {
  std::lock_guard lock(mu_);
  if (status_.running || requested_) return Trigger::kAlreadyRunning;
  requested_ = true;
  requested_fields_ = std::move(fields);
  requested_force_ = force;
  cv_.notify_all();
  return Trigger::kStarted;
}

RetrainStatus TriageRetrainer::status() const {
  std::lock_guard lock(mu_);
  RetrainStatus s = status_;
  s.running = status_.running || requested_;
  return s;
}

bool TriageRetrainer::wait_runs(uint64_t runs, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return status_.runs >= runs; });
}

void TriageRetrainer::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const bool scheduled = status_.next_run_ms > 0;
    auto due = [&] { return scheduled && now_ms() >= status_.next_run_ms; };
    if (scheduled) {
      cv_.wait_until(lock, std::chrono::system_clock::time_point(std::chrono::milliseconds(status_.next_run_ms)),
                     [&] { return stopping_ || requested_ || due(); });
    } else {
      cv_.wait(lock, [&] { return stopping_ || requested_; });
    }
    if (stopping_) break;
    std::vector<std::string> fields = requested_ ? std::move(requested_fields_) : std::vector<std::string>{};
    const bool force = requested_ && requested_force_;
    requested_ = false;
    requested_fields_.clear();
    requested_force_ = false;
    status_.running = true;
    status_.last_start_ms = now_ms();
    lock.unlock();
    std::vector<RetrainFieldResult> results = run(fields, force);
    lock.lock();
    status_.running = false;
    status_.last_end_ms = now_ms();
    status_.last = std::move(results);
    ++status_.runs;
    if (options_.interval_seconds > 0) status_.next_run_ms = status_.last_end_ms + options_.interval_seconds * 1000;
    cv_.notify_all();
  }
}

std::vector<RetrainFieldResult> TriageRetrainer::run(const std::vector<std::string>& asked, bool force) {
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
    o.force = force;
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
