// The build's identity: `ragd --version`, /healthz and /v1/stats report it.
#pragma once

#include <string>

namespace ragd {

struct BuildInfo {
  const char* version;     // project(VERSION) of the top-level CMakeLists.txt, e.g. "0.1.0"
  const char* commit;      // git commit at configure time (12 hex digits), "unknown" outside git
  const char* build_type;  // CMAKE_BUILD_TYPE: "Release", "Debug", ...
};

const BuildInfo& build_info();

// "ragd 0.1.0 (commit 1a2b3c4d5e6f, Release build)".
std::string version_line();

}  // namespace ragd
