// Refusal calibration: the sample KB's evaluation questions and the choice
// of the evidence threshold below which the extractive answerer refuses.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ragd/status.h"

namespace ragd {

// One line of examples/kb-eval/questions.jsonl (see its README).
struct KbQuestion {
  std::string id;
  std::string query;
  bool in_domain = false;
  std::vector<std::string> expected_doc_ids;
  std::vector<std::string> answer_contains;
  std::string split;  // "calibration" or "test"
  std::vector<std::string> groups;
};

Result<std::vector<KbQuestion>> load_kb_questions(const std::filesystem::path& path);

// An answerer's evidence score for one question, and whether it should answer.
struct CalibrationPoint {
  double confidence = 0;
  bool in_domain = false;
};

struct ThresholdChoice {
  double threshold = 0;
  size_t answered_in = 0;   // in-domain and answered (true positive)
  size_t refused_in = 0;    // in-domain but refused
  size_t answered_out = 0;  // out-of-domain but answered
  size_t refused_out = 0;   // out-of-domain and refused (true negative)
  double accuracy() const;
  // Mean of the in-domain answer rate and the out-of-domain refusal rate.
  double balanced_accuracy() const;
};

// Counts at threshold t: answer when confidence >= t.
ThresholdChoice evaluate_threshold(const std::vector<CalibrationPoint>& points, double t);

// The threshold that maximises balanced accuracy on `points`; among equal
// choices, the midpoint of the widest gap between neighbouring confidences
// (the most margin on both sides).
ThresholdChoice choose_refusal_threshold(const std::vector<CalibrationPoint>& points);

}  // namespace ragd
