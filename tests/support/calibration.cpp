#include "tests/support/calibration.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

namespace ragd {
namespace {

std::vector<std::string> strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace

Result<std::vector<KbQuestion>> load_kb_questions(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::not_found(path.string() + ": cannot open");
  std::vector<KbQuestion> out;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    const std::string where = path.string() + ": line " + std::to_string(lineno);
    if (j.is_discarded() || !j.is_object()) return Status::invalid_argument(where + ": not a JSON object");
    KbQuestion q;
    if (!j.contains("id") || !j["id"].is_string() || !j.contains("query") || !j["query"].is_string())
      return Status::invalid_argument(where + ": needs string fields 'id' and 'query'");
    q.id = j["id"].get<std::string>();
    q.query = j["query"].get<std::string>();
    q.in_domain = j.value("in_domain", false);
    q.split = j.value("split", std::string("test"));
    q.expected_doc_ids = strings(j, "expected_doc_ids");
    q.answer_contains = strings(j, "answer_contains");
    q.groups = strings(j, "groups");
    out.push_back(std::move(q));
  }
  return out;
}

double ThresholdChoice::accuracy() const {
  size_t n = answered_in + refused_in + answered_out + refused_out;
  return n ? static_cast<double>(answered_in + refused_out) / static_cast<double>(n) : 0.0;
}

double ThresholdChoice::balanced_accuracy() const {
  double in = answered_in + refused_in ? static_cast<double>(answered_in) / static_cast<double>(answered_in + refused_in) : 1.0;
  double out = answered_out + refused_out
                   ? static_cast<double>(refused_out) / static_cast<double>(answered_out + refused_out)
                   : 1.0;
  return (in + out) / 2;
}

ThresholdChoice evaluate_threshold(const std::vector<CalibrationPoint>& points, double t) {
  ThresholdChoice c;
  c.threshold = t;
  for (const auto& p : points) {
    bool answer = p.confidence >= t;
    if (p.in_domain) (answer ? c.answered_in : c.refused_in)++;
    else (answer ? c.answered_out : c.refused_out)++;
  }
  return c;
}

ThresholdChoice choose_refusal_threshold(const std::vector<CalibrationPoint>& points) {
  std::vector<double> v;
  for (const auto& p : points) v.push_back(p.confidence);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  // Candidates: below everything, every midpoint, above everything.
  std::vector<std::pair<double, double>> cands;  // threshold, gap width
  if (v.empty()) return evaluate_threshold(points, 0.5);
  cands.push_back({v.front() - 1e-9, 0});
  for (size_t i = 0; i + 1 < v.size(); ++i) cands.push_back({(v[i] + v[i + 1]) / 2, v[i + 1] - v[i]});
  cands.push_back({v.back() + 1e-9, 0});
  ThresholdChoice best;
  double best_score = -1, best_gap = -1;
  for (const auto& [t, gap] : cands) {
    ThresholdChoice c = evaluate_threshold(points, t);
    double s = c.balanced_accuracy();
    if (s > best_score + 1e-12 || (s > best_score - 1e-12 && gap > best_gap)) {
      best = c;
      best_score = s;
      best_gap = gap;
    }
  }
  return best;
}

}  // namespace ragd
