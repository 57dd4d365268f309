// The LLM answer path: grounded, cited, verified and audited answers.
//
// answer(): retrieve (hybrid, filters, groups) -> pack the passages into the
// window (context_packer.h) -> fill the task template (prompt_templates.h)
// -> the model's chat template -> generate in a per-request session over
// the shared model, streaming token deltas, checking cancellation and the
// deadline before every token -> verify (verifier.h) -> fall back to the
// extractive answer or refuse when nothing supported is left -> append an
// audit record (audit_log.h).
//
// Thread safety: answer() is const; the Generator (model + tokenizer),
// Retriever, prompts, Embedder and AuditLog are shared; every request gets
// a DecoderSession of its own for its duration, from sessions().
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "generate/audit_log.h"
#include "generate/context_packer.h"
#include "generate/extractive.h"
#include "generate/prompt_templates.h"
#include "generate/session_pool.h"
#include "generate/verifier.h"
#include "model/chat_template.h"
#include "model/generator.h"
#include "model/prefix_cache.h"
#include "ragd/answer.h"
#include "retrieve/retriever.h"

namespace ragd {

// What the templates tell the model to say when the passages do not answer,
// and what the verifier recognises.
inline constexpr const char* kPassagesDoNotAnswer = "The passages do not contain the answer.";

struct LlmAnswererOptions {
  // Context positions per request session; 0 = the model's trained context,
  // at most 4096. Default: 0.
  int n_ctx = 0;
  // OpenMP threads per request session; 0 = all cores. Default: 0.
  int n_threads = 0;
  // Decoder sessions (KV cache + scratch) kept between answers for reuse
  // (session_pool.h); set it to the number of answers generated at once.
  // 0 = a fresh session per answer. Default: 1.
  int sessions_kept = 1;
  // Continuous batching: the sessions evaluate in this scheduler's shared
  // forward passes (model/batch_scheduler.h); it must outlive the answerer.
  // Null = each session runs its own passes. Default: null.
  BatchScheduler* scheduler = nullptr;
  // Default new-token limit when a request does not set one. Default: 256.
  int max_tokens = 256;
  // Upper bound on a request's max_tokens. Default: 2048.
  int max_tokens_limit = 2048;
  // Default per-request timeout (prompt evaluation and generation); 0 = none.
  // Default: 0.
  std::chrono::milliseconds timeout{0};
  // Prompt tokens evaluated between cancellation/deadline checks. Default: 64.
  int prefill_chunk = 64;
  // Lookup decoding at greedy sampling (GenerateOptions::lookup_draft):
  // answers quote their passages, so drafts come from the prompt. The
  // tokens are the same as without it. 0 = off. Default: 8.
  int lookup_draft = 8;
  // Prompt-prefix cache (model/prefix_cache.h): bytes of prompt-prefix keys
  // and values kept for reuse by later requests; 0 = off. Default: 64 MiB.
  size_t prefix_cache_bytes = size_t{64} << 20;
  // Sampling when a request does not set it: greedy, so answers repeat.
  // Default: temperature 0.
  SamplerOptions sampling = [] {
    SamplerOptions s;
    s.temperature = 0.0f;
    return s;
  }();
  // Chat template family name ("chatml", "llama3", ...); "" = recognise it
  // from the model file, ChatML when the file has none. Default: "".
  std::string chat_template;
  PackOptions pack;  // n_ctx and reserve_tokens are set per request
  VerifierOptions verifier;
  // When nothing supported is left: true = the extractive answer (grounding
  // "fallback", or "refused" when it refuses too); false = refuse.
  // Default: true.
  bool fallback_to_extractive = true;
  ExtractiveOptions extractive;
  // Model identity for audit records. "" = the model's GGUF path, and its
  // SHA-256 computed once by the constructor (pass it to skip the hashing).
  std::string model_file;
  std::string model_sha256;
};

struct LlmRequest {
  SearchRequest search;                   // query, k, mode, filters, caller's groups
  PromptTask task = PromptTask::kAnswer;
  std::string input;                      // task input (ticket text); "" = search.query
  std::string request_id;                 // "" = generated
  std::string caller;                     // who asked, for the audit log; "" = unknown
  int max_tokens = 0;                     // 0 = options default
  std::chrono::milliseconds timeout{0};   // 0 = options default
  std::optional<SamplerOptions> sampling; // unset = options default
  // Polled before every token (and between prompt chunks); true = stop.
  std::function<bool()> is_cancelled;
  // The caller's retrieval for `search` (service/ reruns one that overlapped
  // an encoder switch); an error is audited and returned. Unset: retrieve
  // with the Retriever.
  std::optional<Result<std::vector<Hit>>> retrieved;
  // The prefix cache's epoch() read before `retrieved` was retrieved (a
  // purge after it keeps this prompt out of the cache). Unset: read by
  // answer() before it retrieves.
  std::optional<uint64_t> cache_epoch;
  // Where the answer reads: a collection's Retriever (null = the
  // answerer's) and a cluster's coordinator (not owned; null = the
  // Retriever's store). Retrieval (when `retrieved` is unset), the evidence
  // order and the extractive fallback go through the reader when set.
  const Retriever* retriever = nullptr;
  const KnowledgeReader* reader = nullptr;
};

// Receives each piece of generated text as it becomes final (UTF-8
// complete). Return false to cancel (e.g. the client disconnected).
using DeltaCallback = std::function<bool(std::string_view delta)>;

// The model's reason (model/generator.h) as an answer's.
AnswerFinish answer_finish_of(FinishReason r);

struct LlmAnswer {
  Answer answer;                 // text, citations (n = passage number), grounding, hits = packed passages
  std::string request_id;
  std::string raw_text;          // the model's text before verification
  Verification verification;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  AnswerFinish finish = AnswerFinish::kNone;  // why generation stopped
  double first_token_ms = 0;
  // Answer start -> prompt ready for prefill: retrieval, session, packing and
  // templating, i.e. what the answer path adds before the model's own work.
  double prompt_ready_ms = 0;
  double latency_ms = 0;
  int passages = 0;              // passages packed into the prompt
};

class LlmAnswerer {
 public:
  // `embedder` (optional) is used by the verifier; `audit` (optional) gets a
  // record per answer. All referenced objects must outlive the answerer.
  LlmAnswerer(const Retriever& retriever, std::shared_ptr<const Generator> generator, const PromptLibrary& prompts,
              LlmAnswererOptions options, const Embedder* embedder = nullptr, AuditLog* audit = nullptr);

  // Errors: kInvalidArgument (bad request), kResourceExhausted (the input
  // alone does not fit the context), kCancelled, kTimeout; cancelled and
  // timed-out requests are audited too.
  Result<LlmAnswer> answer(const LlmRequest& request, const DeltaCallback& on_delta = {}) const;

  const LlmAnswererOptions& options() const { return options_; }
  ChatTemplateKind chat_template() const { return chat_; }
  const Generator& generator() const { return *generator_; }
  // The reusable sessions answers run in; plain chat (api/) takes its
  // sessions here too, so both share one bounded set.
  SessionPool& sessions() const { return *sessions_; }
  // Null when LlmAnswererOptions::prefix_cache_bytes is 0.
  PrefixCache* prefix_cache() const { return prefix_cache_.get(); }

 private:
  const Retriever& retriever_;
  std::shared_ptr<const Generator> generator_;
  const PromptLibrary& prompts_;
  LlmAnswererOptions options_;
  const Embedder* embedder_;
  AuditLog* audit_;
  std::unique_ptr<SessionPool> sessions_;  // thread-safe
  std::unique_ptr<PrefixCache> prefix_cache_;  // thread-safe
  ChatTemplateKind chat_ = ChatTemplateKind::kChatML;
  int n_ctx_ = 0;
};

// A random 128-bit request id, 32 hex digits.
std::string new_request_id();

}  // namespace ragd
