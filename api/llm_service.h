// The LLM side of the HTTP API: one loaded decoder shared by every request
// (each running request holds a DecoderSession from a pool of
// max_concurrent reusable ones), a bounded admission queue, and the routes
// that use them:
//
//   POST /v1/answer             (with "stream": true as Server-Sent Events)
//   POST /v1/chat/completions   (OpenAI schema; model "ragd" = retrieval-augmented)
//   GET  /v1/models
//
// plus POST /v1/embeddings over the service's encoder (works without --llm).
// Like routes.h these are functions of a Request returning a Response; a
// streaming Response's producer runs later on a thread the server gives it,
// and is the one that waits for its turn in the queue.
//
// Queue: at most `max_concurrent` generations run; up to `max_queue` more
// wait; beyond that a request is refused at once with 503 and Retry-After.
// Time spent waiting counts against the request's timeout.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/http_types.h"
#include "api/metrics.h"
#include "api/routes.h"
#include "api/service.h"
#include "generate/audit_log.h"
#include "generate/llm_answerer.h"
#include "generate/prompt_templates.h"
#include "model/generator.h"
#include "ragd/status.h"

namespace ragd::api {

struct ChatCall;  // one /v1/chat/completions request (llm_service.cpp)

// Running generations <= max_concurrent, waiting <= max_queue.
class AdmissionQueue {
 public:
  AdmissionQueue(int max_concurrent, int max_queue) : max_concurrent_(max_concurrent), max_queue_(max_queue) {}

  // A place in the queue; its destructor gives the place (or the slot) back.
  class Ticket {
   public:
    Ticket() = default;
    explicit Ticket(AdmissionQueue* q) : q_(q) {}
    Ticket(Ticket&& o) noexcept : q_(o.q_), running_(o.running_) { o.q_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();
    // Waits for a running slot until `deadline` (time_point::max() = none)
    // or until cancelled() is true (polled every 10 ms). Errors: kTimeout,
    // kCancelled.
    Status wait(std::chrono::steady_clock::time_point deadline, const std::function<bool()>& cancelled);

   private:
    AdmissionQueue* q_ = nullptr;
    bool running_ = false;
  };

  // Takes a place without blocking; kUnavailable when the queue is full.
  Result<Ticket> admit();
  int running() const;
  int waiting() const;

 private:
  const int max_concurrent_, max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;  // guarded by mu_
  int waiting_ = 0;  // guarded by mu_
};

// The threads the model runs on. Requests wait for their turn on the
// server's generation pool (one thread per waiting request: 66 with
// --max-queue 64), but the generation itself runs here, on `n` threads
// started once (n = max_concurrent). What the model keeps per thread (the
// thread_local activation and tile buffers of model/matmul.cpp and
// model/kv_cache.cpp, and the malloc arena a thread allocates from) then
// exists n times instead of once for every pool thread that ever ran a
// generation, which made the server's RSS climb for minutes of load.
class ModelThreads {
 public:
  explicit ModelThreads(int n);
  // Finishes the work already handed in, then joins.
  ~ModelThreads();
  ModelThreads(const ModelThreads&) = delete;
  ModelThreads& operator=(const ModelThreads&) = delete;

  // Runs `fn` on one of the threads and returns when it has finished; an
  // exception `fn` throws is rethrown here. Waits for a free thread when all
  // are busy (the admission queue normally keeps one free).
  void run(const std::function<void()>& fn);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  struct Job;
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> jobs_;  // guarded by mu_
  bool stop_ = false;      // guarded by mu_
  std::vector<std::thread> threads_;
};

struct LlmServiceOptions {
  // GGUF decoder model (llama, qwen2). Required.
  std::filesystem::path model;
  // Task prompt templates; empty = default_prompts_dir(). Default: empty.
  std::filesystem::path prompts;
  // Audit log file; empty = no audit log. Default: empty.
  std::filesystem::path audit_log;
  // Generations running at once (each uses answerer.n_threads). Default: 1.
  int max_concurrent = 1;
  // Requests waiting for a generation slot; more get 503. Default: 8.
  int max_queue = 8;
  // Retry-After seconds on 503. Default: 1.
  int retry_after_s = 1;
  // The model id that means "retrieval-augmented" in the OpenAI routes.
  // Default: "ragd".
  std::string rag_model_name = "ragd";
  // Answer path options: n_ctx, n_threads, max_tokens, timeout (the default
  // per-request timeout, also applied to plain chat), sampling...
  LlmAnswererOptions answerer;
};

// Metrics the LLM routes update (registered by the caller's Registry).
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
  // Loads the model, the prompts and the audit log. `ctx` and `registry`
  // must outlive the service.
  static Result<std::unique_ptr<LlmService>> open(ServiceContext& ctx, LlmServiceOptions options, Registry& registry);
  ~LlmService();

  Response answer(const Request& req, const RouteOptions& options);
  Response chat_completions(const Request& req, const RouteOptions& options);
  Response models(const Request& req);

  const AdmissionQueue& queue() const { return queue_; }
  const LlmServiceOptions& options() const { return options_; }
  // The plain-chat model id: the model file's stem (e.g. "smollm2-135m").
  const std::string& model_id() const { return model_id_; }

 private:
  LlmService(ServiceContext& ctx, LlmServiceOptions options, Registry& registry);
  std::chrono::milliseconds timeout_for(int requested_ms) const;
  Response rag_chat(const Request& req, const ChatCall& call);
  Response plain_chat(const Request& req, const ChatCall& call);
  // answerer_->answer() on one of model_threads_.
  Result<LlmAnswer> answer_on_model_thread(const LlmRequest& request, const DeltaCallback& on_delta);
  void record(const char* route, const char* outcome);
  void record_generation(const char* route, int prompt_tokens, int completion_tokens, double first_token_ms,
                         double total_ms);

  ServiceContext& ctx_;
  LlmServiceOptions options_;
  std::shared_ptr<const Generator> generator_;
  std::unique_ptr<PromptLibrary> prompts_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<LlmAnswerer> answerer_;
  AdmissionQueue queue_;
  ModelThreads model_threads_;
  LlmMetrics metrics_;
  std::string model_id_;
  std::string fingerprint_;  // "fp_" + the first 10 hex digits of the model's SHA-256
  int64_t created_ = 0;
};

// POST /v1/embeddings over ctx.embedder() (GloVe-SIF or a GGUF encoder).
// Any model name is accepted (there is one encoder) and echoed back.
Response handle_embeddings(const Request& req, ServiceContext& ctx);

// The JSON error body of the OpenAI routes, with the HTTP code http_status()
// gives (and Retry-After on 503).
Response openai_error_response(const Status& status, int retry_after_s = 1);

}  // namespace ragd::api
