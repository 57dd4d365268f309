// Shared by the conformance tests that read llama.cpp's reference outputs
// in ../shared/testdata/models (absent on a user's machine: those tests skip,
// or fail with RAGD_REQUIRE_TESTDATA=1; see tests/testdata.h).
#pragma once

#include <cctype>
#include <filesystem>
#include <string>

#include "tests/testdata.h"

namespace ragd::testing {

inline std::filesystem::path golden_models_dir() {
  return shared_testdata_dir() / "models";
}

// A gtest parameter name from a golden file name: "llama-mini-f16.kvf32.json"
// -> "llama_mini_f16_kvf32".
inline std::string golden_case_name(std::string file) {
  if (file.ends_with(".json")) file.resize(file.size() - 5);
  for (char& ch : file) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return file;
}

}  // namespace ragd::testing
