#include "generate/session_pool.h"

#include <utility>

namespace ragd {

SessionPool::Lease::~Lease() {
  if (pool_ && session_) pool_->release(std::move(session_));
}

SessionPool::SessionPool(std::shared_ptr<const Generator> generator, SessionPoolOptions options)
    : generator_(std::move(generator)), options_(std::move(options)) {}

Result<SessionPool::Lease> SessionPool::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<DecoderSession> s = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(s));
    }
  }
  // Made outside the lock: allocating a KV cache takes milliseconds.
  RAGD_ASSIGN_OR_RETURN(std::unique_ptr<DecoderSession> s, generator_->new_session(options_.session));
  std::lock_guard lock(mu_);
  ++created_;
  return Lease(this, std::move(s));
}

void SessionPool::release(std::unique_ptr<DecoderSession> s) {
  s->reset();
  std::unique_lock lock(mu_);
  if (static_cast<int>(idle_.size()) < options_.capacity) {
    idle_.push_back(std::move(s));
    return;
  }
  lock.unlock();
  // Over capacity: freed here, outside the lock.
}

int SessionPool::idle() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(idle_.size());
}

int SessionPool::created() const {
  std::lock_guard lock(mu_);
  return created_;
}

}  // namespace ragd
