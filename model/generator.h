// Text generation over a DecoderModel: prompt evaluation, sampling, stop
// strings, token limits, streaming.
//
// One Generator (immutable: model + tokenizer) is shared; every request uses
// its own DecoderSession (KV cache), so requests run in parallel.
//
// Context policy: a prompt that does not fit the session's context is an
// error (kResourceExhausted, nothing truncated); when generation fills the
// context it stops with FinishReason::kContextFull. Nothing is shifted or
// dropped silently.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/llama.h"
#include "model/sampler.h"
#include "model/tokenizer.h"
#include "ragd/status.h"

namespace ragd {

struct GenerateOptions {
  // Maximum new tokens. Default: 256.
  int max_tokens = 256;
  SamplerOptions sampling;
  // Generation stops before any of these strings; they are not returned.
  std::vector<std::string> stop;
  // Stop at an end-of-generation token (EOS, EOT, <|im_end|>). Default: true.
  bool stop_at_eog = true;
  // Per-token hook for cancellation and deadlines: called before every
  // forward pass, i.e. before each chunk of the prompt (with 0) and after each
  // generated token, before it is evaluated (with the number of tokens
  // generated so far). A non-OK Status stops at once: generate() returns the
  // partial Generation with finish kCancelled and `stop_status` set to it.
  // Default: none (the prompt is then evaluated in one piece).
  std::function<Status(int n_generated)> should_stop;
  // Prompt tokens evaluated between two should_stop calls (only when
  // should_stop is set). Default: 64.
  int prompt_chunk = 64;
  // Lookup decoding, greedy sampling only (temperature <= 0; ignored
  // otherwise): after each token, up to this many draft tokens are taken
  // from what followed the latest earlier occurrence of the last n-gram in
  // the prompt and the answer (RAG answers quote their passages), and the
  // token and its drafts are evaluated in one pass; the drafts the model
  // agrees with are kept. The tokens are exactly plain decoding's (the rows
  // of a pass get the numbers they get alone, llama.h). 0 = off. Default: 0.
  int lookup_draft = 0;
  // Longest n-gram matched for drafts (shorter ones are tried next).
  // Default: 3.
  int lookup_ngram = 3;
  // Tokens the session already holds before `prompt`, e.g. a prefix
  // restored from a cache (model/prefix_cache.h): they lead the history
  // that lookup drafts and the sampler's repetition penalties read, so a
  // request samples the same tokens whether its prefix was restored or
  // evaluated. Must outlive generate(). Default: none.
  std::span<const int32_t> context;
  // Called once the prompt is in the cache, before the first token is
  // sampled (e.g. to store the prompt's prefix, model/prefix_cache.h).
  // Default: none.
  std::function<void()> on_prompt_evaluated;
};

enum class FinishReason { kMaxTokens, kEndOfGeneration, kStopString, kContextFull, kCancelled };

struct Generation {
  std::vector<int32_t> tokens;  // generated ids (an EOG token is not included)
  std::string text;             // decoded text, cut before a stop string
  FinishReason finish = FinishReason::kMaxTokens;
  int prompt_tokens = 0;
  // The Status returned by GenerateOptions::should_stop when it stopped the
  // generation; OK otherwise (also when the stream callback cancelled).
  Status stop_status;
  // Lookup decoding: passes that carried drafts, and drafts kept.
  int lookup_passes = 0;
  int lookup_accepted = 0;
};

// Receives each piece of text as it becomes final (held back while it could
// still be the start of a stop string). Return false to cancel.
using StreamCallback = std::function<bool(std::string_view piece)>;

// Lookup decoding's proposal: up to max_draft tokens that followed the
// latest earlier occurrence of the longest (at most max_ngram) n-gram that
// ends `history`; empty when none recurs.
void lookup_draft(std::span<const int32_t> history, int max_ngram, int max_draft, std::vector<int32_t>* draft);

class Generator {
 public:
  // `tokenizer` may be null: then only id prompts work and text is empty.
  Generator(std::shared_ptr<const DecoderModel> model, std::shared_ptr<const Tokenizer> tokenizer);

  const DecoderModel& model() const { return *model_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  std::shared_ptr<const DecoderModel> model_shared() const { return model_; }

  // A fresh per-request session. Errors: DecoderSession::create()'s (its
  // KV cache cannot be mapped).
  Result<std::unique_ptr<DecoderSession>> new_session(DecoderSessionOptions options) const;

  // Appends `prompt` to what `session` already holds and generates.
  Result<Generation> generate(DecoderSession& session, std::span<const int32_t> prompt,
                              const GenerateOptions& options, const StreamCallback& on_text = {}) const;
  // Tokenizes `prompt` (BOS as the model asks, special tokens parsed).
  Result<Generation> generate(DecoderSession& session, std::string_view prompt, const GenerateOptions& options,
                              const StreamCallback& on_text = {}) const;

 private:
  std::shared_ptr<const DecoderModel> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

}  // namespace ragd
