// tests/testdata.h: with RAGD_REQUIRE_TESTDATA=1 missing reference data is a
// failure, so CI cannot pass without comparing anything.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "tests/testdata.h"

namespace ragd {
namespace {

// Restores RAGD_REQUIRE_TESTDATA as it was.
class RequireTestdataEnv {
 public:
  RequireTestdataEnv() {
    if (const char* v = std::getenv("RAGD_REQUIRE_TESTDATA")) saved_ = v;
  }
  ~RequireTestdataEnv() {
    if (saved_) {
      ::setenv("RAGD_REQUIRE_TESTDATA", saved_->c_str(), 1);
    } else {
      ::unsetenv("RAGD_REQUIRE_TESTDATA");
    }
  }

 private:
  std::optional<std::string> saved_;
};

void need_absent_file() { RAGD_NEED_TESTDATA(testing::shared_testdata_dir() / "no-such-file.json"); }

TEST(TestdataHelper, RequiredFlagParsing) {
  RequireTestdataEnv keep;
  ::unsetenv("RAGD_REQUIRE_TESTDATA");
  EXPECT_FALSE(testing::testdata_required());
  ::setenv("RAGD_REQUIRE_TESTDATA", "0", 1);
  EXPECT_FALSE(testing::testdata_required());
  ::setenv("RAGD_REQUIRE_TESTDATA", "", 1);
  EXPECT_FALSE(testing::testdata_required());
  ::setenv("RAGD_REQUIRE_TESTDATA", "1", 1);
  EXPECT_TRUE(testing::testdata_required());
}

TEST(TestdataHelper, MissingDataFailsWhenRequired) {
  RequireTestdataEnv keep;
  ::setenv("RAGD_REQUIRE_TESTDATA", "1", 1);
  EXPECT_FATAL_FAILURE(need_absent_file(), "no-such-file.json");
}

TEST(TestdataHelper, PresentDataPassesWhenRequired) {
  RequireTestdataEnv keep;
  ::setenv("RAGD_REQUIRE_TESTDATA", "1", 1);
  RAGD_NEED_TESTDATA(RAGD_SOURCE_DIR);  // exists wherever the tests run
  SUCCEED();
}

}  // namespace
}  // namespace ragd
