// The LLM Answerer (`ragd serve --llm MODEL.gguf`): one loaded decoder shared
// by every request, its prompts and audit log, and the model threads the
// generations run on (model_threads.h). answer() retrieves through
// ServiceContext::search() (rerun across a reindex switch) on a model
// thread, then hands the hits to generate/'s LlmAnswerer: pack, prompt,
// generate (streaming pieces to the sink), verify, fall back, audit.
//
// It does not queue: at most `max_concurrent` calls should run at once
// (api/ admits generation requests), more wait for a model thread.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "generate/audit_log.h"
#include "generate/llm_answerer.h"
#include "generate/prompt_templates.h"
#include "model/chat_template.h"
#include "model/batch_scheduler.h"
#include "model/generator.h"
#include "service/answerer.h"
#include "service/model_threads.h"
#include "service/service.h"

namespace ragd {

struct LlmPathOptions {
  // GGUF decoder model (llama, qwen2). Required.
  std::filesystem::path model;
  // Task prompt templates; empty = default_prompts_dir(). Default: empty.
  std::filesystem::path prompts;
  // Audit log file; empty = no audit log. Default: empty.
  std::filesystem::path audit_log;
  // Generations running at once: model threads and reusable decoder
  // sessions. Default: 1.
  int max_concurrent = 1;
  // Sequences that share each forward pass (continuous batching,
  // model/batch_scheduler.h); 1 = every generation runs its own passes.
  // Default: 1 (ragd serve --parallel: 4).
  int parallel = 1;
  // Prompt tokens of one sequence per shared pass, and of all sequences
  // (with parallel > 1). Default: 64, 128.
  int prefill_chunk = 64;
  int prefill_tokens_per_pass = 128;
  // n_ctx, n_threads, max_tokens, timeout (the default per-request timeout,
  // also for plain chat), sampling...
  LlmAnswererOptions answerer;
};

class LlmAnswerPath final : public Answerer {
 public:
  // Loads the model, the prompts and the audit log. `ctx` must outlive it.
  static Result<std::unique_ptr<LlmAnswerPath>> open(const ServiceContext& ctx, LlmPathOptions options);
  ~LlmAnswerPath() override;

  Result<Answer> answer(const AnswerRequest& request, AnswerSink* sink) const override;
  bool generates() const override { return true; }
  std::optional<uint64_t> prefix_cache_epoch() const override {
    const PrefixCache* c = answerer_->prefix_cache();
    return c ? std::optional<uint64_t>(c->epoch()) : std::nullopt;
  }

  // Plain chat with the loaded model (no retrieval) in one of the answerer's
  // sessions on a model thread; `on_piece` receives the generated text.
  Result<Generation> chat(std::span<const ChatMessage> messages, const GenerateOptions& options,
                          const StreamCallback& on_piece) const;

  const LlmPathOptions& options() const { return options_; }
  // The prompt-prefix cache's counters (zeros when it is off).
  PrefixCacheStats prefix_cache_stats() const {
    const PrefixCache* c = answerer_->prefix_cache();
    return c ? c->stats() : PrefixCacheStats{};
  }
  // Empties the prompt-prefix cache (a purge: cached prompts hold passages).
  void clear_prefix_cache() const {
    if (PrefixCache* c = answerer_->prefix_cache()) c->clear();
  }
  // The batch scheduler's counters (zeros with --parallel 1: no scheduler).
  BatchSchedulerStats batch_stats() const { return scheduler_ ? scheduler_->stats() : BatchSchedulerStats{}; }
  // The model file's SHA-256 (hex).
  const std::string& model_sha256() const { return answerer_->options().model_sha256; }
  // The answer prompt template's version (generate/prompt_templates.h).
  std::string prompt_version() const {
    return prompt_template_version(PromptTask::kAnswer, prompts_->get(PromptTask::kAnswer));
  }

 private:
  LlmAnswerPath(const ServiceContext& ctx, LlmPathOptions options);

  const ServiceContext& ctx_;
  LlmPathOptions options_;
  std::shared_ptr<const Generator> generator_;
  std::unique_ptr<PromptLibrary> prompts_;
  std::unique_ptr<AuditLog> audit_;
  // Declared before answerer_: its sessions pause() in it when destroyed.
  std::unique_ptr<BatchScheduler> scheduler_;
  std::unique_ptr<LlmAnswerer> answerer_;
  mutable ModelThreads threads_;
};

}  // namespace ragd
