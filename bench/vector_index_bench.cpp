// The hnswlib path through ragd's VectorIndex against raw hnswlib on the same
// vectors and parameters: QPS at equal recall@10 for several ef values.
// Usage: vector_index_bench [N=100000] [queries=1000]
//   RAGD_BENCH_ADD_THREADS=n  build ragd's index with n insert threads
//                             (default 1: both sides build the same graph)
// Vectors: 100-d, clustered Gaussian with a fixed seed (GloVe is not shipped
// with the repository).
// hnswlib 0.6.2 defines non-inline globals in its headers, and ragd_index
// already holds one copy, so the raw copy lives in its own namespace. Every
// header it includes comes first, outside that namespace.
#include <assert.h>
#include <cpuid.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>
namespace raw_hnsw {
#include <hnswlib/hnswlib.h>
}  // namespace raw_hnsw

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <vector>

#include "bench_stats.h"
#include "index/vector_index.h"

namespace {

using Clock = std::chrono::steady_clock;
using ragd::bench::median;

std::vector<float> clustered(size_t n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  const size_t clusters = 1000;
  std::vector<float> centres(clusters * dim);
  for (auto& c : centres) c = g(rng);
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    size_t c = rng() % clusters;
    double ss = 0;
    for (int j = 0; j < dim; ++j) {
      float x = centres[c * dim + j] + 0.6f * g(rng);
      v[i * dim + j] = x;
      ss += x * x;
    }
    for (int j = 0; j < dim; ++j) v[i * dim + j] = static_cast<float>(v[i * dim + j] / std::sqrt(ss));
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  const size_t nq = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1000;
  const int dim = 100;
  const size_t k = 10;
  auto all = clustered(n + nq, dim, 7);
  std::vector<float> base(all.begin(), all.begin() + static_cast<ptrdiff_t>(n * dim));
  std::vector<float> queries(all.begin() + static_cast<ptrdiff_t>(n * dim), all.end());

  // Brute-force truth.
  std::vector<std::set<size_t>> truth(nq);
  for (size_t q = 0; q < nq; ++q) {
    std::vector<std::pair<float, size_t>> s(n);
    for (size_t i = 0; i < n; ++i) {
      float d = 0;
      for (int j = 0; j < dim; ++j) d += base[i * dim + j] * queries[q * dim + j];
      s[i] = {-d, i};
    }
    std::partial_sort(s.begin(), s.begin() + k, s.end());
    for (size_t i = 0; i < k; ++i) truth[q].insert(s[i].second);
  }

  const int m = 16, ef_c = 200;
  ragd::VectorIndexOptions o;
  o.dim = dim;
  o.hnsw_m = m;
  o.hnsw_ef_construction = ef_c;
  // Single-threaded builds give both sides the same graph; more threads
  // measure the parallel insert (hnsw_index.cpp add_slice).
  const char* add_threads_env = std::getenv("RAGD_BENCH_ADD_THREADS");
  o.add_threads = add_threads_env ? std::max(1, std::atoi(add_threads_env)) : 1;
  auto made = ragd::make_vector_index(o);
  if (!made.is_ok()) {
    std::fprintf(stderr, "%s\n", made.status().to_string().c_str());
    return 1;
  }
  auto& ragd_index = **made;
  std::vector<uint64_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = i;
  auto t0 = Clock::now();
  if (!ragd_index.add(labels, base).is_ok()) return 1;
  double ragd_build = std::chrono::duration<double>(Clock::now() - t0).count();

  raw_hnsw::hnswlib::InnerProductSpace space(dim);
  raw_hnsw::hnswlib::HierarchicalNSW<float> raw(&space, n, m, ef_c, 100);
  t0 = Clock::now();
  for (size_t i = 0; i < n; ++i) raw.addPoint(base.data() + i * dim, i);
  double raw_build = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("vectors %zu x %d (clustered, seed 7), queries %zu, M %d, ef_construction %d\n", n, dim, nq, m, ef_c);
  std::printf("build: ragd %.1f s (%d insert threads), raw %.1f s (1 thread)\n\n", ragd_build, o.add_threads,
              raw_build);
  std::printf("%6s %12s %12s %12s %12s %8s\n", "ef", "ragd recall", "raw recall", "ragd QPS", "raw QPS", "ratio");

  for (size_t ef : {10, 20, 40, 80, 160, 320}) {
    std::vector<double> ragd_qps, raw_qps;
    double ragd_recall = 0, raw_recall = 0;
    raw.setEf(ef);
    for (int round = 0; round < 5; ++round) {  // alternate to share the machine's noise
      size_t found = 0;
      t0 = Clock::now();
      for (size_t q = 0; q < nq; ++q) {
        auto hits = ragd_index.search(std::span<const float>(queries.data() + q * dim, dim), k, ef);
        for (const auto& h : *hits) found += truth[q].count(h.label);
      }
      ragd_qps.push_back(nq / std::chrono::duration<double>(Clock::now() - t0).count());
      ragd_recall = static_cast<double>(found) / (nq * k);
      found = 0;
      t0 = Clock::now();
      for (size_t q = 0; q < nq; ++q) {
        auto pq = raw.searchKnn(queries.data() + q * dim, k);
        while (!pq.empty()) {
          found += truth[q].count(pq.top().second);
          pq.pop();
        }
      }
      raw_qps.push_back(nq / std::chrono::duration<double>(Clock::now() - t0).count());
      raw_recall = static_cast<double>(found) / (nq * k);
    }
    double a = median(ragd_qps), b = median(raw_qps);
    std::printf("%6zu %12.4f %12.4f %12.0f %12.0f %8.3f\n", ef, ragd_recall, raw_recall, a, b, a / b);
  }
  return 0;
}
