// A background job of `ragd serve` that runs on a schedule and on request:
// triage retraining (triage_retrainer.h), the evaluation suite
// (--eval-interval) and retention (--retention-interval).
// One run at a time on the job's own thread; a request while one runs is
// refused (the caller answers 409), so runs never pile up.
//
// Thread safety: every public method may be called from any thread. stop()
// (or the destructor) waits for a running run to finish: a run is not cut
// halfway, so what it stores is whole.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ragd {

// Times are unix milliseconds, 0 = never.
struct JobStatus {
  bool running = false;
  int64_t interval_seconds = 0;  // 0: only on request
  int64_t last_start_ms = 0;
  int64_t last_end_ms = 0;
  int64_t next_run_ms = 0;  // 0: no schedule
  uint64_t runs = 0;
  uint64_t failures = 0;     // runs that returned an error
  std::string last_request;  // what the last run was asked ("" = the scheduled default)
  std::string last_error;    // "" when the last run succeeded
};

class PeriodicJob {
 public:
  // `run(request)` does one run ("" for a scheduled one) and returns "" or
  // the error. It runs on the job's thread.
  using Run = std::function<std::string(const std::string& request)>;
  PeriodicJob(int64_t interval_seconds, Run run);
  ~PeriodicJob();
  PeriodicJob(const PeriodicJob&) = delete;
  PeriodicJob& operator=(const PeriodicJob&) = delete;

  // Starts the thread; the first scheduled run comes one interval later.
  void start();
  void stop();
  // A run now with `request`; false when one is running or asked already.
  bool trigger(std::string request);
  JobStatus status() const;
  // Waits until `runs` runs have finished. False on timeout.
  bool wait_runs(uint64_t runs, std::chrono::milliseconds timeout) const;

 private:
  void loop();

  Run run_;
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  // Guarded by mu_:
  bool stopping_ = false;
  bool started_ = false;
  bool requested_ = false;
  std::string request_;
  JobStatus status_;
};

}  // namespace ragd
