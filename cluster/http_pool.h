// Idle HTTP clients (libcurl handles, each keeping its connections open),
// taken by one call at a time and given back after it: a call never waits
// for another call's client, and the next call to the same server reuses
// the connection instead of opening one (etcd's calls, the coordinator's
// requests to its peers).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "sync/http.h"

namespace ragd::cluster {

class HttpClientPool {
 public:
  // Clients are made with `options`; at most `max_idle` are kept.
  explicit HttpClientPool(sync::HttpOptions options, size_t max_idle = 64)
      : options_(options), max_idle_(max_idle) {}

  // A client, given back to the pool when the handle goes.
  class Handle {
   public:
    Handle(HttpClientPool& pool, std::unique_ptr<sync::HttpClient> http) : pool_(&pool), http_(std::move(http)) {}
    ~Handle() {
      if (http_) pool_->give_back(std::move(http_));
    }
    Handle(Handle&&) = default;
    Handle& operator=(Handle&&) = default;
    sync::HttpClient* operator->() const { return http_.get(); }
    sync::HttpClient& operator*() const { return *http_; }

   private:
    HttpClientPool* pool_;
    std::unique_ptr<sync::HttpClient> http_;
  };

  Handle take() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto http = std::move(idle_.back());
        idle_.pop_back();
        return Handle(*this, std::move(http));
      }
    }
    return Handle(*this, std::make_unique<sync::HttpClient>(options_));
  }

 private:
  void give_back(std::unique_ptr<sync::HttpClient> http) {
    // No caller's credential or signer waits in an idle client.
    http->set_bearer("");
    http->request_header = nullptr;
    std::lock_guard lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(http));
  }

  const sync::HttpOptions options_;
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<sync::HttpClient>> idle_;  // guarded by mu_
};

}  // namespace ragd::cluster
