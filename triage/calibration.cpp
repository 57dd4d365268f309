#include "triage/calibration.h"
#include "triage/bytes.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>

namespace ragd::triage {

ConfidenceMap::ConfidenceMap(std::vector<float> x, std::vector<float> y) : x_(std::move(x)), y_(std::move(y)) {
  assert(x_.size() == y_.size());
}

double ConfidenceMap::apply(double c) const {
  if (x_.empty()) return c;
  if (!(c == c)) return c;  // NaN: no breakpoint to search for (the caller's own value)
  double v;
  if (c <= x_.front()) {
    v = y_.front();
  } else if (c >= x_.back()) {
    v = y_.back();
  } else {
    // Search in double: c rounded to float could reach x_.back() and put hi
    // past the end. x_.front() < c < x_.back() here, so 1 <= hi <= size()-1;
    // the clamp only guards that.
    const size_t found =
        std::upper_bound(x_.begin(), x_.end(), c, [](double a, float b) { return a < b; }) - x_.begin();
    const size_t hi = std::clamp<size_t>(found, 1, x_.size() - 1);
    const size_t lo = hi - 1;
    const double t = (c - x_[lo]) / (static_cast<double>(x_[hi]) - x_[lo]);
    v = y_[lo] + t * (static_cast<double>(y_[hi]) - y_[lo]);
  }
  return std::clamp((1 - kRankKeep) * v + kRankKeep * c, 0.0, 1.0);
}

void ConfidenceMap::apply_top1(std::vector<float>& p) const {
  if (x_.empty() || p.empty()) return;
  const size_t top = std::max_element(p.begin(), p.end()) - p.begin();
  const double c = p[top];
  const double cal = apply(c);
  double factor = c > 0 ? cal / c : 1.0;
  if (c < 1) factor = std::min(factor, (1 - cal) / (1 - c));
  for (size_t i = 0; i < p.size(); ++i) p[i] = i == top ? static_cast<float>(cal) : static_cast<float>(p[i] * factor);
}

void ConfidenceMap::serialize(std::string& out) const {
  put(out, static_cast<uint32_t>(x_.size()));
  for (size_t i = 0; i < x_.size(); ++i) {
    put(out, x_[i]);
    put(out, y_[i]);
  }
}

bool ConfidenceMap::parse(std::string_view bytes, size_t& consumed, ConfidenceMap& out) {
  Reader r(bytes);
  uint32_t n = 0;
  // A TRF2 model always has a map (an empty one is written as TRF1); check
  // the bytes are there before allocating for them.
  if (!r.get(n) || n == 0 || n > 100000) return false;
  if (r.rest().size() < 2 * sizeof(float) * static_cast<size_t>(n)) return false;
  std::vector<float> x(n), y(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!r.get(x[i]) || !r.get(y[i])) return false;
    if (!(x[i] >= 0 && x[i] <= 1 && y[i] >= 0 && y[i] <= 1)) return false;  // also rejects NaN
    if (i > 0 && !(x[i] > x[i - 1] && y[i] >= y[i - 1])) return false;
  }
  consumed = bytes.size() - r.rest().size();
  out = ConfidenceMap(std::move(x), std::move(y));
  return true;
}

ConfidenceMap fit_confidence_map(const std::vector<Scored>& preds, const std::vector<int>& truth,
                                 const CalibrationOptions& o) {
  assert(preds.size() == truth.size());
  // Non-finite confidences carry no calibration information, and sorting
  // with NaN in the comparator is undefined behaviour: skip them.
  std::vector<size_t> order;
  order.reserve(preds.size());
  for (size_t i = 0; i < preds.size(); ++i)
    if (std::isfinite(preds[i].confidence)) order.push_back(i);
  const size_t n = order.size();
  if (n < std::max<size_t>(o.min_points, 1)) return {};
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return preds[a].confidence < preds[b].confidence; });
  const size_t bin =
      std::max({o.min_bin, (n + o.max_bins - 1) / std::max<size_t>(o.max_bins, 1), size_t{1}});
  struct Block {
    double conf = 0, right = 0, n = 0;  // sums
  };
  std::vector<Block> blocks;
  for (size_t i = 0; i < n;) {
    Block b;
    size_t j = i;
    // A bin ends after `bin` predictions, but never inside a run of equal
    // confidences; a short last bin joins the one before.
    while (j < n && (b.n < bin || preds[order[j]].confidence == preds[order[j - 1]].confidence)) {
      b.conf += preds[order[j]].confidence;
      b.right += preds[order[j]].label == truth[order[j]];
      b.n += 1;
      ++j;
    }
    if (b.n < bin && !blocks.empty()) {
      blocks.back().conf += b.conf;
      blocks.back().right += b.right;
      blocks.back().n += b.n;
    } else {
      blocks.push_back(b);
    }
    i = j;
  }
  // Pool adjacent violators: a block no more accurate than the one below it
  // merges with it, until the accuracies strictly increase.
  std::vector<Block> pooled;
  for (const Block& b : blocks) {
    pooled.push_back(b);
    while (pooled.size() > 1) {
      const Block& hi = pooled.back();
      const Block& lo = pooled[pooled.size() - 2];
      if (hi.right / hi.n > lo.right / lo.n) break;
      Block m{lo.conf + hi.conf, lo.right + hi.right, lo.n + hi.n};
      pooled.pop_back();
      pooled.back() = m;
    }
  }
  std::vector<float> x, y;
  for (const Block& b : pooled) {
    const float bx = static_cast<float>(b.conf / b.n), by = static_cast<float>(b.right / b.n);
    // Mean confidences strictly increase across pooled blocks (the blocks
    // are consecutive in confidence); float rounding could still tie two.
    if (!x.empty() && bx <= x.back()) continue;
    x.push_back(std::clamp(bx, 0.0f, 1.0f));
    y.push_back(std::clamp(by, 0.0f, 1.0f));
  }
  return ConfidenceMap(std::move(x), std::move(y));
}

std::vector<Scored> apply_map(const ConfidenceMap& m, std::vector<Scored> preds) {
  // Exactly the value serving compares with the threshold: apply_top1
  // stores the calibrated top-1 as a float.
  for (auto& p : preds) p.confidence = static_cast<float>(m.apply(p.confidence));
  return preds;
}

}  // namespace ragd::triage
