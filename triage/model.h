// One field's served model: the feature options, the fitted TF-IDF table,
// the label set and the learner (a linear model, or the majority class),
// with its calibration temperature and serving threshold.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ragd/status.h"
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
  double threshold = 1;           // served confidence threshold
  // kBlend: the kNN memory (word-unigram TF-IDF vectors of the examples).
  Vectorizer knn_vectorizer;
  std::shared_ptr<const KnnModel> knn;
  std::vector<SparseVec> knn_docs;
  std::vector<int> knn_labels;
  int knn_k = 10;
  double blend = 0;

  // Builds `knn` from knn_docs and knn_labels.
  void build_knn();

  // Calibrated probabilities over `labels`.
  std::vector<float> probabilities(const TicketText& t) const;

  std::string serialize() const;
  static Result<std::unique_ptr<FieldModel>> deserialize(std::string_view bytes);
};

const char* family_name(FieldModel::Family f);

}  // namespace ragd::triage
