// Answers with citations: what generate/ returns.
#pragma once

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
  std::string text;  // every sentence ends with its citation(s) [n]
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
};

}  // namespace ragd
