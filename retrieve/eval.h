// Retrieval-quality evaluation on BEIR-format data (corpus.jsonl,
// queries.jsonl, qrels.tsv): nDCG@10 and Recall@100 as BEIR computes them
// (trec_eval: linear graded gains, log2 discount, document level).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ragd/answer.h"
#include "ragd/document.h"
#include "ragd/search.h"
#include "ragd/status.h"
#include "retrieve/retriever.h"

namespace ragd {

struct BeirQuery {
  std::string id;
  std::string text;
};

// qrels[query id][doc id] = graded relevance (> 0 relevant).
using Qrels = std::map<std::string, std::map<std::string, int>>;

// One Document per line: "_id" (or "id"), "title", "text"; kind "document",
// source "jsonl". A bad line fails with the file and line number.
Result<std::vector<Document>> load_beir_corpus(const std::filesystem::path& path);
// "_id" (or "id") and "text" per line.
Result<std::vector<BeirQuery>> load_beir_queries(const std::filesystem::path& path);
// Tab-separated "query-id corpus-id score" with a header line.
Result<Qrels> load_beir_qrels(const std::filesystem::path& path);

// nDCG@k of a ranked list of distinct doc ids; 0 when nothing is relevant.
double ndcg_at_k(const std::vector<std::string>& ranked, const std::map<std::string, int>& judged, int k);
// Share of the relevant docs in the first k ranked; 0 when nothing is relevant.
double recall_at_k(const std::vector<std::string>& ranked, const std::map<std::string, int>& judged, int k);

// Chunk hits to a doc ranking: each doc scored by its best chunk, best first.
std::vector<std::string> rank_documents(const std::vector<std::pair<std::string, double>>& chunk_hits);

struct EvalOptions {
  SearchMode mode = SearchMode::kHybrid;
  // Cut-offs. Defaults: 10 and 100.
  int ndcg_k = 10;
  int recall_k = 100;
  // Chunks gathered per half before they are aggregated to documents; must
  // exceed recall_k when documents have several chunks. Default: 300.
  int chunk_depth = 300;
  // Threads running queries. Default: 1.
  int threads = 1;
};

struct EvalReport {
  SearchMode mode = SearchMode::kHybrid;
  size_t queries = 0;  // queries with at least one relevant judgement
  double ndcg = 0;     // mean nDCG@ndcg_k
  double recall = 0;   // mean Recall@recall_k
  int ndcg_k = 10;
  int recall_k = 100;
  double seconds = 0;
  std::map<std::string, double> ndcg_per_query;
  // "mode=hybrid queries=809 nDCG@10=0.7012 Recall@100=0.9512 time=3.2s"
  std::string summary() const;
};

// Runs every judged query through the Retriever (gather + fuse with its
// options, no near-duplicate removal: BEIR documents are distinct).
Result<EvalReport> evaluate(const Retriever& retriever, const Store& store,
                            const std::vector<BeirQuery>& queries, const Qrels& qrels,
                            const EvalOptions& options = {});

// The same over precomputed candidate sets, re-fused with `fusion` (for
// weight sweeps): docs[label] is the chunk's document id.
struct EvalCandidates {
  std::vector<std::string> query_ids;
  std::vector<CandidateSet> sets;
  std::map<uint64_t, std::string> doc_of;
};
Result<EvalCandidates> gather_candidates(const Retriever& retriever, const Store& store,
                                         const std::vector<BeirQuery>& queries, const Qrels& qrels,
                                         const EvalOptions& options);
EvalReport score_candidates(const EvalCandidates& cands, const Qrels& qrels, SearchMode mode,
                            const RetrieverOptions& fusion, const EvalOptions& options);

}  // namespace ragd

namespace ragd {

// ---- Answer quality (`ragd eval --answers QUESTIONS.jsonl`) ----
// One JSON object per line: question, answerable, key_facts (any of,
// case-insensitive), gold_doc_ids, category, split; optional id, groups.
struct AnswerQuestion {
  std::string id;
  std::string question;
  bool answerable = true;
  std::vector<std::string> key_facts;
  std::vector<std::string> gold_doc_ids;
  std::string category;
  std::string split;
  std::vector<std::string> groups;
};
Result<std::vector<AnswerQuestion>> load_answer_questions(const std::filesystem::path& path);
// The questions of `split` ("all": every one), in file order.
std::vector<AnswerQuestion> questions_of_split(std::vector<AnswerQuestion> questions, const std::string& split);

// How answer metrics see retrieval: the documents of a k=20 search of the
// question (ragd eval --answers and the evaluation suite alike).
inline constexpr int kAnswerEvalRetrievalK = 20;

// What the answerer did with one question.
struct AnswerOutcome {
  bool refused = false;
  std::string text;
  std::vector<std::string> cited_doc_ids;
  std::vector<std::string> retrieved_doc_ids;  // distinct, best first
};
// The outcome of `answer`, with the documents of `retrieved` (distinct, in
// order) as what was retrieved.
AnswerOutcome answer_outcome(const Answer& answer, const std::vector<Hit>& retrieved);

enum class AnswerVerdict { kCorrect, kWrong, kFalseRefusal, kCorrectRefusal, kHallucinated };
const char* answer_verdict_name(AnswerVerdict v);
// Answerable: refused -> false refusal; a key fact in the text -> correct,
// else wrong. Unanswerable: refused -> correct refusal, else hallucinated.
AnswerVerdict judge_answer(const AnswerQuestion& q, const AnswerOutcome& a);

struct AnswerTally {
  size_t questions = 0;
  size_t correct = 0, wrong = 0, false_refusal = 0, correct_refusal = 0, hallucinated = 0;
  size_t cited = 0, cited_gold = 0;         // distinct cited docs of answered answerable questions
  size_t recall_questions = 0, recall_hits = 0;  // answerable with gold docs; a gold doc in the top 5
  double citation_precision() const { return cited ? static_cast<double>(cited_gold) / static_cast<double>(cited) : 0; }
  double recall_at_5() const {
    return recall_questions ? static_cast<double>(recall_hits) / static_cast<double>(recall_questions) : 0;
  }
  void add(const AnswerQuestion& q, const AnswerOutcome& a);
};

struct AnswerEvalReport {
  AnswerTally overall;
  std::map<std::string, AnswerTally> per_category;
  // A table: one line per category and one for all.
  std::string to_string() const;
};
AnswerEvalReport score_answers(const std::vector<AnswerQuestion>& questions, const std::vector<AnswerOutcome>& outcomes);

}  // namespace ragd
