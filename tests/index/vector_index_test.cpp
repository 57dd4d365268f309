#include "index/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "test_util.h"
#include "tests/testdata.h"

namespace ragd {
namespace {

using test::random_vectors;
using test::TempDir;

std::vector<uint64_t> brute_force(const std::vector<float>& base, size_t n, int dim, const float* q, size_t k) {
  std::vector<std::pair<float, uint64_t>> s(n);
  for (size_t i = 0; i < n; ++i) {
    float d = 0;
    for (int j = 0; j < dim; ++j) d += base[i * dim + j] * q[j];
    s[i] = {-d, i};
  }
  std::partial_sort(s.begin(), s.begin() + static_cast<ptrdiff_t>(k), s.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < k; ++i) out.push_back(s[i].second);
  return out;
}

double recall_at(VectorIndex& index, const std::vector<float>& base, size_t n, const std::vector<float>& queries,
                 size_t nq, int dim, size_t k) {
  size_t found = 0;
  for (size_t qi = 0; qi < nq; ++qi) {
    const float* q = queries.data() + qi * dim;
    auto truth = brute_force(base, n, dim, q, k);
    auto hits = index.search(std::span<const float>(q, static_cast<size_t>(dim)), k);
    EXPECT_TRUE(hits.is_ok()) << hits.status().to_string();
    if (!hits.is_ok()) continue;
    std::set<uint64_t> t(truth.begin(), truth.end());
    for (const auto& h : *hits) found += t.count(h.label);
  }
  return static_cast<double>(found) / static_cast<double>(nq * k);
}

// Oracle: hnswlib through VectorIndex against brute force on SIFT vectors.
TEST(VectorIndexOracleTest, HnswRecallAt10OnSift5k) {
  const std::filesystem::path file = testing::shared_testdata_dir() / "ann/sift-5k.tsv";
  RAGD_NEED_TESTDATA(file);
  std::ifstream in(file);
  std::vector<float> all;
  std::string line;
  int dim = 0;
  size_t rows = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    float x;
    int d = 0;
    double ss = 0;
    size_t at = all.size();
    // 128 descriptor values, then the row's id in a last column.
    while (d < 128 && ls >> x) {
      all.push_back(x);
      ss += x * x;
      ++d;
    }
    if (d == 0) continue;
    if (dim == 0) dim = d;
    ASSERT_EQ(d, dim) << "row " << rows;
    for (size_t j = at; j < all.size(); ++j) all[j] = static_cast<float>(all[j] / std::sqrt(ss > 0 ? ss : 1));
    ++rows;
  }
  ASSERT_GE(rows, 1000u);
  const size_t nq = 200;
  const size_t n = rows - nq;
  std::vector<float> base(all.begin(), all.begin() + static_cast<ptrdiff_t>(n * dim));
  std::vector<float> queries(all.begin() + static_cast<ptrdiff_t>(n * dim), all.end());
  std::vector<uint64_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = i;
  // One thread (hnswlib's addPoint) and several (levels drawn serially, the
  // points linked in parallel: hnsw_index.cpp add_slice) reach the same bar.
  for (int threads : {1, 4}) {
    VectorIndexOptions o;
    o.dim = dim;
    o.add_threads = threads;
    auto index = make_vector_index(o);
    ASSERT_TRUE(index.is_ok()) << index.status().to_string();
    Status added = (*index)->add(labels, base);
    ASSERT_TRUE(added.is_ok()) << added.to_string();
    EXPECT_EQ((*index)->size(), n);
    double recall = recall_at(**index, base, n, queries, nq, dim, 10);
    std::printf("hnsw recall@10 on sift-5k (%zu base, %zu queries, dim %d, %d add threads): %.4f\n", n, nq, dim,
                threads, recall);
    EXPECT_GE(recall, 0.95) << threads << " add threads";
  }
}

// Parallel adds next to removals and re-adds of present labels (hnswlib
// updates those serially), over several slices and capacity doublings.
TEST(VectorIndexTest, HnswParallelAddUpdatesAndGrows) {
  const int dim = 16;
  const size_t n = 3000;
  VectorIndexOptions o;
  o.dim = dim;
  o.add_threads = 4;
  auto index = make_vector_index(o);
  ASSERT_TRUE(index.is_ok()) << index.status().to_string();
  std::vector<float> v = random_vectors(n, dim, 11);
  std::vector<uint64_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = 1000 + i;
  Status added = (*index)->add(labels, v);
  ASSERT_TRUE(added.is_ok()) << added.to_string();
  for (size_t i = 0; i < n; i += 3) ASSERT_TRUE((*index)->remove(labels[i]).is_ok());
  // The first 600 again (a third of them removed) plus 600 new ones.
  std::vector<uint64_t> again(labels.begin(), labels.begin() + 600);
  std::vector<float> again_v(v.begin(), v.begin() + 600 * dim);
  std::vector<float> fresh_v = random_vectors(600, dim, 12);
  for (size_t i = 0; i < 600; ++i) again.push_back(9000 + i);
  again_v.insert(again_v.end(), fresh_v.begin(), fresh_v.end());
  added = (*index)->add(again, again_v);
  ASSERT_TRUE(added.is_ok()) << added.to_string();
  size_t self = 0, probes = 0;
  for (size_t i = 0; i < again.size(); i += 7) {
    auto hits = (*index)->search(std::span<const float>(again_v.data() + i * dim, dim), 1);
    ASSERT_TRUE(hits.is_ok()) << hits.status().to_string();
    ASSERT_EQ(hits->size(), 1u);
    self += (*hits)[0].label == again[i];
    ++probes;
  }
  EXPECT_GE(static_cast<double>(self) / static_cast<double>(probes), 0.95);
}

TEST(VectorIndexTest, FaissFactoryStringsSearchAndRemove) {
  const int dim = 32;
  const size_t n = 3000;
  auto base = random_vectors(n, dim, 11);
  auto queries = random_vectors(50, dim, 12);
  std::vector<uint64_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = i;
  struct Case {
    std::string type;
    double min_recall;
  };
  for (const Case& c : {Case{"faiss:Flat", 0.999}, Case{"faiss:IVF16,PQ8", 0.3}, Case{"faiss:IVF16,Flat", 0.9},
                        Case{"faiss:HNSW32", 0.8}}) {
    const auto t0 = std::chrono::steady_clock::now();
    VectorIndexOptions o;
    o.type = c.type;
    o.dim = dim;
    o.faiss_train_size = 2000;
    auto made = make_vector_index(o);
    ASSERT_TRUE(made.is_ok()) << c.type << ": " << made.status().to_string();
    auto& index = **made;
    // Before training: exact search over what was collected.
    ASSERT_TRUE(index.add(std::span(labels).subspan(0, 500), std::span(base).subspan(0, 500 * dim)).is_ok());
    auto early = index.search(std::span<const float>(base.data() + 7 * dim, dim), 1);
    ASSERT_TRUE(early.is_ok());
    ASSERT_EQ(early->size(), 1u);
    EXPECT_EQ((*early)[0].label, 7u) << c.type;
    ASSERT_TRUE(index.add(std::span(labels).subspan(500), std::span(base).subspan(500 * dim)).is_ok());
    EXPECT_EQ(index.size(), n);
    double r = recall_at(index, base, n, queries, 50, dim, 10);
    std::printf("%s recall@10: %.3f (%.1f s)\n", c.type.c_str(), r,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_GE(r, c.min_recall) << c.type;
    // Removal: a removed label never comes back (HNSW keeps a deleted set).
    auto before = index.search(std::span<const float>(base.data() + 42 * dim, dim), 5);
    ASSERT_TRUE(before.is_ok());
    ASSERT_TRUE(index.remove(42).is_ok());
    auto after = index.search(std::span<const float>(base.data() + 42 * dim, dim), 5);
    ASSERT_TRUE(after.is_ok());
    for (const auto& h : *after) EXPECT_NE(h.label, 42u) << c.type;
    EXPECT_EQ(index.size(), n - 1);
    // Save and load keep the answers.
    TempDir dir("faiss");
    ASSERT_TRUE(index.save(dir.path() / "x.index").is_ok());
    auto again = make_vector_index(o);
    ASSERT_TRUE((*again)->load(dir.path() / "x.index").is_ok());
    auto loaded = (*again)->search(std::span<const float>(base.data() + 42 * dim, dim), 5);
    ASSERT_TRUE(loaded.is_ok());
    ASSERT_EQ(loaded->size(), after->size());
    for (size_t i = 0; i < loaded->size(); ++i) EXPECT_EQ((*loaded)[i].label, (*after)[i].label) << c.type;
  }
}

TEST(VectorIndexTest, BadTypesAndInputsBecomeStatus) {
  VectorIndexOptions o;
  o.dim = 8;
  o.type = "faiss:NoSuchIndex123";
  EXPECT_EQ(make_vector_index(o).status().code(), StatusCode::kInvalidArgument);
  o.type = "annoy";
  EXPECT_EQ(make_vector_index(o).status().code(), StatusCode::kInvalidArgument);
  o.type = "hnsw";
  o.dim = 0;
  EXPECT_FALSE(make_vector_index(o).is_ok());
  o.dim = 8;
  auto index = make_vector_index(o);
  ASSERT_TRUE(index.is_ok());
  std::vector<uint64_t> l = {1, 2};
  std::vector<float> v(8, 0.5f);
  EXPECT_EQ((*index)->add(l, v).code(), StatusCode::kInvalidArgument);
  std::vector<float> q(3, 1.f);
  EXPECT_EQ((*index)->search(q, 3).status().code(), StatusCode::kInvalidArgument);
  // A garbage file is refused, not a crash.
  TempDir dir("garbage");
  {
    std::ofstream f(dir.path() / "g.index", std::ios::binary);
    f << std::string(1000, '\x7f');
  }
  EXPECT_FALSE((*index)->load(dir.path() / "g.index").is_ok());
  o.type = "faiss:Flat";
  auto fi = make_vector_index(o);
  ASSERT_TRUE(fi.is_ok());
  EXPECT_FALSE((*fi)->load(dir.path() / "g.index").is_ok());
}

}  // namespace
}  // namespace ragd
