#include "service/model_threads.h"

#include <algorithm>
#include <exception>

namespace ragd {

struct ModelThreads::Job {
  const std::function<void()>* fn = nullptr;
  std::exception_ptr error;
  bool done = false;  // guarded by ModelThreads::mu_
};

ModelThreads::ModelThreads(int n) {
  for (int i = 0; i < std::max(1, n); ++i) threads_.emplace_back([this] { loop(); });
}

ModelThreads::~ModelThreads() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ModelThreads::run(const std::function<void()>& fn) {
  Job job;
  job.fn = &fn;
  std::unique_lock lock(mu_);
  jobs_.push_back(&job);
  cv_.notify_all();
  cv_.wait(lock, [&] { return job.done; });
  if (job.error) std::rethrow_exception(job.error);
}

void ModelThreads::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stop_ and nothing left
    Job* job = jobs_.front();
    jobs_.pop_front();
    lock.unlock();
    try {
      (*job->fn)();
    } catch (...) {
      job->error = std::current_exception();
    }
    lock.lock();
    job->done = true;
    cv_.notify_all();
  }
}

}  // namespace ragd
