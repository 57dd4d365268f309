// Order statistics for the benchmarks' figures (latencies, rates, times).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace ragd::bench {

// The p-quantile of the samples (p in [0, 1]): the sorted sample at index
// floor(p * n), the largest for p = 1. 0 when there are no samples.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// The middle sample, or the mean of the two middle ones when n is even. 0
// when there are no samples.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace ragd::bench
