#include "cluster/fan_out.h"

namespace ragd::cluster {

FanOut::FanOut(size_t threads) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { helper(); });
}

FanOut::~FanOut() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void FanOut::work_on(Batch& b) {
  for (size_t i; (i = b.next.fetch_add(1)) < b.n;) {
    std::exception_ptr error;
    try {
      (*b.fn)(i);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(b.mu);
    if (error && !b.error) b.error = error;
    if (++b.done == b.n) b.cv.notify_all();
  }
}

void FanOut::run(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  auto b = std::make_shared<Batch>();
  b->fn = &fn;
  b->n = n;
  if (n > 1 && !threads_.empty()) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(b);
    }
    for (size_t i = 1; i < n && i <= threads_.size(); ++i) cv_.notify_one();
  }
  work_on(*b);
  std::unique_lock lock(b->mu);
  b->cv.wait(lock, [&] { return b->done == b->n; });
  if (b->error) std::rethrow_exception(b->error);
}

void FanOut::helper() {
  for (;;) {
    std::shared_ptr<Batch> b;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      b = queue_.front();
      // Every part claimed: the batch leaves the queue (its caller and the
      // threads already on it finish it).
      if (b->next.load() >= b->n) {
        queue_.pop_front();
        continue;
      }
    }
    work_on(*b);
  }
}

}  // namespace ragd::cluster
