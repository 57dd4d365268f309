// One field's served model: the feature options, the fitted TF-IDF table,
// the label set and the learner (a linear model, or the majority class),
// with its calibration temperature and serving threshold.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ragd/status.h"
#include "triage/calibration.h"
#include "triage/features.h"
#include "triage/learners.h"

namespace ragd::triage {

class FieldModel {
 public:
  // kBlend: (1 - blend) * linear + blend * kNN vote shares.
  enum class Family { kLinear, kMajority, kBlend };

  std::string field;
  Family family = Family::kLinear;
  std::vector<std::string> labels;
  Vectorizer vectorizer;          // kLinear
  LinearModel linear;             // kLinear, quantized
  std::vector<float> prior;       // kMajority: label shares
  double temperature = 1;         // softmax temperature (kLinear)
  double threshold = 1;           // served confidence threshold, on calibrated confidences
  // Monotone map of the top-1 confidence after the temperature (kLinear,
  // kBlend; calibration.h), fitted on validation. Empty: the identity, as in
  // models stored before it existed.
  ConfidenceMap calibration;
  // kBlend: the kNN memory (word-unigram TF-IDF vectors of the examples).
  Vectorizer knn_vectorizer;
  std::shared_ptr<const KnnModel> knn;
  std::vector<SparseVec> knn_docs;
  std::vector<int> knn_labels;
  int knn_k = 10;
  double blend = 0;

  // Builds `knn` from knn_docs and knn_labels.
  void build_knn();

  // Calibrated probabilities over `labels`: the top-1 is the probability of
  // being right; the others are the model's, scaled with it
  // (ConfidenceMap::apply_top1).
  std::vector<float> probabilities(const TicketText& t) const;

  // Without a calibration map the bytes are those of the previous format
  // ("TRF1"), with one "TRF2" (the map after the threshold); both load.
  std::string serialize() const;
  static Result<std::unique_ptr<FieldModel>> deserialize(std::string_view bytes);
};

const char* family_name(FieldModel::Family f);

}  // namespace ragd::triage
