// Test support: whether this build is instrumented by a sanitizer
// (scripts/sanitize.sh). Instrumented code runs 3-20x slower, so a speed
// assertion says nothing there; tests leave only those out.
#pragma once

namespace ragd::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace ragd::testing
