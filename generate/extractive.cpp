#include "generate/extractive.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "generate/sentences.h"
#include "index/analyzer.h"
#include "model/glove_sif.h"

namespace ragd {
namespace {

// Question words carry no evidence even when they are rare in the KB.
const std::unordered_set<std::string>& question_words() {
  static const std::unordered_set<std::string> kSet = {
      "how", "what", "why", "when", "where", "which", "who", "whom", "whose", "do", "does", "did",
      "i", "me", "my", "we", "our", "us", "you", "your", "can", "could", "should", "would", "is",
      "are", "am", "was", "were", "be", "been", "has", "have", "had", "there", "any", "about", "please",
      "tell", "know", "need", "want", "get", "it", "its", "a", "an", "the", "to", "of", "in", "on",
      "for", "with", "and", "or", "from", "by", "at", "as", "this", "that", "some"};
  return kSet;
}

using TermWeights = std::unordered_map<std::string, double>;

// Weight of a surface word from its general-English frequency rank in the
// GloVe vocabulary: log(1 + rank / 200). Words in the top few hundred weigh
// almost nothing; words GloVe does not know (error codes, host names) weigh
// the most. Without GloVe every word weighs 1. Corpus-independent, so the
// refusal threshold does not drift with the size of the knowledge base.
double word_weight(const GloveSifEmbedder* glove, const std::string& word) {
  if (!glove) return 1.0;
  const double n = static_cast<double>(glove->vocabulary_size());
  int64_t row = glove->lookup(word);
  double rank = row >= 0 ? static_cast<double>(row) : n;
  return std::log1p((rank + 1.0) / 200.0);
}

// Analysed query terms (as index/analyzer.h stems them) with weights.
TermWeights query_terms(const std::string& query, const GloveSifEmbedder* glove) {
  TermWeights w;
  double max_w = glove ? word_weight(glove, std::string("\x01")) : 1.0;
  for (const std::string& word : analyze_words(query)) {
    if (question_words().count(word)) continue;
    double ww = word_weight(glove, word);
    for (const std::string& term : analyze(word)) {
      auto [it, inserted] = w.emplace(term, ww);
      if (!inserted) it->second = std::max(it->second, ww);
    }
  }
  // Terms the whole-query analysis yields beyond the words (identifier parts
  // joined across punctuation) count as rare.
  for (const std::string& term : analyze(query)) {
    if (question_words().count(term)) continue;
    w.emplace(term, max_w);
  }
  return w;
}

double coverage(const TermWeights& q, const std::unordered_set<std::string>& terms) {
  double total = 0, hit = 0;
  for (const auto& [t, w] : q) {
    total += w;
    if (terms.count(t)) hit += w;
  }
  return total > 0 ? hit / total : 0.0;
}

double jaccard(const std::unordered_set<std::string>& a, const std::unordered_set<std::string>& b) {
  if (a.empty() && b.empty()) return 1.0;
  size_t inter = 0;
  for (const auto& t : a) inter += b.count(t);
  return static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
}

std::string with_citation(std::string s, int n) {
  const std::string tag = " [" + std::to_string(n) + "]";
  while (!s.empty() && (s.back() == ' ')) s.pop_back();
  if (!s.empty() && s.back() == '.') {
    s.insert(s.size() - 1, tag);
  } else {
    s += tag;
    if (!s.empty() && s.back() != '?' && s.back() != '!') s += '.';
  }
  return s;
}

}  // namespace

ExtractiveAnswerer::ExtractiveAnswerer(const Retriever& retriever, ExtractiveOptions options)
    : retriever_(retriever), options_(options) {}

Result<Answer> ExtractiveAnswerer::answer(const SearchRequest& request) const {
  SearchRequest req = request;
  req.k = chunks_for(request);
  RAGD_ASSIGN_OR_RETURN(std::vector<Hit> hits, retriever_.retrieve(req));
  return answer_from(request, std::move(hits));
}

int ExtractiveAnswerer::chunks_for(const SearchRequest& request) const {
  return std::max(1, std::min(request.k, options_.max_chunks));
}

Result<Answer> ExtractiveAnswerer::answer_from(const SearchRequest& request, std::vector<Hit> hits) const {
  if (hits.size() > static_cast<size_t>(chunks_for(request))) hits.resize(static_cast<size_t>(chunks_for(request)));

  Answer ans;
  ans.grounding = "extractive";
  const Embedder* emb = retriever_.embedder();
  const TermWeights q = query_terms(request.query, options_.word_ranks);

  // Candidate sentences and their analysed terms.
  std::vector<ScoredSentence> cands;
  std::vector<std::unordered_set<std::string>> cand_terms;
  std::vector<std::unordered_set<std::string>> context_terms(hits.size());
  for (size_t h = 0; h < hits.size(); ++h) {
    std::string context = hits[h].title;
    for (const auto& s : hits[h].section_path) context += " " + s;
    for (auto& t : analyze(context)) context_terms[h].insert(std::move(t));
    for (std::string& s : split_sentences(hits[h].text)) {
      if (s.size() > options_.max_sentence_bytes || s.size() < 3) continue;
      std::vector<std::string> terms = analyze(s);
      if (terms.empty()) continue;
      std::unordered_set<std::string> set(terms.begin(), terms.end());
      ScoredSentence c;
      c.text = std::move(s);
      c.hit = h;
      c.coverage = coverage(q, set);
      cands.push_back(std::move(c));
      cand_terms.push_back(std::move(set));
    }
  }

  if (emb && !cands.empty()) {
    std::vector<std::string> texts;
    texts.reserve(cands.size() + 1);
    texts.push_back(request.query);
    for (const auto& c : cands) texts.push_back(c.text);
    std::vector<float> vecs;
    RAGD_RETURN_IF_ERROR(emb->embed(texts, EmbedRole::kPassage, vecs).with_context("embedding sentences"));
    const size_t d = static_cast<size_t>(emb->dim());
    for (size_t i = 0; i < cands.size(); ++i) {
      double dot = 0;
      for (size_t j = 0; j < d; ++j) dot += static_cast<double>(vecs[j]) * vecs[(i + 1) * d + j];
      cands[i].cosine = dot;
    }
  }
  for (auto& c : cands)
    c.score = options_.w_cover * c.coverage + options_.w_vector * std::max(0.0, c.cosine) +
              options_.w_rank / (1.0 + static_cast<double>(c.hit));

  std::vector<size_t> order(cands.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cands[a].score > cands[b].score; });

  std::vector<size_t> chosen;
  double best_single = 0;
  for (size_t i : order) {
    if (static_cast<int>(chosen.size()) >= options_.max_sentences) break;
    const ScoredSentence& c = cands[i];
    if (c.coverage <= 0) continue;
    if (!chosen.empty() && c.score < 0.5 * cands[chosen.front()].score) break;
    bool redundant = false;
    for (size_t j : chosen) redundant |= jaccard(cand_terms[i], cand_terms[j]) > 0.6;
    if (redundant) continue;
    chosen.push_back(i);
    std::unordered_set<std::string> with_context = cand_terms[i];
    with_context.insert(context_terms[c.hit].begin(), context_terms[c.hit].end());
    best_single = std::max(best_single, coverage(q, with_context));
  }

  // Evidence: how much of the question (by rarity) one chosen sentence
  // covers together with its document's title and section path. One
  // sentence, not the union: words scattered over unrelated sentences are
  // what out-of-domain questions that share vocabulary with the KB produce.
  ans.confidence = best_single;
  if (chosen.empty() || ans.confidence < options_.refuse_below) {
    ans.refused = true;
    ans.text = kRefusalText;
    ans.hits = std::move(hits);
    return ans;
  }
  int n = 0;
  for (size_t i : chosen) {
    const ScoredSentence& c = cands[i];
    const Hit& hit = hits[c.hit];
    Citation cit;
    cit.n = ++n;
    cit.doc_id = hit.doc_id;
    cit.chunk_id = hit.chunk_id;
    cit.title = hit.title;
    cit.url = hit.url;
    cit.quote = c.text;
    if (!ans.text.empty()) ans.text += ' ';
    ans.text += with_citation(c.text, n);
    ans.citations.push_back(std::move(cit));
  }
  ans.hits = std::move(hits);
  return ans;
}

}  // namespace ragd
