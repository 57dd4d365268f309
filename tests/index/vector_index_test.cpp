#include "index/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <functional>
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

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
T get_at(const std::string& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

template <typename T>
void put_at(std::string& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

// HNSW load reads hnswlib's file itself: the same graph comes back, and a
// file whose sizes, links, levels or entry point are wrong is refused with
// kCorruption (no crash, no read out of bounds under ASan), leaving the index
// as it was. The snapshot's checksum normally catches damage first; this is
// what stands behind it.
TEST(VectorIndexTest, HnswLoadChecksEverySizeAndLink) {
  const int dim = 16;
  const size_t n = 2000;
  VectorIndexOptions o;
  o.dim = dim;
  o.add_threads = 2;
  auto index = make_vector_index(o);
  ASSERT_TRUE(index.is_ok());
  std::vector<float> v = random_vectors(n, dim, 21);
  std::vector<uint64_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = 5000 + i;
  ASSERT_TRUE((*index)->add(labels, v).is_ok());
  for (size_t i = 0; i < n; i += 5) ASSERT_TRUE((*index)->remove(labels[i]).is_ok());
  TempDir dir("hnsw-load");
  const auto good = dir.path() / "good.index";
  ASSERT_TRUE((*index)->save(good).is_ok());

  auto loaded = make_vector_index(o);
  ASSERT_TRUE(loaded.is_ok());
  Status st = (*loaded)->load(good);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ((*loaded)->size(), (*index)->size());
  EXPECT_EQ((*loaded)->deleted(), (*index)->deleted());
  auto same_answers = [&](VectorIndex& a, VectorIndex& b) {
    for (size_t i = 1; i < n; i += 37) {
      std::span<const float> q(v.data() + i * dim, dim);
      auto x = a.search(q, 10);
      auto y = b.search(q, 10);
      if (!x.is_ok() || !y.is_ok() || x->size() != y->size()) return false;
      for (size_t j = 0; j < x->size(); ++j) {
        if ((*x)[j].label != (*y)[j].label) return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(same_answers(**index, **loaded));
  // The loaded graph takes new points and grows.
  std::vector<float> more = random_vectors(1500, dim, 22);
  std::vector<uint64_t> more_labels(1500);
  for (size_t i = 0; i < more_labels.size(); ++i) more_labels[i] = 90000 + i;
  ASSERT_TRUE((*loaded)->add(more_labels, more).is_ok());
  auto hit = (*loaded)->search(std::span<const float>(more.data() + 3 * dim, dim), 1);
  ASSERT_TRUE(hit.is_ok());
  ASSERT_EQ(hit->size(), 1u);
  EXPECT_EQ((*hit)[0].label, 90003u);

  // The layout saveIndex() writes: a 96-byte header, then every point's
  // level-0 record (its list, vector and label), then per point the size of
  // its upper-level lists and the lists.
  const std::string bytes = read_bytes(good);
  ASSERT_EQ(get_at<size_t>(bytes, 16), n);
  const size_t record = get_at<size_t>(bytes, 24);
  const size_t max_m0 = get_at<size_t>(bytes, 64);
  const size_t upper_start = 96 + n * record;
  const auto list0 = [&](size_t point) { return 96 + point * record; };
  // The first point with upper-level lists, and where its size sits.
  size_t upper_point = 0, upper_size_at = upper_start;
  for (size_t at = upper_start;; ++upper_point) {
    ASSERT_LT(upper_point, n);
    const auto size = get_at<uint32_t>(bytes, at);
    if (size > 0) {
      upper_size_at = at;
      break;
    }
    at += 4;
  }

  struct Damage {
    const char* what;
    std::function<void(std::string&)> apply;
  };
  const std::vector<Damage> damages = {
      {"empty file", [](std::string& b) { b.clear(); }},
      {"cut in the header", [](std::string& b) { b.resize(50); }},
      {"cut in the vectors", [&](std::string& b) { b.resize(upper_start - 100); }},
      {"cut in the link lists", [&](std::string& b) { b.resize(upper_size_at + 6); }},
      {"a trailing byte", [](std::string& b) { b.push_back('\0'); }},
      {"another M", [](std::string& b) { put_at<size_t>(b, 72, 12); }},
      {"another dimension", [](std::string& b) { put_at<size_t>(b, 32, get_at<size_t>(b, 32) + 4); }},
      {"more points than capacity", [](std::string& b) { put_at<size_t>(b, 8, 10); }},
      {"the entry point out of range", [&](std::string& b) { put_at<uint32_t>(b, 52, static_cast<uint32_t>(n)); }},
      {"the entry point below the top level", [&](std::string& b) {
         for (size_t i = 0, at = upper_start; i < n; ++i) {
           if (get_at<uint32_t>(b, at) == 0) {
             put_at<uint32_t>(b, 52, static_cast<uint32_t>(i));
             return;
           }
           at += 4 + get_at<uint32_t>(b, at);
         }
       }},
      {"the top level too high", [](std::string& b) { put_at<int>(b, 48, 65); }},
      {"a level-0 list over M0", [&](std::string& b) {
         put_at<uint16_t>(b, list0(7), static_cast<uint16_t>(max_m0 + 1));
       }},
      {"a level-0 link out of range", [&](std::string& b) {
         put_at<uint16_t>(b, list0(9), 1);
         put_at<uint32_t>(b, list0(9) + 4, static_cast<uint32_t>(n + 7));
       }},
      {"an upper list size not a whole level", [&](std::string& b) {
         put_at<uint32_t>(b, upper_size_at, get_at<uint32_t>(b, upper_size_at) - 4);
       }},
      {"an upper-level link to a point below that level", [&](std::string& b) {
         for (size_t i = 0, at = upper_start; i < n; ++i) {
           if (get_at<uint32_t>(b, at) == 0) {  // point i has level 0
             put_at<uint16_t>(b, upper_size_at + 4, 1);
             put_at<uint32_t>(b, upper_size_at + 8, static_cast<uint32_t>(i));
             return;
           }
           at += 4 + get_at<uint32_t>(b, at);
         }
       }},
      {"a label twice", [&](std::string& b) {
         const size_t label_offset = get_at<size_t>(b, 32);
         put_at<uint64_t>(b, list0(1) + label_offset, get_at<uint64_t>(b, list0(0) + label_offset));
       }},
      {"an upper-level link out of range", [&](std::string& b) {
         put_at<uint16_t>(b, upper_size_at + 4, 1);
         put_at<uint32_t>(b, upper_size_at + 8, 0xfffffff0u);
       }},
  };
  const auto bad = dir.path() / "bad.index";
  for (const auto& d : damages) {
    std::string b = bytes;
    d.apply(b);
    ASSERT_NE(b, bytes) << d.what;
    write_bytes(bad, b);
    Status s = (*loaded)->load(bad);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << d.what << ": " << s.to_string();
    // The index keeps serving what it held.
    auto still = (*loaded)->search(std::span<const float>(more.data() + 3 * dim, dim), 1);
    ASSERT_TRUE(still.is_ok()) << d.what;
    ASSERT_EQ(still->size(), 1u) << d.what;
    EXPECT_EQ((*still)[0].label, 90003u) << d.what;
  }

  // An empty index round-trips too.
  auto empty = make_vector_index(o);
  ASSERT_TRUE(empty.is_ok());
  ASSERT_TRUE((*empty)->save(dir.path() / "empty.index").is_ok());
  auto empty_loaded = make_vector_index(o);
  ASSERT_TRUE(empty_loaded.is_ok());
  st = (*empty_loaded)->load(dir.path() / "empty.index");
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ((*empty_loaded)->size(), 0u);
  ASSERT_TRUE((*empty_loaded)->add(std::span(labels).subspan(0, 10), std::span(v).subspan(0, 10 * dim)).is_ok());
  EXPECT_EQ((*empty_loaded)->size(), 10u);
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
