#include "model/compute_pool.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RAGD_PAUSE() _mm_pause()
#else
#define RAGD_PAUSE() std::this_thread::yield()
#endif

namespace ragd {

namespace {

thread_local ComputePool* t_current = nullptr;

// Workers keep spinning this long after the last Scope closed, so the gap
// between two generated tokens (sampling, detokenising, streaming) does not
// put them to sleep.
constexpr int64_t kGraceNs = 2'000'000;
// Pause instructions before a waiting thread starts yielding its CPU (about
// 10-40 us: longer than one step of generation on an idle core, far shorter
// than a scheduler time slice on a busy one).
constexpr int kSpinsBeforeYield = 1024;
constexpr int64_t kMaxTasks = 0xffff;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One step of a wait loop: pause, and after a while give the CPU away.
inline void backoff(int* spins) {
  if (*spins < kSpinsBeforeYield) {
    ++*spins;
    RAGD_PAUSE();
  } else {
    sched_yield();
  }
}

constexpr uint64_t pack(uint64_t seq, uint64_t n, uint64_t next) { return (seq << 32) | (n << 16) | next; }

}  // namespace

ComputePool::ComputePool(int n_threads) {
  const int n_workers = n_threads > 1 ? n_threads - 1 : 0;
  workers_.reserve(static_cast<size_t>(n_workers));
  for (int i = 0; i < n_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ComputePool::~ComputePool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

ComputePool* ComputePool::current() { return t_current; }

ComputePool::Scope::Scope(ComputePool* pool) : pool_(pool), previous_(t_current) {
  t_current = pool;
  if (pool_) pool_->set_active(true);
}

ComputePool::Scope::~Scope() {
  if (pool_) pool_->set_active(false);
  t_current = previous_;
}

void ComputePool::set_active(bool active) {
  if (workers_.empty()) return;
  if (active) {
    if (active_.load(std::memory_order_relaxed)) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_.store(true);
    }
    cv_.notify_all();
  } else {
    idle_since_ns_.store(now_ns(), std::memory_order_relaxed);
    active_.store(false);
  }
}

bool ComputePool::claim(uint64_t* seq, int64_t* index) {
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t n = (s >> 16) & 0xffff, next = s & 0xffff;
    if (next >= n) return false;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      *seq = s >> 32;
      *index = static_cast<int64_t>(next);
      return true;
    }
  }
}

void ComputePool::call(void (*fn)(void*, int64_t), void* ctx, int64_t i) {
  try {
    fn(ctx, i);
  } catch (...) {
    std::lock_guard lock(error_mu_);
    if (!error_) error_ = std::current_exception();
  }
}

void ComputePool::run(int64_t n, void (*fn)(void*, int64_t), void* ctx) {
  if (workers_.empty() || n <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  if (n > kMaxTasks) {  // more tasks than the state word counts: in parts
    struct Part {
      void (*fn)(void*, int64_t);
      void* ctx;
      int64_t base;
    };
    for (int64_t base = 0; base < n; base += kMaxTasks) {
      Part part{fn, ctx, base};
      run(std::min(kMaxTasks, n - base),
          [](void* p, int64_t i) {
            auto* q = static_cast<Part*>(p);
            q->fn(q->ctx, q->base + i);
          },
          &part);
    }
    return;
  }
  const bool was_active = active_.load(std::memory_order_relaxed);
  if (!was_active) set_active(true);  // a run outside a Scope wakes them
  fn_ = fn;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  const uint64_t seq = (state_.load(std::memory_order_relaxed) >> 32) + 1;
  state_.store(pack(seq, static_cast<uint64_t>(n), 0), std::memory_order_release);
  uint64_t s = 0;
  int64_t i = 0;
  int64_t mine = 0;
  while (claim(&s, &i)) {
    call(fn, ctx, i);
    ++mine;
  }
  if (mine != n) {
    done_.fetch_add(mine, std::memory_order_relaxed);
    int spins = 0;
    while (done_.load(std::memory_order_acquire) != n) backoff(&spins);
  }
  if (!was_active) set_active(false);
  std::exception_ptr error;
  {
    std::lock_guard lock(error_mu_);
    error.swap(error_);
  }
  if (error) std::rethrow_exception(error);
}

void ComputePool::worker_loop() {
  int spins = 0;
  for (;;) {
    uint64_t seq = 0;
    int64_t index = 0;
    if (claim(&seq, &index)) {
      call(fn_, ctx_, index);
      done_.fetch_add(1, std::memory_order_release);
      spins = 0;
      continue;
    }
    if (stop_.load(std::memory_order_relaxed)) return;
    if (active_.load(std::memory_order_relaxed) ||
        now_ns() - idle_since_ns_.load(std::memory_order_relaxed) < kGraceNs) {
      backoff(&spins);
      continue;
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      const uint64_t s = state_.load(std::memory_order_acquire);
      return stop_.load() || active_.load() || (s & 0xffff) < ((s >> 16) & 0xffff);
    });
    spins = 0;
  }
}

namespace detail {
void omp_parallel_for(int64_t n, int n_threads, void (*fn)(void*, int64_t), void* ctx) {
  [[maybe_unused]] const int nt = static_cast<int>(std::min<int64_t>(n_threads, n));  // unused where OpenMP is off (TSan builds)
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) fn(ctx, i);
}
}  // namespace detail

}  // namespace ragd
