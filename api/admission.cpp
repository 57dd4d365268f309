#include "api/admission.h"

#include <algorithm>
#include <string>


namespace ragd::api {

Result<std::shared_ptr<AdmissionTicket>> AdmissionQueue::admit() {
  std::lock_guard lock(mu_);
  const int waiting = static_cast<int>(waiting_.size());
  if (running_ < max_concurrent_ && waiting == 0) {
    auto t = std::make_shared<AdmissionTicket>(this);
    t->running_ = true;
    t->waiting_ = false;
    ++running_;
    return t;
  }
  if (running_ + waiting >= max_concurrent_ + max_queue_) {
    return Status::unavailable("generation queue full: " + std::to_string(running_) + " running, " +
                               std::to_string(waiting) + " waiting");
  }
  auto t = std::make_shared<AdmissionTicket>(this);
  waiting_.push_back(t.get());
  return t;
}

std::vector<std::function<void()>> AdmissionQueue::hand_out() {
  std::vector<std::function<void()>> wakes;
  while (running_ < max_concurrent_ && !waiting_.empty()) {
    AdmissionTicket* t = waiting_.front();
    waiting_.pop_front();
    t->waiting_ = false;
    t->running_ = true;
    ++running_;
    if (t->wake_) wakes.push_back(std::move(t->wake_));
    t->wake_ = nullptr;
  }
  return wakes;
}

int AdmissionQueue::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

int AdmissionQueue::waiting() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(waiting_.size());
}

bool AdmissionTicket::running() const {
  std::lock_guard lock(q_->mu_);
  return running_;
}

void AdmissionTicket::when_running(std::function<void()> wake) {
  {
    std::lock_guard lock(q_->mu_);
    if (!running_) {
      wake_ = std::move(wake);
      return;
    }
  }
  wake();
}

bool AdmissionTicket::withdraw() {
  std::lock_guard lock(q_->mu_);
  if (running_) return true;
  if (waiting_) {
    q_->waiting_.erase(std::find(q_->waiting_.begin(), q_->waiting_.end(), this));
    waiting_ = false;
  }
  wake_ = nullptr;
  return false;
}

AdmissionTicket::~AdmissionTicket() {
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard lock(q_->mu_);
    if (waiting_) {
      q_->waiting_.erase(std::find(q_->waiting_.begin(), q_->waiting_.end(), this));
    } else if (running_) {
      --q_->running_;
      wakes = q_->hand_out();
    }
  }
  for (auto& w : wakes) w();
}

}  // namespace ragd::api
