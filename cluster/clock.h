// The cluster's one monotonic clock in milliseconds: lease and live-node
// ages, stream-read ages, and how long the NATS connection has been down.
#pragma once

#include <chrono>
#include <cstdint>

namespace ragd::cluster {

inline int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace ragd::cluster
