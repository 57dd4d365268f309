// The default answerer: picks supporting sentences from the top chunks and
// cites each one, or refuses when the evidence is too weak.
#pragma once

#include "ragd/answer.h"
#include "ragd/search.h"
#include "ragd/status.h"
#include "retrieve/retriever.h"

namespace ragd {

struct ExtractiveOptions {
  // Sentences in the answer at most. Default: 3.
  int max_sentences = 3;
  // Evidence score below which the answer is refused. Calibrated on the
  // sample KB's in-domain vs out-of-domain questions; see generate/README.md.
  double refuse_below = 0.35;
};

class ExtractiveAnswerer {
 public:
  ExtractiveAnswerer(const Retriever& retriever, ExtractiveOptions options = {});
  Result<Answer> answer(const SearchRequest& request) const;

 private:
  const Retriever& retriever_;
  ExtractiveOptions options_;
};

}  // namespace ragd
