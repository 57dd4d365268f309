// The triage learners: a multinomial logistic regression on hashed TF-IDF
// features (trained with Adagrad, stored with int8 weights), a TF-IDF cosine
// k-nearest-neighbours voter, the majority class, temperature calibration,
// the serving threshold and the metrics they are compared by.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ragd/status.h"
#include "triage/features.h"

namespace ragd::triage {

struct LinearOptions {
  // Passes over the training data. Default: 6 (the trainer picks the best
  // epoch count on a validation slice up to max_epochs).
  int epochs = 6;
  // Adagrad base step. Default: 0.5.
  float learning_rate = 0.5f;
  // L2 penalty per update on the touched weights. Default: 1e-6.
  float l2 = 1e-6f;
  // Class weights w_c = (n / (k * n_c))^0.5 (clamped to 0.2..5), so rare
  // groups count more without drowning the catch-all group: 0 none; 1
  // weighted, with the logits corrected by -log(w_c) so the probabilities
  // estimate the true ones; 2 weighted, uncorrected (decisions lean towards
  // rare groups). Default: 0.
  int class_weighting = 0;
  // Shuffle seed. Default: 42.
  uint64_t seed = 42;
};

// Softmax linear model, weights feature-major (w[f * classes + c]) and
// quantized to int8 per feature row after training. Immutable once trained.
class LinearModel {
 public:
  // Trains on (xs[i], ys[i]); calls after_epoch(epoch, model) with the
  // float model after each pass (for early stopping on a validation slice).
  static LinearModel train(const std::vector<SparseVec>& xs, const std::vector<int>& ys, int classes, uint32_t dim,
                           const LinearOptions& o,
                           const std::function<void(int, const LinearModel&)>& after_epoch = {});
  // Logits of x (classes() values). With class_weighting 1 the logits are
  // corrected by -log(weight), so that the softmax estimates the true
  // class probabilities again (the weighted loss inflates weighted classes).
  void logits(const SparseVec& x, std::vector<float>& out) const;
  // Replaces the float weights by int8 rows with one scale each.
  void quantize();
  int classes() const { return classes_; }
  uint32_t dim() const { return dim_; }

  // Binary form: classes, dim, bias, then the non-zero rows (index, scale,
  // int8 weights). REQUIRES: quantize() done.
  std::string serialize() const;
  static Result<LinearModel> deserialize(std::string_view bytes);

 private:
  int classes_ = 0;
  uint32_t dim_ = 0;
  void raw_logits(const SparseVec& x, std::vector<float>& out) const;

  std::vector<float> bias_;
  std::vector<float> adjust_;  // -log(class weight); folded into bias_ by quantize()
  std::vector<float> w_;       // float weights until quantize()
  std::vector<int8_t> q_;      // int8 weights after
  std::vector<float> scale_;   // per feature row
};

// Brute-force cosine k-NN over L2-normalised TF-IDF vectors (an inverted
// index over the training vectors). Votes weigh each neighbour by its
// similarity; the vote shares are the confidences.
class KnnModel {
 public:
  KnnModel(std::vector<SparseVec> docs, std::vector<int> labels, int classes);
  // Class vote shares of x with k neighbours.
  std::vector<float> votes(const SparseVec& x, int k) const;

 private:
  std::vector<int> labels_;
  int classes_;
  uint32_t dim_ = 0;
  std::vector<std::vector<std::pair<uint32_t, float>>> postings_;  // feature -> (doc, weight)
};

// softmax(logits / temperature).
std::vector<float> softmax(const std::vector<float>& logits, double temperature);

// The temperature that minimises the negative log-likelihood of `truth`
// given `logits` (grid over 0.05 .. 20, log-spaced).
double fit_temperature(const std::vector<std::vector<float>>& logits, const std::vector<int>& truth);

// One prediction: the top class and its confidence.
struct Scored {
  int label = -1;
  double confidence = 0;
};
Scored top1(const std::vector<float>& probs);

struct Metrics {
  size_t n = 0;
  double accuracy = 0;
  double macro_f1 = 0;      // over the classes in truth or predictions
  double threshold = 1;     // served confidence threshold
  double precision = 0;     // accuracy of the predictions with confidence >= threshold
  double coverage = 0;      // share of predictions with confidence >= threshold
  // Share of predictions served at the lowest threshold chosen on these
  // same predictions that still reaches the target precision (an oracle
  // threshold: comparable across families and sets, not servable).
  double coverage_at_target = 0;
};

// The smallest confidence t such that the predictions with confidence >= t
// have precision >= target (and at least min_support of them); above 1
// (withhold everything) when none reaches it.
double choose_threshold(const std::vector<Scored>& preds, const std::vector<int>& truth, double target,
                        size_t min_support = 5);

Metrics evaluate(const std::vector<Scored>& preds, const std::vector<int>& truth, int classes, double threshold);

// evaluate() plus coverage_at_target for `target_precision`.
Metrics evaluate(const std::vector<Scored>& preds, const std::vector<int>& truth, int classes, double threshold,
                 double target_precision);

// Expected calibration error over `bins` equal-width confidence bins.
double calibration_error(const std::vector<Scored>& preds, const std::vector<int>& truth, int bins = 10);

}  // namespace ragd::triage
