// Context packing: fits the best passages into the model's window, counted
// with the model's own tokenizer on the exact prompt the model will see.
//
// pack(): order hits by relevance -> number them [1..n] with their source
// titles -> add whole passages while the token budget (n_ctx minus the
// tokens reserved for the answer) allows, cutting the last one that does
// not fit at a sentence boundary -> render the task template and the chat
// template -> tokenize the whole prompt and, if boundary effects pushed it
// over the budget, drop text from the end until the exact count fits.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "generate/prompt_templates.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "ragd/search.h"
#include "ragd/status.h"

namespace ragd {

struct PackOptions {
  // Context positions of the session the prompt will run in (> 0).
  // Default: 2048.
  int n_ctx = 2048;
  // Positions left free for the answer (the request's max_tokens). The
  // prompt gets at most n_ctx - reserve_tokens tokens. Default: 256.
  int reserve_tokens = 256;
  // Passages in the prompt at most. Default: 8.
  int max_passages = 8;
  // A passage that does not fit whole is cut at a sentence boundary and kept
  // when at least this many of its tokens fit; otherwise it is skipped.
  // Default: 32.
  int min_passage_tokens = 32;
  // Tokens of one passage at most (long chunks are cut at a sentence
  // boundary, so one chunk cannot crowd out the rest); 0 = no limit.
  // Default: 0.
  int max_passage_tokens = 0;
};

struct PackedPassage {
  int n = 0;          // the [n] the prompt gives it, from 1
  Hit hit;            // the retrieved chunk (its full text)
  std::string text;   // the text in the prompt (may be cut)
  int tokens = 0;     // tokens of its block ("[n] title\ntext\n\n") alone
  bool truncated = false;
};

struct PackedContext {
  std::vector<PackedPassage> passages;  // in prompt order, n = 1, 2, ...
  std::string passages_text;            // the numbered block put into {{passages}}
  RenderedPrompt messages;              // the task template, filled
  std::string prompt;                   // after the chat template
  std::vector<int32_t> tokens;          // exactly what the model evaluates (BOS included)
  int budget = 0;                       // n_ctx - reserve_tokens
  int skipped = 0;                      // hits left out (budget or max_passages)
};

// Formats one passage block as the prompt shows it.
std::string format_passage(int n, const Hit& hit, std::string_view text);

// Thread-safe: pack() is const; the tokenizer and library are immutable.
class ContextPacker {
 public:
  ContextPacker(const Tokenizer& tokenizer, ChatTemplateKind chat, const PromptLibrary& prompts,
                PackOptions options = {});

  // Errors: kInvalidArgument for a bad budget; kResourceExhausted when the
  // template and input alone do not fit the budget (nothing is truncated
  // from the user's input).
  Result<PackedContext> pack(PromptTask task, std::string_view input, std::span<const Hit> hits,
                             std::string_view refusal) const;
  // The same with another answer reserve (a request's max_tokens).
  Result<PackedContext> pack(PromptTask task, std::string_view input, std::span<const Hit> hits,
                             std::string_view refusal, int reserve_tokens) const;

  // Exact tokens of a rendered prompt as the model sees it.
  std::vector<int32_t> tokenize_prompt(std::string_view prompt) const;
  const PackOptions& options() const { return options_; }

 private:
  std::string render(PromptTask task, std::string_view input, const std::string& passages,
                     std::string_view refusal, RenderedPrompt* messages) const;
  int count(std::string_view text) const;

  const Tokenizer& tokenizer_;
  ChatTemplateKind chat_;
  const PromptLibrary& prompts_;
  PackOptions options_;
};

}  // namespace ragd
