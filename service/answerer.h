// The one answering interface the HTTP route and the CLI call: the extractive
// answerer (always there) and the LLM answerer (`--llm`) both implement it.
//
//   answer(request, sink) -> Result<Answer>
//
// The request is parsed once by the caller (api/routes/answer.cpp for
// POST /v1/answer); the answerer retrieves through ServiceContext::search()
// (rerun across a reindex switch), answers, and records the answer in the
// audit log. A streaming answerer sends each piece of generated text to the
// sink as it becomes final and polls it for cancellation; the sink may be
// null (no streaming, no cancellation).
//
// Thread safety: answer() may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "generate/prompt_templates.h"
#include "model/sampler.h"
#include "ragd/answer.h"
#include "ragd/search.h"
#include "ragd/status.h"

namespace ragd {

class ServiceContext;

struct AnswerRequest {
  // Query, k, mode, filters and the caller's groups.
  SearchRequest search;
  // The collection to answer from (service/collections.h); null = the
  // answerer's own ServiceContext (the default collection). Holding it keeps
  // a collection that is deleted meanwhile open until the answer is done.
  std::shared_ptr<const ServiceContext> context;
  // The collection's name ("" = the default), for per-collection policies
  // (govern/escalation.h).
  std::string collection;
  // Where to retrieve instead of the collection's own store (a cluster's
  // coordinator; not owned). Null = the collection. Both paths also read
  // documents' other chunks through it (the LLM path for its evidence order
  // and its extractive fallback).
  const KnowledgeReader* reader = nullptr;
  // LLM only: the task template and its input ("" = search.query).
  // Default: answer.
  PromptTask task = PromptTask::kAnswer;
  std::string input;
  // LLM only: the passages to answer from instead of retrieving (ticket
  // tasks: the ticket's own description and work notes, and its similar
  // tickets' resolutions, which are not in the store as such). Their
  // doc_id/chunk_id come back in the answer's citations. Empty = retrieve.
  std::vector<Hit> passages;
  // X-Request-Id of the HTTP request; "" = generated (LLM) or none.
  std::string request_id;
  // Who asked, for the audit log; "" = unknown.
  std::string caller;
  // LLM only: new tokens at most; 0 = the answerer's default.
  int max_tokens = 0;
  // LLM only: when the answer must be done (time_point::max() = the
  // answerer's default timeout).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // LLM only: sampling; unset = the answerer's default (greedy).
  std::optional<SamplerOptions> sampling;
  // LLM only: the answerer's prefix_cache_epoch(), read before `passages`
  // were gathered from the store (ticket tasks: before the similar tickets
  // were found), so a purge since then keeps the prompt out of the prefix
  // cache. Unset = read when the answer starts, before it retrieves.
  std::optional<uint64_t> cache_epoch;
  // The caller allows a refused or unverified answer to be handed to the
  // collection's larger model, if its policy allows it too
  // (govern/escalation.h; "escalate": true). Default: false.
  bool escalate = false;
};

// Where a streaming answer goes while it is being generated.
class AnswerSink {
 public:
  virtual ~AnswerSink() = default;
  // A piece of generated text (UTF-8 complete). False = stop generating
  // (the client went away).
  virtual bool on_delta(std::string_view text) = 0;
  // Polled before every token; true = stop (kCancelled).
  virtual bool cancelled() = 0;
};

class Answerer {
 public:
  virtual ~Answerer() = default;
  // Errors: kInvalidArgument (bad request), kResourceExhausted (the input
  // does not fit the model's context), kCancelled, kTimeout, and the store's
  // and the audit log's errors (an answer that cannot be audited is not
  // returned).
  virtual Result<Answer> answer(const AnswerRequest& request, AnswerSink* sink) const = 0;
  // True when answer() streams model text to the sink ("stream": true is
  // accepted) and reads the LLM-only request fields.
  virtual bool generates() const = 0;
  // The prompt-prefix cache's epoch (model/prefix_cache.h), for
  // AnswerRequest::cache_epoch; nullopt = no cache. A wrapper returns its
  // inner answerer's.
  virtual std::optional<uint64_t> prefix_cache_epoch() const = 0;
};

}  // namespace ragd
