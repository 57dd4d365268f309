// SerialWorker: one long-lived thread that runs submitted tasks one after
// another, in submission order. The store's commit uses it for the synced
// RocksDB write that overlaps the HNSW inserts, and the Ingestor for the
// store write that overlaps the next batch's preparation; both used to start
// a thread per batch with std::async.
//
// The thread starts with the first submit() and is joined by the destructor,
// after the tasks already queued have run. A task's result, or the exception
// it threw, comes back through the future submit() returns. If the thread
// cannot be started (std::system_error), the task runs on the caller's
// thread instead, so a submit never fails. Unlike std::async's, the future
// does not wait for the task when it is destroyed.
//
// Thread safety: submit() may be called from any thread. Callers must not
// destroy what a queued task references before its future is ready.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace ragd {

class SerialWorker {
 public:
  SerialWorker() = default;
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;
  ~SerialWorker() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  template <class F>
  std::future<std::invoke_result_t<F&>> submit(F&& fn) {
    using R = std::invoke_result_t<F&>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    std::future<R> result = task->get_future();
    {
      std::lock_guard lock(mu_);
      if (!thread_.joinable() && !start_failed_) {
        try {
          thread_ = std::thread([this] { run(); });
        } catch (const std::system_error&) {
          start_failed_ = true;
        }
      }
      if (!start_failed_) {
        queue_.emplace_back([task] { (*task)(); });
        cv_.notify_one();
        return result;
      }
    }
    (*task)();  // no thread: run it here
    return result;
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();  // a packaged_task: it keeps its own exception
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;                        // GUARDED_BY(mu_)
  bool start_failed_ = false;                // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace ragd
