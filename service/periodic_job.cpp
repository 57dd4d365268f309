#include "service/periodic_job.h"

#include "ragd/clock.h"

namespace ragd {

PeriodicJob::PeriodicJob(int64_t interval_seconds, Run run) : run_(std::move(run)) {
  status_.interval_seconds = interval_seconds;
}

PeriodicJob::~PeriodicJob() { stop(); }

void PeriodicJob::start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  if (status_.interval_seconds > 0) status_.next_run_ms = unix_ms() + status_.interval_seconds * 1000;
  thread_ = std::thread([this] { loop(); });
}

void PeriodicJob::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PeriodicJob::trigger(std::string request) {
  std::lock_guard lock(mu_);
  if (status_.running || requested_) return false;
  requested_ = true;
  request_ = std::move(request);
  cv_.notify_all();
  return true;
}

JobStatus PeriodicJob::status() const {
  std::lock_guard lock(mu_);
  JobStatus s = status_;
  s.running = status_.running || requested_;
  return s;
}

bool PeriodicJob::wait_runs(uint64_t runs, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return status_.runs >= runs; });
}

void PeriodicJob::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const bool scheduled = status_.next_run_ms > 0;
    auto due = [&] { return scheduled && unix_ms() >= status_.next_run_ms; };
    if (scheduled) {
      cv_.wait_until(lock, std::chrono::system_clock::time_point(std::chrono::milliseconds(status_.next_run_ms)),
                     [&] { return stopping_ || requested_ || due(); });
    } else {
      cv_.wait(lock, [&] { return stopping_ || requested_; });
    }
    if (stopping_) break;
    std::string request = requested_ ? std::move(request_) : std::string();
    requested_ = false;
    request_.clear();
    status_.running = true;
    status_.last_start_ms = unix_ms();
    status_.last_request = request;
    lock.unlock();
    std::string error = run_(request);
    lock.lock();
    status_.running = false;
    status_.last_end_ms = unix_ms();
    status_.last_error = std::move(error);
    if (!status_.last_error.empty()) ++status_.failures;
    ++status_.runs;
    if (status_.interval_seconds > 0) status_.next_run_ms = status_.last_end_ms + status_.interval_seconds * 1000;
    cv_.notify_all();
  }
}

}  // namespace ragd
