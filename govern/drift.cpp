#include "govern/drift.h"

#include <nlohmann/json.hpp>

#include "index/analyzer.h"

namespace ragd::govern {
namespace {

using json = nlohmann::json;
constexpr const char* kBaselineKey = "drift_baseline";

}  // namespace

std::string drift_stats_to_json(const DriftStats& s) {
  json j{{"answers", s.answers},
         {"refusal_rate", s.refusal_rate},
         {"best_score_mean", s.best_score_mean},
         {"oov_share", s.oov_share},
         {"grounding_share", s.grounding_share}};
  return j.dump();
}

Result<DriftStats> drift_stats_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::corruption("drift baseline is not a JSON object");
  DriftStats s;
  try {
    s.answers = j.at("answers").get<size_t>();
    s.refusal_rate = j.at("refusal_rate").get<double>();
    s.best_score_mean = j.at("best_score_mean").get<double>();
    s.oov_share = j.at("oov_share").get<double>();
    s.grounding_share = j.at("grounding_share").get<std::map<std::string, double>>();
  } catch (const json::exception& e) {
    return Status::corruption(std::string("drift baseline: ") + e.what());
  }
  return s;
}

DriftMonitor::DriftMonitor(Store* store, DriftOptions options) : store_(store), options_(options) {
  if (options_.window == 0) options_.window = 1;
  if (store_ != nullptr) {
    auto stored = store_->get_state(kBaselineKey);
    if (stored.is_ok() && !stored->empty()) {
      if (auto s = drift_stats_from_json(*stored); s.is_ok()) baseline_ = *s;
    }
  }
}

DriftSample DriftMonitor::sample_of(const Answer& answer, const std::string& query, const Store& store) {
  DriftSample s;
  s.refused = answer.refused || answer.grounding == Grounding::kRefused;
  s.grounding = s.refused ? std::string("refused") : std::string(grounding_name(answer.grounding));
  if (!answer.hits.empty()) s.best_score = answer.hits.front().score;
  const std::vector<std::string> terms = analyze(query);
  if (!terms.empty()) {
    const DocPredicate any = [](const DocInfo&) { return true; };
    size_t unseen = 0;
    for (const auto& t : terms) {
      const std::string one[1] = {t};
      if (store.search_lexical(one, 1, any).empty()) ++unseen;
    }
    s.oov_share = static_cast<double>(unseen) / static_cast<double>(terms.size());
  }
  return s;
}

void DriftMonitor::observe(const DriftSample& sample) {
  {
    std::lock_guard lock(mu_);
    window_.push_back(sample);
    while (window_.size() > options_.window) window_.pop_front();
    // The first full window is the baseline unless one is stored.
    if (!baseline_ && window_.size() == options_.window) {
      baseline_ = stats_locked();
      (void)store_baseline_locked();  // kept in memory either way
    }
  }
  if (on_sample) on_sample(sample);
}

DriftStats DriftMonitor::stats_locked() const {
  DriftStats s;
  s.answers = window_.size();
  if (window_.empty()) return s;
  for (const auto& x : window_) {
    s.refusal_rate += x.refused ? 1 : 0;
    s.best_score_mean += x.best_score;
    s.oov_share += x.oov_share;
    s.grounding_share[x.grounding] += 1;
  }
  const double n = static_cast<double>(window_.size());
  s.refusal_rate /= n;
  s.best_score_mean /= n;
  s.oov_share /= n;
  for (auto& [g, v] : s.grounding_share) v /= n;
  return s;
}

DriftStats DriftMonitor::current() const {
  std::lock_guard lock(mu_);
  return stats_locked();
}

std::optional<DriftStats> DriftMonitor::baseline() const {
  std::lock_guard lock(mu_);
  return baseline_;
}

Status DriftMonitor::store_baseline_locked() {
  if (store_ == nullptr || !baseline_) return Status::ok();
  return store_->put_state(kBaselineKey, drift_stats_to_json(*baseline_));
}

Status DriftMonitor::set_baseline() {
  std::lock_guard lock(mu_);
  if (window_.empty()) return Status::failed_precondition("no answers observed yet: nothing to take as the baseline");
  baseline_ = stats_locked();
  return store_baseline_locked();
}

Status reset_drift_baseline(Store& store) { return store.delete_state(kBaselineKey); }

Result<Answer> DriftAnswerer::answer(const AnswerRequest& request, AnswerSink* sink) const {
  RAGD_ASSIGN_OR_RETURN(Answer a, inner_.answer(request, sink));
  const ServiceContext& ctx = request.context != nullptr ? *request.context : ctx_;
  monitor_.observe(DriftMonitor::sample_of(a, request.search.query, ctx.store()));
  return a;
}

}  // namespace ragd::govern
