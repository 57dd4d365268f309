#include "triage/features.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace ragd::triage {

uint64_t text_hash(std::string_view s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);  // FNV-1a, seeded
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;  // then a finaliser, so the low bits mix too
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

namespace {

// Feature kinds hash with their own seed, so "ab" the word and "ab" the
// character gram are different features.
enum Seed : uint64_t { kWord = 1, kBigram = 2, kChar = 3, kField = 4 };

bool is_word_char(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

// Sorts and merges (index, count) pairs into a SparseVec.
SparseVec merge(std::vector<uint32_t>& hits) {
  std::sort(hits.begin(), hits.end());
  SparseVec v;
  for (size_t i = 0; i < hits.size();) {
    size_t j = i;
    while (j < hits.size() && hits[j] == hits[i]) ++j;
    v.idx.push_back(hits[i]);
    v.val.push_back(static_cast<float>(j - i));
    i = j;
  }
  return v;
}

void add_text(std::string_view text, const FeatureOptions& o, std::vector<uint32_t>& hits) {
  const uint64_t mask = (uint64_t{1} << o.hash_bits) - 1;
  std::vector<std::string> words = word_tokens(text);
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    hits.push_back(static_cast<uint32_t>(text_hash(w, kWord) & mask));
    if (o.word_bigrams && i + 1 < words.size()) {
      hits.push_back(static_cast<uint32_t>(text_hash(w + ' ' + words[i + 1], kBigram) & mask));
    }
    if (o.char_max <= 0 || w.size() > 40) continue;
    std::string b = "<" + w + ">";
    for (int n = o.char_min; n <= o.char_max; ++n) {
      if (b.size() < static_cast<size_t>(n)) break;
      for (size_t s = 0; s + n <= b.size(); ++s) {
        hits.push_back(static_cast<uint32_t>(text_hash(std::string_view(b).substr(s, n), kChar) & mask));
      }
    }
  }
}

bool is_leaky(const std::string& name) {
  for (const char* const* f = kLeakyFields; *f; ++f)
    if (name == *f) return true;
  return false;
}

}  // namespace

const char* const kLeakyFields[] = {
    "state", "incident_state", "status", "resolution", "close_code", "close_notes", "resolution_code",
    "assigned_to", "assignee", "assignee_id", "group_id", "resolved_by", "closed_by", "resolved_at", "closed_at",
    "sys_id", "number", "id", "sys_updated_on", "sys_updated_by", "reassignment_count", "reopen_count",
    "satisfaction_rating", "solved_at",
    // Set by triage itself: a new ticket has none yet, so a model for
    // another field must not lean on it.
    "assignment_group", "group", nullptr};

std::vector<std::string> word_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    while (!cur.empty() && !is_word_char(static_cast<unsigned char>(cur.back()))) cur.pop_back();
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (is_word_char(c)) {
      cur.push_back(static_cast<char>(std::tolower(c)));
    } else if ((c == '.' || c == '-' || c == '_') && !cur.empty() && i + 1 < text.size() &&
               is_word_char(static_cast<unsigned char>(text[i + 1]))) {
      cur.push_back(static_cast<char>(c));
    } else {
      flush();
    }
  }
  flush();
  return out;
}

SparseVec hashed_counts(std::string_view text, const FeatureOptions& o) {
  std::vector<uint32_t> hits;
  add_text(text, o, hits);
  return merge(hits);
}

SparseVec ticket_counts(const TicketText& t, const FeatureOptions& o, const std::string& exclude_field) {
  std::vector<uint32_t> hits;
  add_text(t.subject, o, hits);
  add_text(t.description, o, hits);
  const uint64_t mask = (uint64_t{1} << o.hash_bits) - 1;
  auto add_field = [&](const std::string& name, const std::string& value) {
    if (name == exclude_field || value.empty()) return;
    std::string v;
    for (char c : value) v.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    // Each field token counts like a few words: one value says much.
    for (int k = 0; k < 2; ++k) hits.push_back(static_cast<uint32_t>(text_hash(name + '=' + v, kField) & mask));
  };
  for (const auto& name : o.field_tokens) {
    if (name == "*") {
      for (const auto& [k, v] : t.fields)
        if (!is_leaky(k)) add_field(k, v);
      continue;
    }
    auto it = t.fields.find(name);
    if (it != t.fields.end()) add_field(name, it->second);
  }
  return merge(hits);
}

void Vectorizer::fit(const std::vector<SparseVec>& counts) {
  std::vector<uint32_t> df(dim(), 0);
  for (const auto& c : counts)
    for (uint32_t i : c.idx) ++df[i];
  idf_.assign(dim(), 0.0f);
  const double n = static_cast<double>(counts.size());
  for (uint32_t i = 0; i < dim(); ++i) {
    if (df[i] > 0) idf_[i] = static_cast<float>(std::log((1.0 + n) / (1.0 + df[i])) + 1.0);
  }
}

SparseVec Vectorizer::transform(const SparseVec& counts) const {
  SparseVec v;
  double norm = 0;
  for (size_t k = 0; k < counts.idx.size(); ++k) {
    uint32_t i = counts.idx[k];
    if (i >= idf_.size() || idf_[i] == 0.0f) continue;  // unseen in training: no weight
    float tf = opts_.sublinear_tf ? 1.0f + std::log(counts.val[k]) : counts.val[k];
    float w = tf * idf_[i];
    v.idx.push_back(i);
    v.val.push_back(w);
    norm += static_cast<double>(w) * w;
  }
  if (norm > 0) {
    float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v.val) x *= inv;
  }
  return v;
}

float sparse_dot(const SparseVec& a, const SparseVec& b) {
  float s = 0;
  size_t i = 0, j = 0;
  while (i < a.idx.size() && j < b.idx.size()) {
    if (a.idx[i] < b.idx[j]) ++i;
    else if (a.idx[i] > b.idx[j]) ++j;
    else s += a.val[i++] * b.val[j++];
  }
  return s;
}

}  // namespace ragd::triage
