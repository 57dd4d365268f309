// A small deterministic embedder for the sync tests (feature hashing).
#pragma once

#include <cctype>
#include <cmath>
#include <random>
#include <string>

#include "ragd/embedder.h"

namespace ragd::sync::testing {

class HashEmbedder : public Embedder {
 public:
  int dim() const override { return 16; }
  std::string fingerprint() const override { return "test-hash:sync"; }
  Status embed(std::span<const std::string> texts, EmbedRole, std::vector<float>& out) const override {
    for (const auto& t : texts) {
      std::vector<float> v(16, 0.0f);
      uint32_t h = 2166136261u;
      for (char c : t) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
          h = (h ^ static_cast<uint8_t>(std::tolower(static_cast<unsigned char>(c)))) * 16777619u;
        } else if (h != 2166136261u) {
          v[h % 16] += 1.0f;
          h = 2166136261u;
        }
      }
      v[h % 16] += 1.0f;
      float n = 0;
      for (float x : v) n += x * x;
      n = std::sqrt(n);
      for (float x : v) out.push_back(x / n);
    }
    return Status::ok();
  }
};

inline std::filesystem::path temp_dir(const std::string& tag) {
  std::mt19937_64 rng(std::random_device{}());
  auto d = std::filesystem::temp_directory_path() / ("ragd-sync-" + tag + "-" + std::to_string(rng()));
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace ragd::sync::testing
