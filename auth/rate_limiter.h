// Token buckets per key (issue 11, item 7): each key may spend `burst`
// requests at once and earns `rate_per_second` back. A refused request gets
// the seconds until it would be allowed, for a 429 with Retry-After.
//
// Thread safety: acquire() may be called from any thread. Buckets live in
// kShards hash maps, each under its own mutex, so concurrent keys rarely
// contend. Memory is bounded by max_keys: a bucket that has refilled to
// `burst` is the same as no bucket, so full ones are dropped first.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ragd/status.h"

namespace ragd::auth {

struct RateLimiterOptions {
  // Requests earned per second. Default: 10.
  double rate_per_second = 10.0;
  // Bucket size: requests that may come at once after a quiet spell. Default: 20.
  double burst = 20.0;
  // Upper bound on buckets kept; beyond it, refilled buckets are forgotten
  // and, if none are, the least recently used. Default: 100000.
  size_t max_keys = 100000;
  // Monotonic seconds. Default (empty): std::chrono::steady_clock. Tests
  // inject their own.
  std::function<double()> clock;
};

struct RateDecision {
  bool allowed = true;
  // When refused: seconds until the request would be allowed (> 0).
  double retry_after_seconds = 0;
  // retry_after_seconds rounded up to a whole second, at least 1, for the
  // Retry-After header; 0 when allowed.
  int64_t retry_after_header() const;
};

class RateLimiter {
 public:
  // kInvalidArgument for a rate or burst that is not positive and finite,
  // or a burst below 1 (no request could ever pass).
  static Result<std::unique_ptr<RateLimiter>> make(RateLimiterOptions options = {});

  // Spends `cost` tokens from `key`'s bucket if it has them. A refused
  // request spends nothing. A cost above `burst` is never allowed.
  RateDecision acquire(std::string_view key, double cost = 1.0);

  // Buckets currently kept (for tests and /metrics).
  size_t size() const;

 private:
  static constexpr size_t kShards = 16;
  struct Bucket {
    double tokens = 0;
    double last = 0;  // clock() at the last refill
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;  // GUARDED_BY(mu)
  };

  explicit RateLimiter(RateLimiterOptions options);
  double now() const;
  // REQUIRES: shard.mu held.
  void evict(Shard& shard, double now);

  RateLimiterOptions options_;
  std::array<Shard, kShards> shards_;
};

}  // namespace ragd::auth
