#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace ragd {

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(SamplerOptions options) : options_(options), rng_(options.seed) {}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  const int n = static_cast<int>(logits.size());
  const bool penalty = options_.repeat_penalty != 1.0f && options_.repeat_last_n != 0 && !history.empty();
  // Greedy without a penalty: the argmax of the logits themselves (the same
  // pick as below, the first of equal largest logits), without copying n
  // candidates; at 16 streams that copy was 16 x 49k pairs per pass.
  if (options_.temperature <= 0.0f && !penalty) return argmax(logits);
  cand_.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) cand_[static_cast<size_t>(i)] = {logits[static_cast<size_t>(i)], i};
  if (penalty) {
    const size_t last = options_.repeat_last_n < 0 ? history.size()
                                                   : std::min(history.size(), static_cast<size_t>(options_.repeat_last_n));
    std::unordered_set<int32_t> seen(history.end() - static_cast<std::ptrdiff_t>(last), history.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= n) continue;
      float& l = cand_[static_cast<size_t>(id)].first;
      l = l > 0 ? l / options_.repeat_penalty : l * options_.repeat_penalty;
    }
  }
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  if (options_.temperature <= 0.0f) {
    return std::min_element(cand_.begin(), cand_.end(), by_logit)->second;
  }
  size_t keep = cand_.size();
  if (options_.top_k > 0) keep = std::min(keep, static_cast<size_t>(options_.top_k));
  std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(keep), cand_.end(), by_logit);
  cand_.resize(keep);
  // Probabilities at temperature 1 for top-p / min-p (as llama.cpp), then
  // the temperature reshapes what is left.
  std::vector<double> p(keep);
  const double mx = cand_[0].first;
  double z = 0;
  for (size_t i = 0; i < keep; ++i) z += (p[i] = std::exp(static_cast<double>(cand_[i].first) - mx));
  if (options_.top_p < 1.0f) {
    double cum = 0;
    size_t k = 0;
    while (k < keep) {
      cum += p[k] / z;
      ++k;
      if (cum >= options_.top_p) break;
    }
    keep = std::max<size_t>(1, k);
  }
  if (options_.min_p > 0.0f) {
    const double floor = options_.min_p * p[0];
    size_t k = 1;
    while (k < keep && p[k] >= floor) ++k;
    keep = k;
  }
  std::vector<double> w(keep);
  for (size_t i = 0; i < keep; ++i) {
    w[i] = std::exp((static_cast<double>(cand_[i].first) - mx) / options_.temperature);
  }
  std::discrete_distribution<size_t> dist(w.begin(), w.end());
  return cand_[dist(rng_)].second;
}

}  // namespace ragd
