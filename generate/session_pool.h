// A bounded pool of reusable decoder sessions (KV cache + batch scratch)
// over one shared Generator.
//
// A fresh DecoderSession allocates its KV cache (n_layer x 2 x n_ctx x
// kv_dim f16: 11.8 MB for a SmolLM2-135M-shaped model at 512 positions) and
// grows its batch scratch (1.5 MB for 64-token prompt chunks), which costs
// 7-10 ms before every answer, and freeing them again afterwards leaves
// blocks of that size for glibc to keep or hand back. A server runs at most
// `max_concurrent` generations at once, so it keeps that many sessions and
// reuses them: acquire() hands out an idle session (reset to an empty
// context) or makes one when none is idle; a Lease gives it back when it
// ends. At most `capacity` idle sessions are kept; one released while that
// many are idle is freed, so the memory held never exceeds
// capacity + (sessions in use) sessions.
//
// A reused session computes exactly what a fresh one does: reset() empties
// the context, and attention reads only the positions the current request
// has written.
//
// Thread safety: acquire(), idle() and created() may be called from many
// threads at once; a Lease (and its session) belongs to one thread at a time.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "model/generator.h"

namespace ragd {

struct SessionPoolOptions {
  // Idle sessions kept for reuse; 0 = none (every acquire() makes a fresh
  // session, the behaviour before the pool). Set it to the number of
  // generations that run at once. Default: 1.
  int capacity = 1;
  // Options of every session the pool makes (context size, threads, batch).
  DecoderSessionOptions session;
};

class SessionPool {
 public:
  // A session on loan; returned to the pool (reset) when the Lease ends.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : pool_(o.pool_), session_(std::move(o.session_)) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    DecoderSession& operator*() const { return *session_; }
    DecoderSession* operator->() const { return session_.get(); }
    DecoderSession* get() const { return session_.get(); }

   private:
    friend class SessionPool;
    Lease(SessionPool* pool, std::unique_ptr<DecoderSession> s) : pool_(pool), session_(std::move(s)) {}
    SessionPool* pool_ = nullptr;
    std::unique_ptr<DecoderSession> session_;
  };

  SessionPool(std::shared_ptr<const Generator> generator, SessionPoolOptions options);
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // An empty session (n_past() == 0): an idle one when there is one, else a
  // new one. Never blocks on other leases (the admission queue bounds how
  // many run at once). Errors: a new session's KV cache cannot be mapped
  // (Generator::new_session()).
  Result<Lease> acquire();

  int idle() const;
  // Sessions made since construction (a measure of reuse).
  int created() const;
  const SessionPoolOptions& options() const { return options_; }

 private:
  void release(std::unique_ptr<DecoderSession> s);

  std::shared_ptr<const Generator> generator_;
  const SessionPoolOptions options_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<DecoderSession>> idle_;  // guarded by mu_
  int created_ = 0;                                    // guarded by mu_
};

}  // namespace ragd
