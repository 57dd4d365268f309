// The default answerer: picks supporting sentences from the top chunks and
// cites each one, or refuses when the evidence is too weak.
//
// answer(): retrieve -> split the top chunks into sentences -> score each
// sentence (query-term coverage weighted by term rarity, embedding cosine,
// the chunk's rank) -> pick the best non-redundant ones -> evidence score ->
// refuse below the calibrated threshold, else compose "sentence [n]" text.
#pragma once

#include <string>
#include <vector>

#include "ragd/answer.h"
#include "ragd/search.h"
#include "ragd/status.h"
#include "retrieve/retriever.h"

namespace ragd {

class GloveSifEmbedder;

inline constexpr const char* kRefusalText = "The knowledge base does not answer this question.";

struct ExtractiveOptions {
  // Sentences in the answer at most. Default: 3.
  int max_sentences = 3;
  // Top chunks whose sentences are considered. Default: 6.
  int max_chunks = 6;
  // Evidence score (Answer::confidence, 0..1) below which the answer is
  // refused. Calibrated on examples/kb-eval (calibration split); see
  // generate/README.md.
  double refuse_below = 0.55;
  // Sentence score = w_cover * coverage + w_vector * cosine + w_rank / (1 + rank).
  // Defaults: 1.0, 0.3, 0.15.
  double w_cover = 1.0;
  double w_vector = 0.3;
  double w_rank = 0.15;
  // Sentences longer than this many bytes are not quoted. Default: 600.
  size_t max_sentence_bytes = 600;
  // General-English word frequency ranks for weighting query terms by
  // rarity: the GloVe vocabulary, whose rows are in frequency order, whatever
  // encoder embeds the chunks. Not owned; must outlive the answerer. Null:
  // every word weighs 1, and the calibrated refuse_below does not hold.
  // Default: null.
  const GloveSifEmbedder* word_ranks = nullptr;
};

// One candidate sentence with its features; exposed for calibration tools.
struct ScoredSentence {
  std::string text;
  size_t hit = 0;         // index into the hits
  double coverage = 0;    // rarity-weighted share of query terms it contains
  double cosine = 0;      // embedding cosine to the query (0 without encoder)
  double score = 0;
};

// Thread-safe: answer() is const.
class ExtractiveAnswerer {
 public:
  ExtractiveAnswerer(const Retriever& retriever, ExtractiveOptions options = {});
  Result<Answer> answer(const SearchRequest& request) const;
  // The same from hits already retrieved for `request` (best first; the
  // first max_chunks are used), e.g. the LLM path's fallback.
  Result<Answer> answer_from(const SearchRequest& request, std::vector<Hit> hits) const;
  const ExtractiveOptions& options() const { return options_; }

 private:
  // Top chunks used for a request: its k, capped by max_chunks.
  int chunks_for(const SearchRequest& request) const;
  const Retriever& retriever_;
  ExtractiveOptions options_;
};

}  // namespace ragd
