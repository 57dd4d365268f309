// Worker threads for token-by-token generation.
//
// Generating one token runs about eight small parallel steps per layer (the
// q/k/v, output, gate/up and down projections, attention, the activation
// quantisation), each well under 100 us on a 135M model. An OpenMP region per
// step may let idle team threads fall asleep between steps and wake them with
// a futex each time (measured on a quiet machine it was no slower; the pool
// gives the runtime control of waiting and yielding). A ComputePool keeps
// n_threads - 1 workers of its own that spin (with a pause instruction) while
// a Scope is open, i.e. while a session evaluates tokens, plus a short grace
// period after it, and sleep on a condition variable otherwise, so an idle
// server burns no CPU. A waiting thread yields the CPU after a short spin, so
// on an oversubscribed machine it does not steal time from the thread that
// holds the work.
//
// parallel_for() is what kernels call: inside an open Scope on this thread it
// shares the tasks out over the pool (dynamic: each thread takes the next
// index), otherwise it falls back to an OpenMP parallel for. Whole prompts
// (256-token batches) stay on OpenMP and oneDNN, whose regions are long;
// a session's batches of up to 64 tokens (prompt chunks) use the pool.
//
// Thread safety: one ComputePool serves one caller thread at a time (a
// DecoderSession owns one); different pools run side by side.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace ragd {

class ComputePool {
 public:
  // n_threads counts the caller: n_threads - 1 workers are started.
  explicit ComputePool(int n_threads);
  ~ComputePool();
  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  int n_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // While alive, the workers spin waiting for work and parallel_for() on the
  // constructing thread uses this pool. Scopes do not nest across pools.
  class Scope {
   public:
    explicit Scope(ComputePool* pool);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ComputePool* pool_;
    ComputePool* previous_;
  };

  // Runs fn(ctx, i) for every i in [0, n) on all threads, the caller included;
  // returns when every call has returned. A call that throws
  // (std::bad_alloc) does not stop the others: run() waits for them all,
  // then rethrows the first exception on the caller's thread.
  void run(int64_t n, void (*fn)(void*, int64_t), void* ctx);

  // The pool of the innermost open Scope on this thread, or null.
  static ComputePool* current();

 private:
  // Claims the next task of the current job; false when it has none left.
  bool claim(uint64_t* seq, int64_t* index);
  void worker_loop();
  void set_active(bool active);

  std::vector<std::thread> workers_;
  // The current job. Its fields are written before state_ is released with
  // the job's sequence number; a task is claimed by a compare-exchange on
  // state_ that still carries that number, and the caller writes the next job
  // only when every task has finished, so a worker that holds a task always
  // reads its own job's fields, and a late worker can never take a task of a
  // job it has not seen published.
  void (*fn_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  // The first exception a task of the current job threw, for run() to
  // rethrow once every task has finished.
  std::mutex error_mu_;
  std::exception_ptr error_;
  // Runs task `i` of the current job, keeping what it throws.
  void call(void (*fn)(void*, int64_t), void* ctx, int64_t i);
  // seq (32 bits) | task count (16 bits) | next task (16 bits).
  alignas(64) std::atomic<uint64_t> state_{0};
  alignas(64) std::atomic<int64_t> done_{0};  // tasks of the current job finished
  std::atomic<bool> active_{false};           // a Scope is open: spin
  std::atomic<int64_t> idle_since_ns_{0};     // when the last Scope closed
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // guards sleeping (with cv_)
  std::condition_variable cv_;
};

namespace detail {
void omp_parallel_for(int64_t n, int n_threads, void (*fn)(void*, int64_t), void* ctx);
}  // namespace detail

// Calls body(i) for i in [0, n): on the current ComputePool when a Scope is
// open on this thread, else as an OpenMP parallel for over n_threads threads
// (dynamic schedule). Runs inline when there is one task or one thread.
template <class Body>
void parallel_for(int64_t n, int n_threads, Body&& body) {
  if (n <= 0) return;
  auto call = [](void* ctx, int64_t i) { (*static_cast<std::remove_reference_t<Body>*>(ctx))(i); };
  void* ctx = const_cast<void*>(static_cast<const void*>(&body));
  if (ComputePool* pool = ComputePool::current(); pool != nullptr && pool->n_threads() > 1 && n > 1) {
    pool->run(n, call, ctx);
  } else if (n_threads > 1 && n > 1) {
    detail::omp_parallel_for(n, n_threads, call, ctx);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

}  // namespace ragd
