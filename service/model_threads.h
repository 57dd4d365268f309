// The threads the model runs on. Generation requests wait for their turn
// without holding a thread (api/ admission), but the generation itself runs
// here, on `n` threads started once (n = --max-concurrent). What the model
// keeps per thread (the thread_local activation and tile buffers of
// model/matmul.cpp and model/kv_cache.cpp, and the malloc arena a thread
// allocates from) then exists n times instead of once for every thread that
// ever ran a generation, which made the server's RSS climb under load.
//
// Thread safety: run() may be called from many threads at once.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ragd {

class ModelThreads {
 public:
  explicit ModelThreads(int n);
  // Finishes the work already handed in, then joins.
  ~ModelThreads();
  ModelThreads(const ModelThreads&) = delete;
  ModelThreads& operator=(const ModelThreads&) = delete;

  // Runs `fn` on one of the threads and returns when it has finished; an
  // exception `fn` throws is rethrown here. Waits for a free thread when all
  // are busy (admission normally keeps one free).
  void run(const std::function<void()>& fn);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  struct Job;
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> jobs_;  // guarded by mu_
  bool stop_ = false;      // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace ragd
