#include "retrieve/eval.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace ragd {
namespace {

using Json = nlohmann::json;

// Reads a JSONL file line by line; `fn` gets each parsed object.
template <class Fn>
Status for_each_json_line(const std::filesystem::path& path, Fn&& fn) {
  std::ifstream in(path);
  if (!in) return Status::not_found(path.string() + ": cannot open");
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return Status::invalid_argument(path.string() + ": line " + std::to_string(lineno) + ": not a JSON object");
    Status st = fn(j, lineno);
    if (!st.is_ok()) return st.with_context(path.string() + ": line " + std::to_string(lineno));
  }
  return Status::ok();
}

Result<std::string> id_of(const Json& j) {
  for (const char* key : {"_id", "id"}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  }
  return Status::invalid_argument("missing field '_id'");
}

std::string string_field(const Json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

Result<std::vector<Document>> load_beir_corpus(const std::filesystem::path& path) {
  std::vector<Document> docs;
  Status st = for_each_json_line(path, [&](const Json& j, size_t lineno) -> Status {
    RAGD_ASSIGN_OR_RETURN(std::string id, id_of(j));
    Document d;
    d.id = std::move(id);
    d.title = string_field(j, "title");
    d.text = string_field(j, "text");
    d.kind = "document";
    d.source = "jsonl";
    d.origin = path.filename().string() + " line " + std::to_string(lineno);
    docs.push_back(std::move(d));
    return Status::ok();
  });
  if (!st.is_ok()) return st;
  return docs;
}

Result<std::vector<BeirQuery>> load_beir_queries(const std::filesystem::path& path) {
  std::vector<BeirQuery> out;
  Status st = for_each_json_line(path, [&](const Json& j, size_t) -> Status {
    RAGD_ASSIGN_OR_RETURN(std::string id, id_of(j));
    out.push_back({std::move(id), string_field(j, "text")});
    return Status::ok();
  });
  if (!st.is_ok()) return st;
  return out;
}

Result<Qrels> load_beir_qrels(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::not_found(path.string() + ": cannot open");
  Qrels q;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    if (lineno == 1 && (cols.empty() || cols[0] == "query-id" || cols[0] == "query_id" || cols[0] == "qid"))
      continue;  // header
    if (cols.size() < 3)
      return Status::invalid_argument(path.string() + ": line " + std::to_string(lineno) +
                                      ": expected query-id<TAB>corpus-id<TAB>score");
    char* end = nullptr;
    long score = std::strtol(cols[2].c_str(), &end, 10);
    if (end == cols[2].c_str())
      return Status::invalid_argument(path.string() + ": line " + std::to_string(lineno) + ": bad score '" +
                                      cols[2] + "'");
    q[cols[0]][cols[1]] = static_cast<int>(score);
  }
  return q;
}

double ndcg_at_k(const std::vector<std::string>& ranked, const std::map<std::string, int>& judged, int k) {
  std::vector<int> ideal;
  for (const auto& [doc, rel] : judged)
    if (rel > 0) ideal.push_back(rel);
  if (ideal.empty() || k <= 0) return 0;
  std::sort(ideal.rbegin(), ideal.rend());
  double dcg = 0, idcg = 0;
  for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(k); ++i) {
    auto it = judged.find(ranked[i]);
    if (it != judged.end() && it->second > 0) dcg += it->second / std::log2(static_cast<double>(i) + 2.0);
  }
  for (size_t i = 0; i < ideal.size() && i < static_cast<size_t>(k); ++i)
    idcg += ideal[i] / std::log2(static_cast<double>(i) + 2.0);
  return dcg / idcg;
}

double recall_at_k(const std::vector<std::string>& ranked, const std::map<std::string, int>& judged, int k) {
  size_t relevant = 0, found = 0;
  for (const auto& [doc, rel] : judged) relevant += rel > 0;
  if (relevant == 0) return 0;
  for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(k); ++i) {
    auto it = judged.find(ranked[i]);
    if (it != judged.end() && it->second > 0) ++found;
  }
  return static_cast<double>(found) / static_cast<double>(relevant);
}

std::vector<std::string> rank_documents(const std::vector<std::pair<std::string, double>>& chunk_hits) {
  std::unordered_map<std::string, size_t> at;
  std::vector<std::pair<std::string, double>> docs;
  for (const auto& [doc, score] : chunk_hits) {
    auto [it, inserted] = at.emplace(doc, docs.size());
    if (inserted) docs.emplace_back(doc, score);
    else docs[it->second].second = std::max(docs[it->second].second, score);
  }
  std::stable_sort(docs.begin(), docs.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> out;
  out.reserve(docs.size());
  for (auto& d : docs) out.push_back(std::move(d.first));
  return out;
}

std::string EvalReport::summary() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "mode=%s queries=%zu nDCG@%d=%.4f Recall@%d=%.4f time=%.1fs",
                search_mode_name(mode), queries, ndcg_k, ndcg, recall_k, recall, seconds);
  return buf;
}

Result<EvalCandidates> gather_candidates(const Retriever& retriever, const Store& store,
                                         const std::vector<BeirQuery>& queries, const Qrels& qrels,
                                         const EvalOptions& options) {
  EvalCandidates out;
  std::vector<const BeirQuery*> judged;
  for (const BeirQuery& q : queries) {
    auto it = qrels.find(q.id);
    if (it == qrels.end()) continue;
    bool any = std::any_of(it->second.begin(), it->second.end(), [](const auto& p) { return p.second > 0; });
    if (any) judged.push_back(&q);
  }
  out.sets.resize(judged.size());
  std::vector<Status> errors(judged.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < judged.size();) {
      SearchRequest req;
      req.query = judged[i]->text;
      req.k = std::max(options.recall_k, options.ndcg_k);
      req.mode = options.mode;
      req.dedup = false;
      auto set = retriever.gather(req, std::max(options.chunk_depth, req.k));
      if (!set.is_ok()) {
        errors[i] = set.status().with_context("query " + judged[i]->id);
        continue;
      }
      out.sets[i] = std::move(set).value();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, options.threads); ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  for (const Status& st : errors)
    if (!st.is_ok()) return st;
  for (size_t i = 0; i < judged.size(); ++i) {
    out.query_ids.push_back(judged[i]->id);
    for (const Candidate& c : out.sets[i].items) {
      if (out.doc_of.count(c.label)) continue;
      RAGD_ASSIGN_OR_RETURN(std::optional<StoredChunk> sc, store.chunk(c.label));
      out.doc_of[c.label] = sc ? sc->chunk.doc_id : std::string();
    }
  }
  return out;
}

EvalReport score_candidates(const EvalCandidates& cands, const Qrels& qrels, SearchMode mode,
                            const RetrieverOptions& fusion, const EvalOptions& options) {
  EvalReport r;
  r.mode = mode;
  r.ndcg_k = options.ndcg_k;
  r.recall_k = options.recall_k;
  for (size_t i = 0; i < cands.sets.size(); ++i) {
    CandidateSet set = cands.sets[i];
    Retriever::fuse(set, mode, fusion);
    std::vector<std::pair<std::string, double>> hits;
    hits.reserve(set.items.size());
    for (const Candidate& c : set.items) {
      if (mode == SearchMode::kLexical && !c.has_lexical) continue;
      auto it = cands.doc_of.find(c.label);
      if (it != cands.doc_of.end() && !it->second.empty()) hits.emplace_back(it->second, c.score);
    }
    std::vector<std::string> ranked = rank_documents(hits);
    const auto& judged = qrels.at(cands.query_ids[i]);
    double n = ndcg_at_k(ranked, judged, options.ndcg_k);
    r.ndcg_per_query[cands.query_ids[i]] = n;
    r.ndcg += n;
    r.recall += recall_at_k(ranked, judged, options.recall_k);
  }
  r.queries = cands.sets.size();
  if (r.queries) {
    r.ndcg /= static_cast<double>(r.queries);
    r.recall /= static_cast<double>(r.queries);
  }
  return r;
}

Result<EvalReport> evaluate(const Retriever& retriever, const Store& store,
                            const std::vector<BeirQuery>& queries, const Qrels& qrels,
                            const EvalOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  RAGD_ASSIGN_OR_RETURN(EvalCandidates cands, gather_candidates(retriever, store, queries, qrels, options));
  EvalReport r = score_candidates(cands, qrels, options.mode, retriever.options(), options);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace ragd

namespace ragd {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Result<std::vector<std::string>> string_list(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return Status::invalid_argument(std::string("field '") + key + "' must be an array of strings");
  for (const auto& v : *it) {
    if (!v.is_string()) return Status::invalid_argument(std::string("field '") + key + "' must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

std::vector<AnswerQuestion> questions_of_split(std::vector<AnswerQuestion> questions, const std::string& split) {
  std::vector<AnswerQuestion> out;
  for (auto& q : questions) {
    if (split == "all" || q.split == split) out.push_back(std::move(q));
  }
  return out;
}

AnswerOutcome answer_outcome(const Answer& answer, const std::vector<Hit>& retrieved) {
  AnswerOutcome o;
  o.refused = answer.refused;
  o.text = answer.text;
  for (const auto& c : answer.citations) o.cited_doc_ids.push_back(c.doc_id);
  for (const auto& h : retrieved) {
    if (std::find(o.retrieved_doc_ids.begin(), o.retrieved_doc_ids.end(), h.doc_id) == o.retrieved_doc_ids.end()) {
      o.retrieved_doc_ids.push_back(h.doc_id);
    }
  }
  return o;
}

Result<std::vector<AnswerQuestion>> load_answer_questions(const std::filesystem::path& path) {
  std::vector<AnswerQuestion> out;
  Status st = for_each_json_line(path, [&](const nlohmann::json& j, size_t lineno) -> Status {
    AnswerQuestion q;
    q.id = string_field(j, "id");
    if (q.id.empty()) q.id = "line " + std::to_string(lineno);
    q.question = string_field(j, "question");
    if (q.question.empty()) return Status::invalid_argument("missing field 'question'");
    auto a = j.find("answerable");
    if (a == j.end() || !a->is_boolean()) return Status::invalid_argument("field 'answerable' must be true or false");
    q.answerable = a->get<bool>();
    RAGD_ASSIGN_OR_RETURN(q.key_facts, string_list(j, "key_facts"));
    RAGD_ASSIGN_OR_RETURN(q.gold_doc_ids, string_list(j, "gold_doc_ids"));
    RAGD_ASSIGN_OR_RETURN(q.groups, string_list(j, "groups"));
    if (q.answerable && q.key_facts.empty())
      return Status::invalid_argument("an answerable question needs at least one key fact");
    q.category = string_field(j, "category");
    if (q.category.empty()) q.category = q.answerable ? "answerable" : "unanswerable";
    q.split = string_field(j, "split");
    out.push_back(std::move(q));
    return Status::ok();
  });
  if (!st.is_ok()) return st;
  return out;
}

const char* answer_verdict_name(AnswerVerdict v) {
  switch (v) {
    case AnswerVerdict::kCorrect: return "correct";
    case AnswerVerdict::kWrong: return "wrong";
    case AnswerVerdict::kFalseRefusal: return "false_refusal";
    case AnswerVerdict::kCorrectRefusal: return "correct_refusal";
    case AnswerVerdict::kHallucinated: return "hallucinated";
  }
  return "wrong";
}

AnswerVerdict judge_answer(const AnswerQuestion& q, const AnswerOutcome& a) {
  if (!q.answerable) return a.refused ? AnswerVerdict::kCorrectRefusal : AnswerVerdict::kHallucinated;
  if (a.refused) return AnswerVerdict::kFalseRefusal;
  const std::string text = lower(a.text);
  for (const auto& f : q.key_facts)
    if (!f.empty() && text.find(lower(f)) != std::string::npos) return AnswerVerdict::kCorrect;
  return AnswerVerdict::kWrong;
}

void AnswerTally::add(const AnswerQuestion& q, const AnswerOutcome& a) {
  ++questions;
  switch (judge_answer(q, a)) {
    case AnswerVerdict::kCorrect: ++correct; break;
    case AnswerVerdict::kWrong: ++wrong; break;
    case AnswerVerdict::kFalseRefusal: ++false_refusal; break;
    case AnswerVerdict::kCorrectRefusal: ++correct_refusal; break;
    case AnswerVerdict::kHallucinated: ++hallucinated; break;
  }
  if (!q.answerable || q.gold_doc_ids.empty()) return;
  std::set<std::string> gold(q.gold_doc_ids.begin(), q.gold_doc_ids.end());
  if (!a.refused) {
    std::set<std::string> cited(a.cited_doc_ids.begin(), a.cited_doc_ids.end());
    for (const auto& d : cited) {
      ++this->cited;
      cited_gold += gold.count(d);
    }
  }
  ++recall_questions;
  for (size_t i = 0; i < a.retrieved_doc_ids.size() && i < 5; ++i)
    if (gold.count(a.retrieved_doc_ids[i])) {
      ++recall_hits;
      break;
    }
}

AnswerEvalReport score_answers(const std::vector<AnswerQuestion>& questions, const std::vector<AnswerOutcome>& outcomes) {
  AnswerEvalReport r;
  for (size_t i = 0; i < questions.size() && i < outcomes.size(); ++i) {
    r.overall.add(questions[i], outcomes[i]);
    r.per_category[questions[i].category].add(questions[i], outcomes[i]);
  }
  return r;
}

std::string AnswerEvalReport::to_string() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %4s %7s %5s %9s %11s %12s %9s %9s\n", "category", "n", "correct", "wrong",
                "false_ref", "correct_ref", "hallucinated", "cite_prec", "recall@5");
  out += line;
  auto row = [&](const std::string& name, const AnswerTally& t) {
    std::snprintf(line, sizeof line, "%-14s %4zu %7zu %5zu %9zu %11zu %12zu %9.3f %9.3f\n", name.c_str(), t.questions,
                  t.correct, t.wrong, t.false_refusal, t.correct_refusal, t.hallucinated, t.citation_precision(),
                  t.recall_at_5());
    out += line;
  };
  for (const auto& [name, t] : per_category) row(name, t);
  row("all", overall);
  return out;
}

}  // namespace ragd
