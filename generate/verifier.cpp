#include "generate/verifier.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <unordered_set>

#include "generate/sentences.h"
#include "index/analyzer.h"

namespace ragd {

std::vector<CitationMarker> find_citation_markers(std::string_view text) {
  std::vector<CitationMarker> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '[') continue;
    size_t j = i + 1;
    CitationMarker m;
    m.begin = i;
    bool ok = false;
    for (;;) {
      while (j < text.size() && text[j] == ' ') ++j;
      size_t d = j;
      int value = 0;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && j - d < 4) {
        value = value * 10 + (text[j] - '0');
        ++j;
      }
      if (j == d) break;
      m.numbers.push_back(value);
      while (j < text.size() && text[j] == ' ') ++j;
      if (j < text.size() && text[j] == ']') {
        ok = true;
        break;
      }
      if (j < text.size() && (text[j] == ',' || text[j] == ';')) {
        ++j;
        continue;
      }
      break;
    }
    if (!ok) continue;
    m.end = j + 1;
    i = j;
    out.push_back(std::move(m));
  }
  return out;
}

std::string strip_citation_markers(std::string_view s, const std::vector<CitationMarker>& markers) {
  std::string out;
  size_t pos = 0;
  for (const auto& m : markers) {
    out.append(s.substr(pos, m.begin - pos));
    pos = m.end;
  }
  out.append(s.substr(pos));
  std::string tidy;
  for (size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (c == ' ' && (tidy.empty() || tidy.back() == ' ')) continue;
    if ((c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?') && !tidy.empty() &&
        tidy.back() == ' ') {
      tidy.pop_back();
    }
    tidy.push_back(c);
  }
  while (!tidy.empty() && (tidy.back() == ' ' || tidy.back() == '\n')) tidy.pop_back();
  return tidy;
}

namespace {

bool has_alnum(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80); });
}

// Lowercased letters and digits only, for matching the refusal sentence.
std::string normalise(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string with_citations(std::string s, const std::vector<int>& ns) {
  std::string tag;
  for (int n : ns) tag += " [" + std::to_string(n) + "]";
  if (tag.empty()) return s;
  if (!s.empty() && (s.back() == '.' || s.back() == '!' || s.back() == '?')) {
    s.insert(s.size() - 1, tag);
  } else {
    s += tag;
    s += '.';
  }
  return s;
}

std::set<std::string> term_set(std::string_view text) {
  auto v = analyze(text);
  return std::set<std::string>(v.begin(), v.end());
}

double cosine(const float* a, const float* b, int dim) {
  double d = 0;
  for (int i = 0; i < dim; ++i) d += static_cast<double>(a[i]) * b[i];
  return d;  // both L2-normalised (or zero)
}

}  // namespace

Verifier::Verifier(const Embedder* embedder, VerifierOptions options) : embedder_(embedder), options_(std::move(options)) {}

Verifier::Support Verifier::support(std::string_view sentence, std::string_view passage) const {
  Support s;
  const auto st = term_set(sentence);
  const auto pt = term_set(passage);
  s.terms = static_cast<int>(st.size());
  if (!st.empty()) {
    int hit = 0;
    for (const auto& t : st) hit += pt.count(t) ? 1 : 0;
    s.lexical = static_cast<double>(hit) / static_cast<double>(st.size());
  }
  s.score = s.lexical;
  if (embedder_) {
    std::vector<std::string> texts = {std::string(sentence), std::string(passage)};
    std::vector<float> v;
    if (embedder_->embed(texts, EmbedRole::kPassage, v).is_ok() && v.size() == 2u * embedder_->dim()) {
      s.cosine = cosine(v.data(), v.data() + embedder_->dim(), embedder_->dim());
    }
    s.score = (1 - options_.vector_weight) * s.lexical + options_.vector_weight * std::max(0.0, s.cosine);
  }
  return s;
}

Verification Verifier::verify(std::string_view answer, std::span<const std::string> passages) const {
  Verification out;
  const int n_passages = static_cast<int>(passages.size());
  const std::string refusal = normalise(options_.refusal);

  // 1. Sentences with their citations; citation-only fragments join the
  //    sentence before them.
  struct Raw {
    std::string text;
    std::vector<int> numbers;
    bool refusal = false;
  };
  std::vector<Raw> raw;
  for (const std::string& s : split_sentences(answer)) {
    const auto markers = find_citation_markers(s);
    std::vector<int> numbers;
    // Markers before the first word ("[1] Next sentence.") close the
    // sentence before: "Done. [1] Next." splits after the full stop.
    size_t leading_end = 0;  // end of the run of markers at the start
    for (const auto& m : markers) {
      if (!raw.empty() && !has_alnum(std::string_view(s).substr(leading_end, m.begin - leading_end))) {
        leading_end = m.end;
        raw.back().numbers.insert(raw.back().numbers.end(), m.numbers.begin(), m.numbers.end());
      } else {
        numbers.insert(numbers.end(), m.numbers.begin(), m.numbers.end());
      }
    }
    std::string clean = strip_citation_markers(s, markers);
    if (!has_alnum(clean)) {
      if (!raw.empty()) raw.back().numbers.insert(raw.back().numbers.end(), numbers.begin(), numbers.end());
      continue;
    }
    const std::string norm = normalise(clean);
    const bool is_refusal = !refusal.empty() && norm.find(refusal) != std::string::npos;
    raw.push_back({std::move(clean), std::move(numbers), is_refusal});
  }

  // 2. Embeddings of the sentences and cited passages, in two batches.
  std::vector<float> sent_vecs, pass_vecs;
  std::map<int, size_t> pass_row;
  bool have_vectors = false;
  if (embedder_ && !raw.empty()) {
    std::vector<std::string> st, pt;
    for (const auto& r : raw) {
      st.push_back(r.text);
      for (int n : r.numbers) {
        if (n >= 1 && n <= n_passages && !pass_row.count(n)) {
          pass_row[n] = pt.size();
          pt.push_back(passages[static_cast<size_t>(n - 1)]);
        }
      }
    }
    have_vectors = embedder_->embed(st, EmbedRole::kPassage, sent_vecs).is_ok() &&
                   (pt.empty() || embedder_->embed(pt, EmbedRole::kPassage, pass_vecs).is_ok());
  }
  const int dim = embedder_ ? embedder_->dim() : 0;
  std::map<int, std::set<std::string>> pass_terms;

  // 3. Score each sentence against the passages it cites.
  std::set<int> cited, invalid;
  double support_sum = 0;
  int kept = 0, refusals = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    SentenceCheck c;
    c.text = raw[i].text;
    for (int n : raw[i].numbers) {
      auto& dst = (n >= 1 && n <= n_passages) ? c.cited : c.invalid;
      if (std::find(dst.begin(), dst.end(), n) == dst.end()) dst.push_back(n);
    }
    for (int n : c.invalid) invalid.insert(n);
    if (raw[i].refusal) {
      ++refusals;
      c.reason = "the model said the passages do not contain the answer";
      out.sentences.push_back(std::move(c));
      continue;
    }
    const auto st = term_set(c.text);
    if (c.cited.empty()) {
      c.reason = c.invalid.empty() ? "no citation" : "cites only passages that do not exist";
    } else if (static_cast<int>(st.size()) < options_.min_terms) {
      c.reason = "too few terms to check";
    } else {
      for (int n : c.cited) {
        auto it = pass_terms.find(n);
        if (it == pass_terms.end()) it = pass_terms.emplace(n, term_set(passages[static_cast<size_t>(n - 1)])).first;
        int hit = 0;
        for (const auto& t : st) hit += it->second.count(t) ? 1 : 0;
        const double lex = static_cast<double>(hit) / static_cast<double>(st.size());
        double cos = 0, score = lex;
        if (have_vectors) {
          cos = cosine(sent_vecs.data() + i * dim, pass_vecs.data() + pass_row[n] * dim, dim);
          score = (1 - options_.vector_weight) * lex + options_.vector_weight * std::max(0.0, cos);
        }
        if (c.best == 0 || score > c.support) {
          c.best = n;
          c.lexical = lex;
          c.cosine = cos;
          c.support = score;
        }
      }
      const double th = have_vectors ? options_.min_support_mixed : options_.min_support_lexical;
      c.supported = c.support >= th;
      if (!c.supported) c.reason = "support below threshold";
    }
    if (c.supported) {
      ++kept;
      support_sum += c.support;
      for (int n : c.cited) cited.insert(n);
      if (!out.text.empty()) out.text += ' ';
      out.text += with_citations(c.text, c.cited);
    } else {
      out.removed.push_back(c.text);
    }
    out.sentences.push_back(std::move(c));
  }
  out.cited.assign(cited.begin(), cited.end());
  out.invalid_citations.assign(invalid.begin(), invalid.end());
  if (kept > 0) out.mean_support = support_sum / kept;

  // 4. Grounding.
  if (kept == 0) {
    out.grounding = refusals > 0 ? Grounding::kRefused : Grounding::kNone;
    out.text.clear();
  } else if (out.removed.empty() && invalid.empty() && refusals == 0) {
    out.grounding = Grounding::kVerified;
  } else {
    out.grounding = Grounding::kPartial;
  }
  return out;
}

}  // namespace ragd
