// BM25 over in-memory posting lists, term at a time into a per-thread
// accumulator.
#include "index/lexical_index.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace ragd {

std::vector<TermFreq> count_terms(std::span<const std::string> tokens) {
  std::map<std::string_view, uint32_t> counts;
  for (const auto& t : tokens) ++counts[t];
  std::vector<TermFreq> out;
  out.reserve(counts.size());
  for (const auto& [term, tf] : counts) out.push_back({std::string(term), tf});
  return out;
}

void LexicalIndex::load_length(uint32_t label, uint32_t length) {
  if (length_.size() <= label) length_.resize(std::max<size_t>(label + 1, length_.size() * 3 / 2));
  const uint32_t l = std::max<uint32_t>(length, 1);
  if (length_[label] == 0) {
    ++live_;
  } else {
    total_length_ -= length_[label];
  }
  total_length_ += l;
  length_[label] = l;
}

void LexicalIndex::load_posting(const std::string& term, uint32_t label, uint32_t tf) {
  postings_[term].push_back({label, tf});
}

void LexicalIndex::add(uint32_t label, std::span<const TermFreq> terms, uint32_t length) {
  load_length(label, length);
  for (const auto& t : terms) {
    auto& list = postings_[t.term];
    if (!list.empty() && list.back().label >= label) {
      // Out of order (never from the store): keep the list sorted anyway.
      auto it = std::lower_bound(list.begin(), list.end(), label,
                                 [](const Posting& p, uint32_t l) { return p.label < l; });
      list.insert(it, {label, t.tf});
    } else {
      list.push_back({label, t.tf});
    }
  }
}

void LexicalIndex::remove(uint32_t label, std::span<const TermFreq> terms) {
  if (label < length_.size() && length_[label] != 0) {
    total_length_ -= length_[label];
    length_[label] = 0;
    --live_;
  }
  for (const auto& t : terms) {
    auto pit = postings_.find(t.term);
    if (pit == postings_.end()) continue;
    auto& list = pit->second;
    auto it = std::lower_bound(list.begin(), list.end(), label,
                               [](const Posting& p, uint32_t l) { return p.label < l; });
    if (it != list.end() && it->label == label) list.erase(it);
    if (list.empty()) postings_.erase(pit);
  }
}

std::vector<LexicalHit> LexicalIndex::search(std::span<const std::string> terms, size_t k,
                                             Bm25Params params,
                                             const std::function<bool(uint32_t)>& accept) const {
  std::vector<LexicalHit> hits;
  if (k == 0 || live_ == 0) return hits;
  std::vector<const std::vector<Posting>*> lists;
  std::vector<std::string_view> seen;
  for (const auto& t : terms) {
    if (std::find(seen.begin(), seen.end(), t) != seen.end()) continue;
    seen.push_back(t);
    auto it = postings_.find(t);
    if (it != postings_.end()) lists.push_back(&it->second);
  }
  if (lists.empty()) return hits;

  thread_local std::vector<float> acc;
  thread_local std::vector<uint32_t> touched;
  if (acc.size() < length_.size()) acc.resize(length_.size(), 0.0f);
  touched.clear();

  const double n = static_cast<double>(live_);
  const float avgdl = static_cast<float>(static_cast<double>(total_length_) / n);
  const float k1 = params.k1;
  const float b = params.b;
  for (const auto* list : lists) {
    const double df = static_cast<double>(list->size());
    const float idf = static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)));
    const float idf_k1p1 = idf * (k1 + 1.0f);
    for (const Posting& p : *list) {
      uint32_t len = length_[p.label];
      float tf = static_cast<float>(p.tf);
      float norm = k1 * (1.0f - b + b * static_cast<float>(len) / avgdl);
      float s = idf_k1p1 * tf / (tf + norm);
      if (acc[p.label] == 0.0f) touched.push_back(p.label);
      acc[p.label] += s;
    }
  }

  std::vector<LexicalHit> cand;
  cand.reserve(touched.size());
  for (uint32_t label : touched) {
    cand.push_back({label, acc[label]});
    acc[label] = 0.0f;
  }
  auto better = [](const LexicalHit& a, const LexicalHit& b) {
    return a.score != b.score ? a.score > b.score : a.label < b.label;
  };
  // Sort only as much of the candidates as the filter turns out to need.
  size_t sorted = 0;
  size_t want = std::min(cand.size(), k * 2 + 16);
  size_t next = 0;
  while (hits.size() < k && next < cand.size()) {
    if (next >= sorted) {
      want = std::min(cand.size(), std::max(want, sorted * 4));
      std::partial_sort(cand.begin() + static_cast<ptrdiff_t>(sorted),
                        cand.begin() + static_cast<ptrdiff_t>(want), cand.end(), better);
      sorted = want;
    }
    const LexicalHit& h = cand[next++];
    if (!accept || accept(h.label)) hits.push_back(h);
  }
  return hits;
}

}  // namespace ragd
