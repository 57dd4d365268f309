// The LLM's transport state (`ragd serve`): the bounded admission
// queue of the generation routes (POST /v1/answer with the LLM,
// POST /v1/chat/completions), their metrics, and the model's identity as the
// OpenAI routes show it. The model itself, its sessions and threads are
// service/'s LlmAnswerPath, reached through LiveLlm (service/live_llm.h) so
// that an activation can switch it while serving, also in a server started
// without one (path() is null until then).
//
// Queue (admission.h): at most `max_concurrent` generations run; up to
// `max_queue` more wait, holding no thread; beyond that a request is refused
// at once with 503 and Retry-After. Time spent waiting counts against the
// request's timeout.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/admission.h"
#include "api/http_types.h"
#include "api/metrics.h"
#include "ragd/status.h"
#include "service/live_llm.h"
#include "service/llm_path.h"

namespace ragd::api {

struct LlmServiceOptions {
  // Requests waiting for a generation slot; more get 503. Default: 8.
  int max_queue = 8;
  // Retry-After seconds on 503. Default: 1.
  int retry_after_s = 1;
  // The model id that means "retrieval-augmented" in the OpenAI routes.
  // Default: "ragd".
  std::string rag_model_name = "ragd";
};

// Metrics the generation routes update (registered by the caller's Registry).
struct LlmMetrics {
  explicit LlmMetrics(Registry& r);
  Counter& prompt_tokens;
  Counter& completion_tokens;
  Gauge& tokens_per_second;       // of the last finished generation
  HistogramFamily& time_to_first_token;
  HistogramFamily& generation_seconds;
  CounterFamily& outcomes;        // by route and outcome (ok, cancelled, timeout, rejected, error)
  CounterFamily& grounding;       // by grounding
};

class LlmService {
 public:
  // `llm` and `registry` must outlive the service.
  LlmService(LiveLlm& llm, LlmServiceOptions options, Registry& registry);

  // The model serving now, null before the first one; hold the pointer for
  // the whole request.
  std::shared_ptr<const LlmAnswerPath> path() const { return live_.current(); }
  // Loads `model` and makes it serve (LiveLlm::switch_to); model_id() and
  // fingerprint() follow. Requests in flight finish on the old model.
  Status switch_model(const std::filesystem::path& model);
  const LlmServiceOptions& options() const { return options_; }
  AdmissionQueue& queue() { return queue_; }
  // The plain-chat model id: the model file's stem (e.g. "smollm2-135m");
  // "" before the first model.
  std::string model_id() const;
  // "fp_" + the first 10 hex digits of the model's SHA-256.
  std::string fingerprint() const;
  int64_t created() const { return created_; }

  // When a request that asked for `requested_ms` (0 = nothing) and arrived
  // at `start` must be done: the shorter of it and --request-timeout;
  // time_point::max() when neither is set.
  std::chrono::steady_clock::time_point deadline(std::chrono::steady_clock::time_point start,
                                                 int requested_ms) const;

  // Metrics: an outcome of `route` ("answer", "chat"), a finished
  // generation, a grounding verdict.
  void record(const char* route, const char* outcome);
  void record_generation(const char* route, int prompt_tokens, int completion_tokens, double first_token_ms,
                         double total_ms);
  void record_grounding(Grounding grounding);

 private:
  // Sets model_id_ and fingerprint_ from `path` (locks id_mu_ only to store them).
  void set_identity(const LlmAnswerPath& path);

  LiveLlm& live_;
  LlmServiceOptions options_;
  AdmissionQueue queue_;
  LlmMetrics metrics_;
  mutable std::mutex id_mu_;
  std::string model_id_;     // guarded by id_mu_
  std::string fingerprint_;  // guarded by id_mu_
  int64_t created_ = 0;
};

// "ok", "cancelled", "timeout", "rejected" (unavailable) or "error".
const char* outcome_of(const Status& s);

}  // namespace ragd::api
