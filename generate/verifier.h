// Post-generation grounding check for LLM answers.
//
// verify(): split the answer into sentences (generate/sentences.h) -> read
// each sentence's citations [n] (a citation-only fragment belongs to the
// sentence before it) -> drop numbers that name no passage -> score the
// sentence against each passage it cites: lexical support (the share of the
// sentence's analysed terms, index/analyzer.h, found in the passage) and,
// when an Embedder is given, the embedding cosine, mixed as
// (1 - w) * lexical + w * max(0, cosine) -> keep sentences whose best cited
// passage reaches the threshold -> grounding.
//
// The thresholds are calibrated on the sample KB (generate/README.md, "LLM
// answers"; tests/generate/llm_calibration_test.cpp).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/embedder.h"
#include "ragd/answer.h"
#include "ragd/search.h"

namespace ragd {

struct VerifierOptions {
  // Minimum support with lexical evidence only (no Embedder). Calibrated on
  // the sample KB's calibration split (balanced accuracy 0.994 there, 0.983
  // on the test split). Default: 0.70.
  double min_support_lexical = 0.70;
  // Minimum mixed support when an Embedder is given (GloVe-SIF: balanced
  // accuracy 0.985 calibration, 0.980 test). Default: 0.75.
  double min_support_mixed = 0.75;
  // Weight w of the embedding cosine in the mixed score. Default: 0.3.
  double vector_weight = 0.3;
  // Sentences with fewer analysed terms than this cannot be checked and are
  // treated as unsupported. Default: 1.
  int min_terms = 1;
  // The sentence the prompt tells the model to use when the passages do not
  // answer; matched case- and punctuation-insensitively. Default: the text
  // in generate/llm_answerer.h (kPassagesDoNotAnswer).
  std::string refusal = "The passages do not contain the answer.";
};

// The verdict (Verification::grounding) is one of Grounding's kVerified,
// kPartial, kNone (nothing supported is left) or kRefused (the model said the
// passages do not contain the answer); ragd/answer.h names them.

struct SentenceCheck {
  std::string text;              // the sentence without its citation markers
  std::vector<int> cited;        // valid passage numbers it cites
  std::vector<int> invalid;      // numbers it cites that name no passage
  int best = 0;                  // the cited passage with the best support, 0 if none
  double lexical = 0;            // at `best`
  double cosine = 0;             // at `best` (0 without an Embedder)
  double support = 0;            // the score the threshold is applied to
  bool supported = false;
  std::string reason;            // why not, when unsupported
};

struct Verification {
  Grounding grounding = Grounding::kNone;
  std::string text;                     // kept sentences, each ending with its [n]
  std::vector<SentenceCheck> sentences; // every sentence, in order
  std::vector<int> cited;               // passage numbers cited by kept sentences, ascending
  std::vector<int> invalid_citations;   // numbers that named no passage, ascending
  std::vector<std::string> removed;     // sentences removed as unsupported
  double mean_support = 0;              // over kept sentences
};

// A [n] / [n, m] / [n][m] citation marker in text.
struct CitationMarker {
  size_t begin = 0, end = 0;  // byte range of the marker
  std::vector<int> numbers;
};
std::vector<CitationMarker> find_citation_markers(std::string_view text);
// `s` without its `markers` (from find_citation_markers(s)), spaces tidied:
// "listener [1]." -> "listener.".
std::string strip_citation_markers(std::string_view s, const std::vector<CitationMarker>& markers);

// Thread-safe: verify() is const; the Embedder is shared.
class Verifier {
 public:
  // `embedder` may be null (lexical support only).
  explicit Verifier(const Embedder* embedder = nullptr, VerifierOptions options = {});

  // `passages[i]` is passage number i + 1 as the prompt numbered them.
  Verification verify(std::string_view answer, std::span<const std::string> passages) const;

  // Support of one sentence by one passage (for calibration): lexical share
  // and, with an Embedder, cosine and the mixed score.
  struct Support {
    double lexical = 0;
    double cosine = 0;
    double score = 0;
    int terms = 0;
  };
  Support support(std::string_view sentence, std::string_view passage) const;
  double threshold() const { return embedder_ ? options_.min_support_mixed : options_.min_support_lexical; }
  const VerifierOptions& options() const { return options_; }

 private:
  const Embedder* embedder_;
  VerifierOptions options_;
};

}  // namespace ragd
