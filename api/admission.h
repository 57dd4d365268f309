// Admission for the generation routes: at most `max_concurrent` generations
// run, up to `max_queue` more wait, and beyond that a request is refused at
// once (503 + Retry-After). A waiting request holds no thread: the server
// (server.cpp) parks its session coroutine on a timer that when_running()
// cancels when a slot is handed to it, or that expires at the request's
// deadline (then withdraw() gives the place back, unless the slot came first).
// Slots are handed out in arrival order.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "api/http_types.h"
#include "ragd/status.h"

namespace ragd::api {

class AdmissionQueue;

// A place in the queue, then a running slot; the destructor gives back
// whichever it holds.
class AdmissionTicket {
 public:
  explicit AdmissionTicket(AdmissionQueue* q) : q_(q) {}
  ~AdmissionTicket();
  AdmissionTicket(const AdmissionTicket&) = delete;
  AdmissionTicket& operator=(const AdmissionTicket&) = delete;

  // True once the ticket holds a running slot.
  bool running() const;
  // Calls `wake` once, when the ticket holds a running slot: at once (on
  // this thread) when it already does, else on the thread that frees a slot.
  // `wake` must be cheap and must not call back into the queue.
  void when_running(std::function<void()> wake);
  // Gives the place back if no slot was handed over yet; true when the
  // ticket is running after all (then it keeps the slot).
  bool withdraw();

 private:
  friend class AdmissionQueue;
  AdmissionQueue* q_;
  bool running_ = false;    // guarded by q_->mu_
  bool waiting_ = true;     // guarded by q_->mu_; false once running or withdrawn
  std::function<void()> wake_;  // guarded by q_->mu_
};

class AdmissionQueue {
 public:
  AdmissionQueue(int max_concurrent, int max_queue) : max_concurrent_(max_concurrent), max_queue_(max_queue) {}

  // Takes a running slot when one is free, else a place in the queue;
  // kUnavailable when the queue is full.
  Result<std::shared_ptr<AdmissionTicket>> admit();
  int running() const;
  int waiting() const;

 private:
  friend class AdmissionTicket;
  // REQUIRES: mu_ held. Hands free slots to the oldest waiters; returns the
  // wake callbacks to call once the lock is released.
  std::vector<std::function<void()>> hand_out();

  const int max_concurrent_, max_queue_;
  mutable std::mutex mu_;
  int running_ = 0;                       // guarded by mu_
  std::deque<AdmissionTicket*> waiting_;  // guarded by mu_
};

// What a generation route returns instead of its response: a ticket, the
// request's deadline, and what to answer once admitted or refused. The
// server waits for the slot, then runs admitted() (or refused() with
// kTimeout) on the generation pool.
struct Deferred {
  std::shared_ptr<AdmissionTicket> ticket;
  // time_point::max() = no deadline.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::function<Response()> admitted;
  std::function<Response(const Status&)> refused;
};

}  // namespace ragd::api
