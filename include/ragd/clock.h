// Wall-clock time as Unix epoch numbers: what the store, the audit log, the
// registry and the schedulers record. Durations and deadlines use
// std::chrono::steady_clock instead.
#pragma once

#include <chrono>
#include <cstdint>

namespace ragd {

// Milliseconds since the Unix epoch (system clock).
inline int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Seconds since the Unix epoch (system clock).
inline int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace ragd
