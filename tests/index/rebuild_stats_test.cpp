// Snapshot rebuilds are logged and counted (issue 11): a damaged or missing
// lexical or ANN snapshot is rebuilt from RocksDB at open, and
// StoreStats::index_rebuilds / last_rebuild / last_rebuild_ms say so (the
// HTTP layer shows them in /v1/stats and /metrics: tests/api/routes_test).
#include <gtest/gtest.h>

#include <fstream>

#include "index/analyzer.h"
#include "tests/index/test_util.h"

namespace ragd::test {
namespace {

constexpr int kDim = 16;

size_t lexical_hits(const Store& s, const std::string& q, size_t k) {
  auto terms = analyze(q);
  return s.search_lexical(terms, k, nullptr).size();
}

void fill(Store& s, int n) {
  ASSERT_TRUE(s.bind_encoder("enc", kDim).is_ok());
  for (int i = 0; i < n; ++i) {
    const std::string id = "d" + std::to_string(i);
    auto chunks = make_chunks(id, {"alpha beta " + id, "gamma delta " + id});
    auto vecs = random_vectors(chunks.size(), kDim, static_cast<uint32_t>(i));
    ASSERT_TRUE(s.upsert(make_doc(id, "alpha " + id), chunks, vecs).is_ok());
  }
}

// Flips one byte in the middle of `file`.
void damage(const std::filesystem::path& file) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(0, std::ios::end);
  const auto size = static_cast<std::streamoff>(f.tellg());
  ASSERT_GT(size, 16);
  f.seekg(size / 2);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(size / 2);
  f.write(&c, 1);
}

TEST(StoreRebuildStats, DamagedSnapshotsAreRebuiltCountedAndExplained) {
  TempDir dir("rebuildstats");
  const StoreOptions o = options_for(dir.path());
  {
    auto store = open_store(o);
    ASSERT_TRUE(store);
    fill(*store, 60);
  }
  {
    auto store = open_store(o);  // both snapshots written at close: no rebuild
    ASSERT_TRUE(store);
    StoreStats st = store->stats();
    EXPECT_EQ(st.index_rebuilds, 0u) << st.last_rebuild;
    EXPECT_TRUE(st.last_rebuild.empty()) << st.last_rebuild;
  }
  damage(dir.path() / "lex.index");
  {
    auto store = open_store(o);
    ASSERT_TRUE(store);
    StoreStats st = store->stats();
    EXPECT_EQ(st.index_rebuilds, 1u);
    EXPECT_EQ(st.last_rebuild.rfind("inverted index: ", 0), 0u) << st.last_rebuild;
    EXPECT_GE(st.last_rebuild_ms, 0.0);
    EXPECT_EQ(lexical_hits(*store, "alpha gamma", 200), 120u);
  }
  damage(dir.path() / "ann.index");
  {
    auto store = open_store(o);
    ASSERT_TRUE(store);
    StoreStats st = store->stats();
    EXPECT_EQ(st.index_rebuilds, 1u);
    EXPECT_EQ(st.last_rebuild.rfind("vector index: ", 0), 0u) << st.last_rebuild;
    EXPECT_NE(st.last_rebuild.find("checksum"), std::string::npos) << st.last_rebuild;
    EXPECT_EQ(st.ann_state.rfind("rebuilt", 0), 0u) << st.ann_state;
  }
  std::filesystem::remove(dir.path() / "lex.index");
  std::filesystem::remove(dir.path() / "ann.index");
  {
    auto store = open_store(o);
    ASSERT_TRUE(store);
    StoreStats st = store->stats();
    EXPECT_EQ(st.index_rebuilds, 2u);  // both, each counted
    auto q = random_vectors(1, kDim, 7);
    EXPECT_EQ(search_vector(*store, q, 200, nullptr).size(), 120u);
  }
}

}  // namespace
}  // namespace ragd::test
