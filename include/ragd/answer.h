// Answers with citations: what generate/ returns.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/search.h"

namespace ragd {

// How an answer rests on the knowledge base.
enum class Grounding {
  kExtractive,  // sentences quoted from the retrieved chunks (the extractive answerer)
  kVerified,    // LLM: every sentence cites a passage that supports it
  kPartial,     // LLM: unsupported sentences or citations were removed; the rest is supported
  kNone,        // the verifier's verdict only: nothing supported is left (the answerer falls back or refuses)
  kFallback,    // LLM: nothing supported was left, so the extractive answer from the same hits
  kRefused,     // the knowledge base does not answer (or the model said the passages do not)
};

// "extractive", "verified", "partial", "none", "fallback", "refused": the
// names in JSON, the audit log and /metrics.
constexpr std::string_view grounding_name(Grounding g) {
  switch (g) {
    case Grounding::kExtractive: return "extractive";
    case Grounding::kVerified: return "verified";
    case Grounding::kPartial: return "partial";
    case Grounding::kNone: return "none";
    case Grounding::kFallback: return "fallback";
    case Grounding::kRefused: return "refused";
  }
  return "none";
}

// Why an LLM answer's generation stopped.
enum class AnswerFinish {
  kNone,         // nothing was generated (the extractive answerer, or a refusal before generation)
  kStop,         // the model ended its answer
  kStopString,   // a stop string ended it
  kLength,       // max_tokens were generated
  kContextFull,  // the session's context filled up
  kTimeout,      // the request's deadline passed
  kCancelled,    // the client cancelled or went away
};

// "", "stop", "stop_string", "length", "context_full", "timeout",
// "cancelled": the names in JSON and the audit log.
constexpr std::string_view answer_finish_name(AnswerFinish f) {
  switch (f) {
    case AnswerFinish::kNone: return "";
    case AnswerFinish::kStop: return "stop";
    case AnswerFinish::kStopString: return "stop_string";
    case AnswerFinish::kLength: return "length";
    case AnswerFinish::kContextFull: return "context_full";
    case AnswerFinish::kTimeout: return "timeout";
    case AnswerFinish::kCancelled: return "cancelled";
  }
  return "";
}

struct Citation {
  int n = 0;  // the [n] used in the answer text, from 1
  std::string doc_id;
  std::string chunk_id;
  std::string title;
  std::string url;
  std::string quote;  // the supporting sentence
};

struct Answer {
  // A lead sentence, then steps or facts as a Markdown list; every step,
  // fact or sentence ends with its citation(s) [n].
  std::string text;
  // Markup of `text`: "markdown" (lists, `code`). Terminals print it as
  // plain text (generate/units.h markdown_to_plain).
  std::string format = "markdown";
  // The question's intent as the extractive answerer read it: "fix",
  // "cause", "fact" or "general" (generate/intent.h).
  std::string intent;
  std::vector<Citation> citations;
  // True when the knowledge base does not answer the question; then `text`
  // says so plainly and `citations` is empty.
  bool refused = false;
  Grounding grounding = Grounding::kExtractive;
  double confidence = 0;  // the evidence score the refusal threshold is applied to
  std::vector<Hit> hits;  // the retrieved context
  // LLM path only (empty/zero for the extractive answerer): generated
  // sentences the verifier removed, and the model's token counts.
  std::vector<std::string> removed_sentences;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  // LLM path only: the request id in the audit log, the model's text before
  // verification, why generation stopped, answer start to the first token
  // and to the prompt being ready (retrieval, packing, templating),
  // milliseconds.
  std::string request_id;
  std::string raw_text;
  AnswerFinish finish = AnswerFinish::kNone;
  double first_token_ms = 0;
  double prompt_ready_ms = 0;
  // Provenance: what produced this answer, so that it can be explained
  // later. answerer: "extractive" or "llm"; model file and SHA-256 only for
  // the LLM path; encoder: the store's encoder fingerprint; prompt template
  // version (LLM path); store sequence: the store's last write sequence.
  std::string answerer = "extractive";
  std::string model_file;
  std::string model_sha256;
  std::string encoder;
  std::string prompt_version;
  uint64_t store_sequence = 0;
  // Escalation to a larger model (govern/escalation.h), when the request
  // asked for it: "" (not asked), "not_needed" (the local answer stood),
  // "not_allowed" (the collection's policy forbids it), "answered" (this is
  // the upstream's verified answer), "unverified" (the upstream's answer did
  // not pass verification; the local answer stands), "failed" (the upstream
  // could not be reached or answered badly; the local answer stands),
  // "no_passages" (nothing retrieved to send). escalation_model: the
  // upstream model asked.
  std::string escalation;
  std::string escalation_model;
};

}  // namespace ragd
