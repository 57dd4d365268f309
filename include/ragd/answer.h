// Answers with citations: what generate/ returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ragd/search.h"

namespace ragd {

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
  // "extractive", or for the LLM path: "verified", "partial", "fallback", "refused".
  std::string grounding = "extractive";
  double confidence = 0;  // the evidence score the refusal threshold is applied to
  std::vector<Hit> hits;  // the retrieved context
  // LLM path only (empty/zero for the extractive answerer): generated
  // sentences the verifier removed, and the model's token counts.
  std::vector<std::string> removed_sentences;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  // LLM path only: the request id in the audit log, the model's text before
  // verification, why generation stopped ("stop", "length", ...), answer
  // start to the first token and to the prompt being ready (retrieval,
  // packing, templating), milliseconds.
  std::string request_id;
  std::string raw_text;
  std::string finish_reason;
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
};

}  // namespace ragd
