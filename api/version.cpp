#include "ragd/version.h"

// Set for this file only by api/CMakeLists.txt (cmake/version.cmake), so a
// new commit recompiles one file.
#ifndef RAGD_VERSION
#define RAGD_VERSION "0.0.0"
#endif
#ifndef RAGD_GIT_COMMIT
#define RAGD_GIT_COMMIT "unknown"
#endif
#ifndef RAGD_BUILD_TYPE
#define RAGD_BUILD_TYPE "none"
#endif

namespace ragd {

const BuildInfo& build_info() {
  static const BuildInfo info{RAGD_VERSION, RAGD_GIT_COMMIT, RAGD_BUILD_TYPE};
  return info;
}

std::string version_line() {
  const BuildInfo& b = build_info();
  return std::string("ragd ") + b.version + " (commit " + b.commit + ", " + b.build_type + " build)";
}

}  // namespace ragd
