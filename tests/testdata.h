// Test support: the data that golden, oracle and quality tests read but the
// repository does not hold: llama.cpp's reference outputs, SIFT vectors and
// SciFact in ../shared/testdata, and the GloVe vectors that scripts/build.sh
// fetches. On a user's machine they may be absent, and those tests skip. In
// CI a skip would hide that nothing was compared, so RAGD_REQUIRE_TESTDATA=1
// (set by .ci/run) turns every such skip into a failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace ragd::testing {

// ../shared/testdata, next to the source tree.
inline std::filesystem::path shared_testdata_dir() {
  return std::filesystem::path(RAGD_SOURCE_DIR) / ".." / "shared" / "testdata";
}

// True when RAGD_REQUIRE_TESTDATA is set to anything but "" or "0".
inline bool testdata_required() {
  const char* v = std::getenv("RAGD_REQUIRE_TESTDATA");
  return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

}  // namespace ragd::testing

// Ends the current test (or SetUp) with `message` when data is missing:
// skipped, or failed when RAGD_REQUIRE_TESTDATA=1. Use it in a function that
// returns void, as GTEST_SKIP.
#define RAGD_TESTDATA_MISSING(message)                                                          \
  do {                                                                                          \
    if (::ragd::testing::testdata_required()) {                                                 \
      GTEST_FAIL() << (message) << " (required: RAGD_REQUIRE_TESTDATA is set)";                 \
    } else {                                                                                    \
      GTEST_SKIP() << (message) << " (set RAGD_REQUIRE_TESTDATA=1 to make this a failure)";     \
    }                                                                                           \
  } while (0)

// Ends the current test as RAGD_TESTDATA_MISSING when `file` does not exist.
#define RAGD_NEED_TESTDATA(file)                                                                \
  do {                                                                                          \
    const std::filesystem::path ragd_needed_path_ = (file);                                     \
    if (!std::filesystem::exists(ragd_needed_path_)) {                                          \
      RAGD_TESTDATA_MISSING("test data absent: " + ragd_needed_path_.string());                 \
    }                                                                                           \
  } while (0)
