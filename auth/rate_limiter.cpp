#include "auth/rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

namespace ragd::auth {

int64_t RateDecision::retry_after_header() const {
  if (allowed) return 0;
  double s = std::ceil(retry_after_seconds);
  if (!(s < 1e9)) return 1000000000;  // an absurd wait still fits the header
  return std::max<int64_t>(1, static_cast<int64_t>(s));
}

Result<std::unique_ptr<RateLimiter>> RateLimiter::make(RateLimiterOptions options) {
  if (!std::isfinite(options.rate_per_second) || options.rate_per_second <= 0) {
    return Status::invalid_argument("rate limit: rate_per_second must be a positive number");
  }
  if (!std::isfinite(options.burst) || options.burst < 1) {
    return Status::invalid_argument("rate limit: burst must be at least 1");
  }
  if (options.max_keys < kShards) options.max_keys = kShards;
  return std::unique_ptr<RateLimiter>(new RateLimiter(std::move(options)));
}

RateLimiter::RateLimiter(RateLimiterOptions options) : options_(std::move(options)) {}

double RateLimiter::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

RateDecision RateLimiter::acquire(std::string_view key, double cost) {
  if (!(cost >= 0)) cost = 0;  // NaN or negative: nothing to spend
  const double t = now();
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard<std::mutex> l(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= options_.max_keys / kShards) evict(shard, t);
    it = shard.buckets.emplace(std::string(key), Bucket{options_.burst, t}).first;
  }
  Bucket& b = it->second;
  // A clock that steps back (an injected one, or a VM resume) earns nothing.
  if (t > b.last) {
    b.tokens = std::min(options_.burst, b.tokens + (t - b.last) * options_.rate_per_second);
    b.last = t;
  }
  if (cost > options_.burst) {
    return RateDecision{false, cost / options_.rate_per_second};
  }
  if (b.tokens >= cost) {
    b.tokens -= cost;
    return RateDecision{};
  }
  return RateDecision{false, (cost - b.tokens) / options_.rate_per_second};
}

void RateLimiter::evict(Shard& shard, double t) {
  // Forget every bucket that has refilled by now: it behaves as a new one.
  for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
    const Bucket& b = it->second;
    bool full = b.tokens + (t - b.last) * options_.rate_per_second >= options_.burst;
    it = full ? shard.buckets.erase(it) : std::next(it);
  }
  if (shard.buckets.size() < options_.max_keys / kShards) return;
  // All are busy: drop the one idle longest. Its key may get a fresh burst,
  // which is the price of a memory bound under a flood of distinct keys.
  auto oldest = std::min_element(shard.buckets.begin(), shard.buckets.end(),
                                 [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
  shard.buckets.erase(oldest);
}

size_t RateLimiter::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> l(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace ragd::auth
