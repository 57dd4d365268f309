// Drift signals (issue 16, point 3): what the answers of the last window
// look like, against a stored baseline window.
//
//   DriftAnswerer wraps the served Answerer and hands each answer to a
//   DriftMonitor: refused or not, the best retrieval score, the share of
//   analysed query terms the lexical index has never seen (out of
//   vocabulary), and the citation outcome (grounding). The monitor keeps the
//   last `window` answers; the baseline is the first full window (or one set
//   with set_baseline()), kept in the store's state key "drift_baseline" so
//   it survives restarts. api/ exports both and their difference (the shift
//   gauges) in /metrics; packaging/ragd-alerts.yml alerts on the shifts.
//
// Thread safety: DriftMonitor's methods may be called from many threads.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "index/store.h"
#include "ragd/answer.h"
#include "service/answerer.h"
#include "service/service.h"

namespace ragd::govern {

// One answer as drift sees it.
struct DriftSample {
  bool refused = false;
  double best_score = 0;  // the top hit's fused score, 0 without hits
  double oov_share = 0;   // analysed query terms the lexical index lacks / all (0 for none)
  std::string grounding;  // grounding_name(); "refused" when refused
};

// Means over a window of samples.
struct DriftStats {
  size_t answers = 0;
  double refusal_rate = 0;
  double best_score_mean = 0;
  double oov_share = 0;
  std::map<std::string, double> grounding_share;  // grounding -> share of answers
};

std::string drift_stats_to_json(const DriftStats& s);
Result<DriftStats> drift_stats_from_json(std::string_view text);

struct DriftOptions {
  // Answers in the current window (and in an automatic baseline). Default: 500.
  size_t window = 500;
};

class DriftMonitor {
 public:
  // `store` (may be null: the baseline is not persisted) must outlive it.
  // Reads a stored baseline.
  explicit DriftMonitor(Store* store, DriftOptions options = {});

  // The sample of an answer: OOV terms are looked up in `store`'s lexical
  // index.
  static DriftSample sample_of(const Answer& answer, const std::string& query, const Store& store);

  void observe(const DriftSample& sample);
  DriftStats current() const;
  std::optional<DriftStats> baseline() const;
  // Makes the current window the baseline (and stores it). Errors: the
  // store's; kFailedPrecondition when the window is empty.
  Status set_baseline();
  // Called with every sample after it is recorded (the best-score histogram).
  std::function<void(const DriftSample&)> on_sample;

 private:
  DriftStats stats_locked() const;  // REQUIRES: mu_ held
  Status store_baseline_locked();   // REQUIRES: mu_ held
  Store* store_;
  DriftOptions options_;
  mutable std::mutex mu_;
  std::deque<DriftSample> window_;     // GUARDED_BY(mu_)
  std::optional<DriftStats> baseline_;  // GUARDED_BY(mu_)
};

// Forgets the stored baseline: the next full window becomes the new one
// (`ragd drift reset`, server stopped).
Status reset_drift_baseline(Store& store);

// Feeds every answer of `inner` to `monitor` (the default collection's and
// the collections' answers alike; OOV against the answering collection).
class DriftAnswerer final : public Answerer {
 public:
  DriftAnswerer(const Answerer& inner, const ServiceContext& ctx, DriftMonitor& monitor)
      : inner_(inner), ctx_(ctx), monitor_(monitor) {}
  Result<Answer> answer(const AnswerRequest& request, AnswerSink* sink) const override;
  bool generates() const override { return inner_.generates(); }
  std::optional<uint64_t> prefix_cache_epoch() const override { return inner_.prefix_cache_epoch(); }

 private:
  const Answerer& inner_;
  const ServiceContext& ctx_;
  DriftMonitor& monitor_;
};

}  // namespace ragd::govern
