// Helpers shared by the index tests: temporary directories and documents.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <random>
#include <string>
#include <vector>

#include "index/store.h"
#include "ragd/document.h"

namespace ragd::test {

class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("ragd-index-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline Document make_doc(const std::string& id, const std::string& text, const std::string& kind = "ticket") {
  Document d;
  d.id = id;
  d.title = "Title of " + id;
  d.kind = kind;
  d.source = "api";
  d.text = text;
  return d;
}

// One chunk per paragraph-like piece of `texts`.
inline std::vector<Chunk> make_chunks(const std::string& doc_id, const std::vector<std::string>& texts) {
  std::vector<Chunk> out;
  for (size_t i = 0; i < texts.size(); ++i) {
    Chunk c;
    c.doc_id = doc_id;
    c.ordinal = static_cast<uint32_t>(i);
    c.id = doc_id + "#" + std::to_string(i);
    c.text = texts[i];
    out.push_back(c);
  }
  return out;
}

// Deterministic unit vectors: n x dim.
inline std::vector<float> random_vectors(size_t n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n * static_cast<size_t>(dim));
  for (size_t i = 0; i < n; ++i) {
    double ss = 0;
    for (int j = 0; j < dim; ++j) {
      float x = g(rng);
      v[i * dim + j] = x;
      ss += x * x;
    }
    for (int j = 0; j < dim; ++j) v[i * dim + j] = static_cast<float>(v[i * dim + j] / std::sqrt(ss));
  }
  return v;
}

inline StoreOptions options_for(const std::filesystem::path& dir, const std::string& type = "hnsw") {
  StoreOptions o;
  o.dir = dir;
  o.vector_index = type;
  o.sync_writes = false;  // tests that need durability turn it back on
  return o;
}

// Reads that must succeed: a read error fails the test (and yields an empty
// value), so the tests below keep reading like plain calls.
inline std::optional<StoredChunk> chunk_or_none(const Store& s, uint64_t label) {
  auto r = s.chunk(label);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::nullopt;
}
// The live chunk at `label`; fails the test when it is gone.
inline StoredChunk live_chunk(const Store& s, uint64_t label) {
  auto c = chunk_or_none(s, label);
  EXPECT_TRUE(c.has_value()) << "chunk " << label << " is gone";
  if (!c) return StoredChunk{Chunk{}, std::make_shared<const DocInfo>()};
  return *c;
}
inline std::vector<Chunk> chunks_of(const Store& s, const std::string& doc_id) {
  auto r = s.chunks_of(doc_id);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::vector<Chunk>{};
}
inline std::vector<ScoredChunk> search_vector(const Store& s, std::span<const float> query, size_t k,
                                              const DocPredicate& allow) {
  auto r = s.search_vector(query, k, allow);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::vector<ScoredChunk>{};
}
inline std::vector<float> chunk_vector(const Store& s, uint64_t label) {
  auto r = s.chunk_vector(label);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::vector<float>{};
}

// Opens the store of `o`, or fails the test and returns nullptr.
inline std::unique_ptr<Store> open_store(const StoreOptions& o) {
  auto s = Store::open(o);
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? std::move(s).value() : nullptr;
}

// The same options with the store in `dir`.
inline StoreOptions at_dir(StoreOptions o, const std::filesystem::path& dir) {
  o.dir = dir;
  return o;
}

// Copies a store's files as they are on disk (what a crash at this point
// leaves behind) into `to`.
inline void copy_store_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive |
                                      std::filesystem::copy_options::overwrite_existing);
}

}  // namespace ragd::test
