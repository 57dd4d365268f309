// The default answerer: answers from the part of the documents the question
// asks for, cites each step or fact, or refuses when the evidence is weak.
//
// answer(): retrieve -> question intent (generate/intent.h) -> evidence:
//   a named record (INC…, KB…, ABC-123) answers from that record itself;
//   a fix question from the resolution/steps section of the best matching
//   document or a ticket's resolution notes, steps kept as a list; a cause
//   question from a cause section; a fact from the sentence, list item or
//   table row (with its header cells) that holds it
// -> refuse below the calibrated evidence score, else compose Markdown:
//   a short lead sentence, then the steps or facts, each cited [n].
#pragma once

#include <string>
#include <vector>

#include "generate/intent.h"
#include "generate/units.h"
#include "ragd/answer.h"
#include "ragd/search.h"
#include "ragd/status.h"
#include "retrieve/retriever.h"

namespace ragd {

class GloveSifEmbedder;

inline constexpr const char* kRefusalText = "The knowledge base does not answer this question.";

struct ExtractiveOptions {
  // Facts (sentences, list items, table rows) in a fact answer at most. Default: 3.
  int max_sentences = 3;
  // A fact from another document than the best fact's is added only when
  // its score is at least this share of the best. Default: 0.85.
  double other_doc_share = 0.85;
  // ... and when it holds at least this share of the question's weight that
  // neither the best fact's document nor the facts already chosen hold: a
  // citation must add an answer, not repeat a question word. Default: 0.15.
  double other_doc_new_coverage = 0.15;
  // Steps of a fix answer at most (list items, code lines and sentences of
  // the chosen section). Default: 12.
  int max_steps = 12;
  // Top chunks whose units are considered. Default: 6.
  int max_chunks = 6;
  // A fix question also considers every chunk of the top document when it
  // has at most this many (0: only the chunks found). Default: 40.
  int whole_document_chunks = 40;
  // Evidence score (Answer::confidence, 0..1: refusal_score()) below which
  // the answer is refused. Fitted with doc_weight, w_confidence_cosine and
  // soft_match_floor by bench/answer_calibration_bench
  // (examples/doc-eval/calibrate.sh) on the tune halves of the sample
  // knowledge base's question sets and the documentation development sets;
  // see generate/README.md.
  double refuse_below = 0.560;
  // The evidence score when intent-specific evidence was found (a
  // resolution section for a fix question, a cause section for a cause
  // question) is max(unit score, doc_weight * document coverage): a fix
  // section answers "how do I fix X" even when its steps do not repeat X.
  // Fitted with refuse_below. Default: 0.8.
  double doc_weight = 0.8;
  // Weight of the best embedding cosine (GloVe, with word_ranks) of a
  // chosen unit to the question in the evidence score, against 1 for the
  // lexical evidence (it catches paraphrases that share few words with the
  // text), scaled by the share of the question GloVe knows. Fitted with
  // refuse_below. Default: 1.2.
  double w_confidence_cosine = 1.2;
  // Soft coverage in the refusal evidence: a question word a unit lacks
  // counts (cos - floor) / (1 - floor) of its weight when its GloVe cosine
  // to the closest word of the unit (with its title and section path) is
  // above this floor, meant for paraphrases ("passphrase" for "password").
  // Needs word_ranks; 1 turns it off. Fitted with refuse_below; see
  // generate/README.md. Default: 0.55.
  double soft_match_floor = 0.55;
  // Unit score = w_cover * coverage + w_vector * cosine + w_rank / (1 + rank).
  // Defaults: 1.0, 0.3, 0.15.
  double w_cover = 1.0;
  double w_vector = 0.3;
  double w_rank = 0.15;
  // Added to a fix section's score when it holds at least two list items
  // (a written procedure rather than free-text notes). A section of under
  // 80 bytes is taken only when no other qualifies. Default: 0.1.
  double w_structure = 0.1;
  // Added to the score of a unit that names something in code (a code line,
  // or a unit under a reference entry headed by an option or identifier:
  // "--with-suexec-uidmin=UID", "HISTSIZE") when the question asks for such
  // a name ("which configure option sets ...", "what directive prints
  // ..."): the entry is the answer though prose around it may repeat more
  // of the question's words. Not fitted: chosen on the development sets of
  // examples/doc-eval (0.1 and 0.2 answer the same). Default: 0.1.
  double w_named_in_code = 0.1;
  // Added to a unit under an option's heading ("-g, --globals-only") on a
  // command's reference page (min_option_entries) for a how-to question
  // that does not ask for a name ("How do I export only the
  // roles?"): on a command's reference page the answer is usually an
  // option, whose entry says what it does in fewer of the question's words
  // than the page's prose about the command. Not fitted: chosen on the
  // development sets of examples/doc-eval (0.2 and 0.3 answer the same; 0.1
  // as 0). Default: 0.2.
  double w_option_entry = 0.2;
  // A top document with units under at least this many distinct option
  // headings is a command's reference page, whose option entries join the
  // candidates of a how-to question or one asking for a name. Default: 3.
  int min_option_entries = 3;
  // At most this many of its chunks that hold option entries join (a
  // page like curl's or git-config's holds hundreds; each candidate is
  // analysed and embedded). Default: 100.
  size_t max_option_chunks = 100;
  // Added to a unit that states a default with its value (a digit), for a
  // question asking for a default; a bare digit is too weak a sign for a
  // question asking for a number (return codes, versions). Not fitted:
  // chosen on the development sets of examples/doc-eval (0 loses one
  // answer there). Default: 0.1.
  double w_gives_value = 0.1;
  // A fact question's best unit that says the noun the question asks for
  // ("encoding" in "What character encoding does ...?") leads the answer
  // when the best unit of all does not and it scores at least this share
  // of it. Not fitted: chosen on the development sets of examples/doc-eval
  // (0.5 and 0.6 answer the same). Default: 0.6.
  double focus_lead_share = 0.6;
  // Weight of a question's term that only its description of the situation
  // holds, not its asking sentence ("We're behind a proxy and pip install
  // times out. How do I tell pip to use it?" weighs "times out" less than
  // "proxy"), unless the asking sentence holds under a quarter of the
  // question's weight or points back ("it"). Not fitted: the calibration
  // questions are one sentence each; chosen on the pip and PostgreSQL
  // development sets of examples/doc-eval (0.25 refuses fewer answers than
  // 0.5 and answers no unanswerable question more; 0 does). Default: 0.25.
  double situation_weight = 0.25;
  // For such a question, the evidence document's coverage (its retrieved
  // chunks with title and path) counts at this weight in the refusal
  // evidence, for facts too: the situation's words are in the document, the
  // ask's in the unit that answers, and no one unit holds both. Fitted with
  // refuse_below. Default: 1.0.
  double situation_doc_weight = 1.0;
  // Sentences a fix answer reads on after the unit that matches the
  // question best, when no fix section answered it; the list items and
  // code of the passage come with them, up to max_steps items. Default: 4.
  int read_on_sentences = 4;
  // Units longer than this many bytes are not quoted. Default: 600.
  size_t max_sentence_bytes = 600;
  // General-English word frequency ranks for weighting query terms by
  // rarity: the GloVe vocabulary, whose rows are in frequency order, whatever
  // encoder embeds the chunks. Not owned; must outlive the answerer. Null:
  // every word weighs 1, and the calibrated refuse_below does not hold.
  // Default: null.
  const GloveSifEmbedder* word_ranks = nullptr;
};

// One candidate unit with its features; exposed for calibration tools.
struct ScoredSentence {
  std::string text;
  size_t hit = 0;         // index into Evidence::sources
  UnitKind kind = UnitKind::kSentence;
  // Its section: its chunk's, or the sibling's the chunker merged into the
  // chunk (units.h unit_section).
  std::vector<std::string> section_path;
  double coverage = 0;    // rarity-weighted share of query terms it contains
  double cosine = 0;      // embedding cosine to the query (0 without encoder)
  double score = 0;
};

// What the answer is built from; the LLM path puts it first in its prompt.
struct Evidence {
  QuestionIntent intent;
  // Chunks the items come from: the hits, then chunks of the hit documents
  // (or of the named record) fetched for their sections.
  std::vector<Hit> sources;
  std::vector<ScoredSentence> items;  // in answer order
  // kResolution when the items are a fix section's steps or a ticket's
  // resolution, kCause for a cause section, kOther for facts.
  SectionRole role = SectionRole::kOther;
  // kResolution items from a how-to's procedure: a section named after the
  // question's task ("Add a new member"), not a fix section.
  bool task = false;
  std::string named_id;       // the record the question names, when found
  std::string section_title;  // heading of the section the steps come from
  // Features of the refusal decision.
  double unit_coverage = 0;  // best single chosen unit with its title and section path
  double doc_coverage = 0;   // the evidence document's retrieved chunks with title and path
  bool intent_specific = false;
  bool situated = false;  // the question describes its situation first (ExtractiveOptions::situation_doc_weight)
  double cosine = 0;      // best embedding cosine of a chosen unit to the question
  double embedded_share = 0;  // of the question's weight, the words GloVe (word_ranks) knows
  double confidence = 0;  // the score refuse_below applies to: refusal_score()
};

// The refusal score of evidence found without a named record, in 0..1:
// the evidence (the best unit's coverage; with intent-specific evidence,
// or for a situated question, at least the weighted document coverage)
// plus w times the best cosine, over 1 + w, where w is w_cosine times the
// share of the question GloVe embeds (an error code alone: the words' evidence alone).
// bench/answer_calibration_bench fits the weights with it.
double refusal_score(const Evidence& ev, double doc_weight, double situation_doc_weight, double w_cosine);

// Thread-safe: answer() is const.
class ExtractiveAnswerer {
 public:
  // With `reader` (not owned; may be null), the answerer searches and
  // reads documents' other chunks through it instead of `retriever` and its
  // store (a cluster's coordinator); the retriever still gives the encoder.
  ExtractiveAnswerer(const Retriever& retriever, ExtractiveOptions options = {},
                     const KnowledgeReader* reader = nullptr);
  Result<Answer> answer(const SearchRequest& request) const;
  // The same from hits already retrieved for `request` (best first; the
  // first max_chunks are used), e.g. the LLM path's fallback.
  Result<Answer> answer_from(const SearchRequest& request, std::vector<Hit> hits) const;
  // The evidence alone (no refusal applied), for the LLM path and calibration.
  Result<Evidence> select_evidence(const SearchRequest& request, std::vector<Hit> hits) const;
  // The answer from evidence select_evidence() gave for `request` (the LLM
  // path's fallback, without reading the documents again).
  Answer answer_from_evidence(const SearchRequest& request, Evidence evidence) const;
  const ExtractiveOptions& options() const { return options_; }
  // w_confidence_cosine with GloVe (word_ranks), on whose cosines it was
  // fitted; 0 without: another encoder's cosines would move the score
  // where nothing was fitted, so the evidence is the words' alone.
  double cosine_weight() const { return options_.word_ranks != nullptr ? options_.w_confidence_cosine : 0.0; }
  // Hits for `request` as it is (its k): through the reader when there is
  // one, else the retriever.
  Result<std::vector<Hit>> retrieve(const SearchRequest& request) const;
  // Top chunks used for a request: its k, capped by max_chunks, or by
  // max_chunks + 4 for a question asking for a number, a default, or a
  // kind of thing it names (QuestionIntent::focus): the answer is often in
  // a short entry ranked below the prose about the subject: "HISTSIZE ...
  // (default 500)", "Requirements files are utf-8 encoding by default".
  int chunks_for(const SearchRequest& request) const;

 private:
  // The same for a question already classified.
  int chunks_for(const SearchRequest& request, const QuestionIntent& intent) const;
  Result<std::vector<Chunk>> chunks_of(const SearchRequest& request, const std::string& doc_id) const;
  const Retriever& retriever_;
  ExtractiveOptions options_;
  const KnowledgeReader* reader_;
};

// The hits for an LLM prompt with the evidence first: one passage per
// source chunk of the evidence holding only the selected steps or facts (in
// answer order, as a list), then the remaining hits. Each passage keeps its
// chunk's doc id, so the model's [n] still names a document.
std::vector<Hit> evidence_first(const Evidence& evidence, const std::vector<Hit>& hits);

// The Markdown answer for evidence that passed the refusal check: a lead
// sentence, then the items as a list, each cited; fills text and citations.
void compose_answer(const Evidence& evidence, Answer& answer);

}  // namespace ragd
