// FanOut: runs the parts of one step of a search (one per shard) side by
// side on threads kept for it. A thread made per part cost more than the
// part: each new thread zeroes ragd's thread-local storage, and a 1-node,
// 8-shard search made 24 of them (perf: two thirds of its CPU time).
//
// The caller works on its own parts too and idle threads help, so a
// search never waits for the threads to be free: with every thread busy
// the caller runs all its parts itself.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ragd::cluster {

class FanOut {
 public:
  explicit FanOut(size_t threads);
  ~FanOut();
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;

  // Runs fn(0), ..., fn(n - 1), on this thread and idle helpers, and
  // returns when all have returned; then rethrows the first exception a
  // part threw, if one did. Thread-safe: searches call it side by side.
  void run(size_t n, const std::function<void(size_t)>& fn);

 private:
  struct Batch {
    const std::function<void(size_t)>* fn = nullptr;
    size_t n = 0;
    std::atomic<size_t> next{0};  // the next part to claim
    std::mutex mu;
    std::condition_variable cv;
    size_t done = 0;                // guarded by mu
    std::exception_ptr error;       // the first part's exception; guarded by mu
  };
  // Claims and runs parts of `b` until none is left.
  static void work_on(Batch& b);
  void helper();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Batch>> queue_;  // batches with parts left; guarded by mu_
  bool stop_ = false;                          // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace ragd::cluster
