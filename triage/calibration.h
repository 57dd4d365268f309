// A monotone map of the top-1 confidence, fitted on validation predictions
// after the softmax temperature: an isotonic regression (pool adjacent
// violators) of "the top-1 prediction is right" on its confidence. One
// temperature scales every logit alike, so it cannot fix a model that is
// over-confident in one range and under-confident in another (class weights
// left uncorrected do that); the map can.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "triage/learners.h"

namespace ragd::triage {

struct CalibrationOptions {
  // Fewest validation predictions to fit a map on; with fewer the map is
  // the identity (a few points would only add noise). Default: 50.
  size_t min_points = 50;
  // Predictions per initial bin before pooling (equal confidences are never
  // split), at least this many and at least n / max_bins. Default: 10.
  size_t min_bin = 10;
  // Most initial bins. Default: 50.
  size_t max_bins = 50;
};

// Piecewise-linear, non-decreasing map from a top-1 confidence to the
// probability that the prediction is right. Empty: the identity. Immutable
// once fitted; apply() may run on many threads.
class ConfidenceMap {
 public:
  ConfidenceMap() = default;
  // REQUIRES: x strictly increasing, y non-decreasing in [0, 1], same size.
  ConfidenceMap(std::vector<float> x, std::vector<float> y);

  // The calibrated confidence of c: linear between breakpoints, the end
  // values beyond them, plus kRankKeep * c so that confidences the pooled
  // map ties stay ordered (the served threshold can still separate them,
  // exactly where it could before the map). Identity when empty.
  double apply(double c) const;
  // Applies the map to the top-1 of `p` in place and scales the others by
  // the same factor, or by less when that would push the total above 1 (then
  // they share 1 - the calibrated top-1 in their own proportions). So the
  // order of `p` is kept and the alternatives stay below the top-1.
  void apply_top1(std::vector<float>& p) const;

  bool empty() const { return x_.empty(); }
  const std::vector<float>& x() const { return x_; }
  const std::vector<float>& y() const { return y_; }

  // Binary form: count, then (x, y) pairs as floats.
  void serialize(std::string& out) const;
  // Checks the invariants above; false on any violation.
  static bool parse(std::string_view bytes, size_t& consumed, ConfidenceMap& out);

  static constexpr double kRankKeep = 1e-3;

 private:
  std::vector<float> x_, y_;
};

// Isotonic regression of (prediction right) on confidence over `preds`:
// sorted by confidence, cut into bins of equal confidence runs (sizes per
// CalibrationOptions), bins pooled while a lower one is at least as accurate
// as the next; a breakpoint per pooled block at (its mean confidence, its
// accuracy). The identity when fewer than o.min_points predictions.
ConfidenceMap fit_confidence_map(const std::vector<Scored>& preds, const std::vector<int>& truth,
                                 const CalibrationOptions& o = {});

// preds with each confidence passed through m and rounded to float: exactly
// the top-1 confidence apply_top1 serves, so a threshold chosen on these
// withholds at serving exactly what it withheld on validation.
std::vector<Scored> apply_map(const ConfidenceMap& m, std::vector<Scored> preds);

}  // namespace ragd::triage
