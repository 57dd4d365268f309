#include "generate/extractive.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "generate/sentences.h"
#include "index/store.h"
#include "index/analyzer.h"
#include "model/glove_sif.h"
#include "ragd/chunk_text.h"

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

// The share of a question term's weight that a unit gets for a term only
// its section's own heading holds (chosen on the development sets of
// examples/doc-eval: full weight sent "How long are daily backup restore
// points kept?" to a section headed "File-level restore").
constexpr double kHeadingShare = 0.5;

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

// A word that points back to what the text before it named ("This
// implements ...", "How do I tell pip to use it?").
bool points_back(const std::string& lower_word) {
  static const std::unordered_set<std::string> kWords = {"it",   "this", "that", "these", "those", "they",
                                                         "them", "such", "he",   "him",   "she",   "her"};
  return kWords.count(lower_word) > 0;
}

// "the platforms listed above", "the above list": a sentence about the
// list before it ("above 90%" is no such pointer). `words` lower-case.
bool points_at_list_above(const std::vector<std::string>& words) {
  static const std::unordered_set<std::string> kShown = {"listed", "shown", "described", "mentioned",
                                                         "given", "outlined", "the", "see"};
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] != "above" || !kShown.count(words[i - 1])) continue;
    const bool number = i + 1 < words.size() && std::isdigit(static_cast<unsigned char>(words[i + 1][0]));
    if (!number) return true;
  }
  return false;
}

// Analysed query terms (as index/analyzer.h stems them) with weights; the
// surface word each term came from goes to `words` when given.
// `situated` (when given) tells whether the question describes its
// situation before it asks (below), the description holding at least a
// quarter of its weight ("Thanks!" after the question holds none).
TermWeights query_terms(const std::string& query, const GloveSifEmbedder* glove, double situation_weight,
                        std::unordered_map<std::string, std::string>* words = nullptr, bool* situated = nullptr) {
  if (situated) *situated = false;
  TermWeights w;
  double max_w = glove ? word_weight(glove, std::string("\x01")) : 1.0;
  // The analysed forms of the question words ("does" -> "doe"), which the
  // whole-query pass below must not count as rare terms.
  std::unordered_set<std::string> question_terms;
  for (const std::string& word : analyze_words(query)) {
    if (question_words().count(word)) {
      for (std::string& term : analyze(word)) question_terms.insert(std::move(term));
      continue;
    }
    double ww = word_weight(glove, word);
    for (const std::string& term : analyze(word)) {
      auto [it, inserted] = w.emplace(term, ww);
      if (!inserted) it->second = std::max(it->second, ww);
      if (words) words->emplace(term, word);
    }
  }
  // Terms the whole-query analysis yields beyond the words (identifier parts
  // joined across punctuation) count as rare.
  for (const std::string& term : analyze(query)) {
    if (question_words().count(term) || question_terms.count(term)) continue;
    w.emplace(term, max_w);
  }
  // A question that describes its situation before it asks: the words only
  // the description holds (the error it quotes, where it happened) found
  // the documents; the answer is what the asking sentence names.
  const std::string ask = asking_sentence(query);
  // "How do I tell pip to use it?": the description names what it means.
  const std::vector<std::string> ask_words = analyze_words(ask);
  if (ask.size() < query.size()) {
    std::unordered_set<std::string> asked;
    for (std::string& term : analyze(ask)) asked.insert(std::move(term));
    double asked_weight = 0, total = 0;
    for (const auto& [t, tw] : w) {
      total += tw;
      if (asked.count(t)) asked_weight += tw;
    }
    if (situated) *situated = total - asked_weight >= 0.25 * total;
    // Unless it asks nothing of its own ("What should I do?").
    if (asked_weight >= 0.25 * total && std::none_of(ask_words.begin(), ask_words.end(), points_back))
      for (auto& [t, tw] : w)
        if (!asked.count(t)) tw *= situation_weight;
  }
  return w;
}

// The words of a text as written (letters and digits).
std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> out;
  std::string w;
  for (char ch : text) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      w += ch;
    } else if (!w.empty()) {
      out.push_back(std::move(w));
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

// "The legacy file is also loaded", "Also, set ...": a sentence that adds
// to what the one before it says (`also` within its first ten words; not
// "See also" nor "not only ... but also").
bool adds_to_previous(std::string_view text) {
  const std::vector<std::string> words = words_of(text);
  for (size_t i = 0; i < words.size() && i < 10; ++i) {
    if (words[i] != "also" && words[i] != "Also" && words[i] != "ALSO") continue;
    if (i == 0) return true;
    const std::string& before = words[i - 1];
    return before != "see" && before != "See" && before != "but";
  }
  return false;
}

// The analysed terms of what a question quotes: text between double quotes
// (straight or curly) or backticks, or single quotes at word edges (not an
// apostrophe: "don't"), "error in loading shared libraries" in 'psql dies
// with "error in loading shared libraries"'.
std::unordered_set<std::string> quoted_terms(std::string_view q) {
  std::unordered_set<std::string> out;
  auto add = [&](std::string_view span) {
    for (std::string& t : analyze(span)) out.insert(std::move(t));
  };
  for (std::string_view open : {"\"", "`", "\xE2\x80\x9C"}) {
    const std::string_view close = open == "\xE2\x80\x9C" ? "\xE2\x80\x9D" : open;
    for (size_t a = q.find(open); a != std::string_view::npos;) {
      const size_t b = q.find(close, a + open.size());
      if (b == std::string_view::npos) break;
      add(q.substr(a + open.size(), b - a - open.size()));
      a = q.find(open, b + close.size());
    }
  }
  for (size_t a = 0; a < q.size(); ++a) {
    if (q[a] != '\'' || (a > 0 && std::isalnum(static_cast<unsigned char>(q[a - 1])))) continue;
    for (size_t b = a + 1; b < q.size(); ++b) {
      if (q[b] != '\'' || (b + 1 < q.size() && std::isalnum(static_cast<unsigned char>(q[b + 1])))) continue;
      add(q.substr(a + 1, b - a - 1));
      a = b;
      break;
    }
  }
  return out;
}

// A line whose every word is inside inline code spans: a command's
// synopsis ("`pg_ctl` `stop` [`-D` `datadir`] [`-m` `s[mart]`]"), code
// written as a sentence, not a statement of fact.
bool only_code_spans(std::string_view text) {
  bool in_code = false, any_code = false;
  for (char ch : text) {
    if (ch == '`') {
      in_code = !in_code;
      any_code = true;
    } else if (!in_code && std::isalpha(static_cast<unsigned char>(ch))) {
      return false;
    }
  }
  return any_code;
}

// A sentence that gives a default's value: "trust is the default", "the
// default is 5432", "defaults to 60 seconds", "default: 100000", "(default
// 500)". Not one that only names a default ("This option specifies the
// default authentication method").
bool states_default(std::string_view text) {
  const std::vector<std::string> w = analyze_words(text);
  static const std::unordered_set<std::string> kAfter = {"is", "was", "are", "to", "of", "value", "values", "setting"};
  static const std::unordered_set<std::string> kBefore = {"is", "are", "was", "as", "be", "by"};
  for (size_t i = 0; i < w.size(); ++i) {
    if (!w[i].starts_with("default")) continue;
    if (i + 1 < w.size() && kAfter.count(w[i + 1])) return true;
    if (i > 0 && kBefore.count(w[i - 1])) return true;  // "by default, ..."
    if (i > 1 && w[i - 1] == "the" && kBefore.count(w[i - 2])) return true;
  }
  // "default: 100000", "(default 500)".
  for (size_t at = text.find("efault"); at != std::string_view::npos; at = text.find("efault", at + 1)) {
    const size_t end = at + 6;
    if (end < text.size() && text[end] == ':') return true;
    if (at >= 2 && text[at - 2] == '(') return true;
  }
  return false;
}

// The abbreviations a question's runs of two to five content words would
// have ("CAB" for "Change Advisory Board"), each with the analysed terms of
// its words.
std::unordered_map<std::string, std::vector<std::string>> question_acronyms(std::string_view query) {
  std::vector<std::string> words;
  for (std::string& w : analyze_words(query)) {
    const bool content = std::isalpha(static_cast<unsigned char>(w[0])) && !question_words().count(w);
    words.push_back(content ? std::move(w) : std::string());  // "" breaks a run
  }
  std::unordered_map<std::string, std::vector<std::string>> out;
  for (size_t i = 0; i < words.size(); ++i) {
    std::string abbr;
    std::vector<std::string> terms;
    for (size_t j = i; j < words.size() && j < i + 5 && !words[j].empty(); ++j) {
      abbr += static_cast<char>(std::toupper(static_cast<unsigned char>(words[j][0])));
      for (std::string& t : analyze(words[j])) terms.push_back(std::move(t));
      if (j > i) out.emplace(abbr, terms);
    }
  }
  return out;
}

double coverage(const TermWeights& q, const std::unordered_set<std::string>& terms) {
  double total = 0, hit = 0;
  for (const auto& [t, w] : q) {
    total += w;
    if (terms.count(t)) hit += w;
  }
  return total > 0 ? hit / total : 0.0;
}

// Soft term coverage for the refusal evidence: a question term the text
// lacks counts in proportion to how close (GloVe cosine) its word comes to
// a word of the text, from `floor` (0) to 1 (1), so that "passphrase" is
// partly covered by "password" and "camera recordings" by "CCTV footage".
// Exact (stemmed) matches count 1 as in coverage(). Cosines are cached per
// question word and vocabulary row.
class SoftCoverage {
 public:
  SoftCoverage(const TermWeights& q, const std::unordered_map<std::string, std::string>& words,
               const GloveSifEmbedder* glove, double floor)
      : q_(q), glove_(glove), floor_(floor) {
    if (!glove_ || floor_ >= 1.0) return;
    const size_t d = static_cast<size_t>(glove_->dim());
    for (const auto& [term, w] : q_) {
      auto it = words.find(term);
      if (it == words.end()) continue;
      int64_t row = glove_->lookup(it->second);
      if (row < 0) continue;
      std::vector<float> v(d);
      glove_->word_vector(row, v.data());
      if (!normalize(v)) continue;
      slot_[term] = vecs_.size();
      vecs_.push_back(std::move(v));
      rows_.push_back(row);
    }
    cache_.resize(vecs_.size());
  }

  // Coverage of the question by `terms` (analysed) and `text` (its words).
  double operator()(const std::unordered_set<std::string>& terms, const std::string& text) {
    double total = 0, hit = 0;
    std::vector<int64_t> rows;
    bool have_rows = false;
    for (const auto& [t, w] : q_) {
      total += w;
      if (terms.count(t)) {
        hit += w;
        continue;
      }
      auto s = slot_.find(t);
      if (s == slot_.end()) continue;
      if (!have_rows) {
        for (const std::string& word : glove_tokenize(text)) {
          int64_t r = glove_->lookup(word);
          if (r >= 0) rows.push_back(r);
        }
        have_rows = true;
      }
      double best = 0;
      for (int64_t r : rows) best = std::max(best, cosine(s->second, r));
      if (best > floor_) hit += w * (best - floor_) / (1.0 - floor_);
    }
    return total > 0 ? hit / total : 0.0;
  }

  // The GloVe cosine of the question's term `t` to the closest word of
  // `text`; 0 when `t` is no question term with a GloVe vector (a question
  // word, a code) or no word of `text` has one: the caller's exact match
  // still counts.
  double closest(const std::string& t, const std::string& text) {
    auto s = slot_.find(t);
    if (s == slot_.end()) return 0.0;
    double best = 0;
    for (const std::string& word : glove_tokenize(text)) {
      int64_t r = glove_->lookup(word);
      if (r >= 0) best = std::max(best, cosine(s->second, r));
    }
    return best;
  }

 private:
  static bool normalize(std::vector<float>& v) {
    double n = 0;
    for (float x : v) n += static_cast<double>(x) * x;
    if (n <= 0) return false;
    const float inv = static_cast<float>(1.0 / std::sqrt(n));
    for (float& x : v) x *= inv;
    return true;
  }
  double cosine(size_t slot, int64_t row) {
    if (row == rows_[slot]) return 1.0;
    auto [it, inserted] = cache_[slot].emplace(row, 0.0);
    if (!inserted) return it->second;
    std::vector<float> v(vecs_[slot].size());
    glove_->word_vector(row, v.data());
    if (!normalize(v)) return 0.0;
    double dot = 0;
    for (size_t i = 0; i < v.size(); ++i) dot += static_cast<double>(v[i]) * vecs_[slot][i];
    it->second = dot;
    return dot;
  }

  const TermWeights& q_;
  const GloveSifEmbedder* glove_;
  double floor_;
  std::unordered_map<std::string, size_t> slot_;
  std::vector<std::vector<float>> vecs_;
  std::vector<int64_t> rows_;
  std::vector<std::unordered_map<int64_t, double>> cache_;
};

double jaccard(const std::unordered_set<std::string>& a, const std::unordered_set<std::string>& b) {
  if (a.empty() && b.empty()) return 1.0;
  size_t inter = 0;
  for (const auto& t : a) inter += b.count(t);
  return static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
}

std::string with_citation(std::string s, int n) {
  const std::string tag = " [" + std::to_string(n) + "]";
  while (!s.empty() && (s.back() == ' ')) s.pop_back();
  if (!s.empty() && (s.back() == '.' || s.back() == ':' || s.back() == ';')) {
    if (s.back() != '.') s.back() = '.';
    s.insert(s.size() - 1, tag);
  } else {
    s += tag;
    if (!s.empty() && s.back() != '?' && s.back() != '!') s += '.';
  }
  return s;
}


// Words that mark a sentence as stating a cause. `weak` ones ("since the
// 14:00 deploy", "so the ingress answers 502") also mark a time or a
// consequence: they count only in what the agents wrote, not in the
// user's report.
bool states_cause(const std::string& s, bool weak_too) {
  std::string l;
  for (char c : s) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : {"because", "cause", "caused", "due to", "root cause", "reason"})
    if (l.find(w) != std::string::npos) return true;
  if (!weak_too) return false;
  // Whole words: "also the" holds no "so the".
  std::string words = " ";
  for (char c : l) words += std::isalnum(static_cast<unsigned char>(c)) ? c : ' ';
  words += ' ';
  for (const char* w : {" since the ", " after the ", " so the ", " turned out "})
    if (words.find(w) != std::string::npos) return true;
  return false;
}

// "The base image was switched to debian:testing in February", "the
// certificate expired": a sentence that reports a change, the usual cause
// of an incident when no sentence names one. Not a question ("Was the
// printer moved?") nor a denial ("Nothing has been changed", "it wasn't
// moved"). `remedies_too`: also the verbs of what agents do to fix
// ("Your password has been reset", "the laptop was reimaged"), which are a
// cause only in the user's report.
bool states_change(const std::string& s, bool remedies_too) {
  size_t end = s.find_last_not_of(" \t\n");
  if (end != std::string::npos && s[end] == '?') return false;
  std::vector<std::string> w = words_of(s);
  for (std::string& x : w)
    for (char& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::unordered_set<std::string> kBe = {"was", "were", "been", "got"};
  static const std::unordered_set<std::string> kChanged = {"switched", "changed",  "upgraded", "downgraded",
                                                           "moved",    "migrated", "renamed",  "modified",
                                                           "disabled", "removed",  "deleted",  "revoked"};
  static const std::unordered_set<std::string> kRemedies = {"replaced", "reset",   "rotated",     "patched",
                                                            "reimaged", "updated", "reconfigured", "reinstalled"};
  static const std::unordered_set<std::string> kNot = {"not", "never", "no", "nothing", "nobody", "t"};
  for (size_t i = 0; i < w.size(); ++i) {
    const bool change = w[i] == "expired" || kChanged.count(w[i]) || (remedies_too && kRemedies.count(w[i]));
    if (!change) continue;
    // "was switched off", "was accidentally switched off".
    const bool passive = w[i] == "expired" || (i > 0 && kBe.count(w[i - 1])) || (i > 1 && kBe.count(w[i - 2]));
    if (!passive) continue;
    bool denied = false;
    for (size_t k = i >= 4 ? i - 4 : 0; k < i; ++k) denied |= kNot.count(w[k]) > 0;
    if (!denied) return true;
  }
  return false;
}

// A heading that names a command-line option: "-g, --globals-only",
// "--no-sync", "-?, --help", "-1, --fast"; not a return value ("-1").
bool names_an_option(std::string_view heading) {
  while (!heading.empty() && (heading.front() == '`' || heading.front() == ' ')) heading.remove_prefix(1);
  if (heading.size() < 2 || heading[0] != '-') return false;
  const unsigned char next = static_cast<unsigned char>(heading[1]);
  if (std::isdigit(next)) return heading.find("--") != std::string_view::npos;
  return std::isalpha(next) || next == '-' || next == '?';
}

// A heading that names an option, without backticks ("-g,
// --globals-only"); empty for any other heading.
std::string option_label(std::string_view heading) {
  if (!names_an_option(heading)) return {};
  std::string h;
  for (char ch : heading)
    if (ch != '`') h += ch;
  return h;
}

// The option heading a unit is under (option_label of its section).
std::string option_heading(const ScoredSentence& c) {
  return c.section_path.empty() ? std::string() : option_label(c.section_path.back());
}

bool is_resolution_question(const std::string& q) {
  std::string l;
  for (char c : q) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : {"resolv", "fix", "solv", "solution", "workaround", "close", "how"})
    if (l.find(w) != std::string::npos) return true;
  return false;
}

// Ticket comments and resolutions carry an entry header from the connector
// ("Jane Doe (2024-04-02T11:45:00Z): ", "Solved: author 1 (public, …): "):
// who wrote it is not part of the answer.
void strip_entry_header(std::string& s) {
  // ServiceNow journal: "2024-01-16 17:35:12 - Emma Clarke (Work notes) text".
  if (s.size() > 20 && std::isdigit(static_cast<unsigned char>(s[0])) && s[4] == '-' && s[7] == '-' &&
      s.compare(19, 3, " - ") == 0) {
    size_t close = s.find(") ", 22);
    if (close != std::string::npos && close < 100) {
      s.erase(0, close + 2);
      return;
    }
  }
  size_t close = s.find("): ");
  if (close == std::string::npos || close > 120) return;
  size_t open = s.rfind('(', close);
  if (open == std::string::npos) return;
  bool dated = false;
  for (size_t i = open; i + 4 < close; ++i)
    dated |= std::isdigit(static_cast<unsigned char>(s[i])) && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
             std::isdigit(static_cast<unsigned char>(s[i + 2])) && std::isdigit(static_cast<unsigned char>(s[i + 3])) &&
             s[i + 4] == '-';
  if (dated) s.erase(0, close + 3);
}

// The operating system family a word names: documentation gives parallel
// instructions per system (tabs "Unix:", "MacOS:", "Windows:"; sections
// "On Windows"), and a question names the one it runs. Linux and Unix are
// one family (pip's "Unix" tab answers a Linux question). Words as written:
// "Windows" is the system, "maintenance windows" is not; "Mac" only in
// "Mac OS" ("MAC address" is no system).
enum class Platform { kNone, kUnix, kMac, kWindows };

Platform platform_word(std::string_view word, std::string_view next) {
  static const std::unordered_map<std::string_view, Platform> kWords = {
      {"Linux", Platform::kUnix},   {"linux", Platform::kUnix},  {"Unix", Platform::kUnix},
      {"UNIX", Platform::kUnix},    {"Ubuntu", Platform::kUnix}, {"ubuntu", Platform::kUnix},
      {"Debian", Platform::kUnix},  {"RHEL", Platform::kUnix},   {"CentOS", Platform::kUnix},
      {"Fedora", Platform::kUnix},  {"FreeBSD", Platform::kUnix}, {"macOS", Platform::kMac},
      {"MacOS", Platform::kMac},    {"macos", Platform::kMac},   {"OSX", Platform::kMac},
      {"Windows", Platform::kWindows}};
  if ((word == "Mac" || word == "mac") && (next == "OS" || next == "os")) return Platform::kMac;
  auto it = kWords.find(word);
  return it == kWords.end() ? Platform::kNone : it->second;
}

// The one family that `text` names (kNone for none or several).
Platform names_platform(std::string_view text) {
  const std::vector<std::string> words = words_of(text);
  Platform found = Platform::kNone;
  for (size_t i = 0; i < words.size(); ++i) {
    const Platform p = platform_word(words[i], i + 1 < words.size() ? std::string_view(words[i + 1]) : "");
    if (p == Platform::kNone || p == found) continue;
    if (found != Platform::kNone) return Platform::kNone;
    found = p;
  }
  return found;
}

// The system a variant's label names: a short line of its own ("Unix:",
// "On Windows:", "For macOS users:") or a short heading ("macOS", "Windows
// 11"), whose other words are only such: not "Maintenance windows".
Platform variant_label(std::string_view label) {
  while (!label.empty() && (label.back() == ':' || label.back() == ' ')) label.remove_suffix(1);
  const std::vector<std::string> words = words_of(label);
  if (words.empty() || words.size() > 4) return Platform::kNone;
  static const std::unordered_set<std::string_view> kAround = {"On", "on", "For", "for", "Only", "only", "users",
                                                               "server", "Server", "desktop", "Desktop", "and",
                                                               "later", "OS", "os", "Mac", "mac", "X"};
  for (const std::string& w : words) {
    const bool digits = std::all_of(w.begin(), w.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!digits && !kAround.count(w) && platform_word(w, "") == Platform::kNone) return Platform::kNone;
  }
  return names_platform(label);
}

// A unit that names something in code: a code line, or a unit under a
// reference entry whose heading is written as code ("--with-suexec-uidmin=UID",
// "`HISTSIZE`", "-m mode, --mode=mode", "<Directory>", "SSLCipherSuite").
// Code spans in prose do not count: reference pages hold them everywhere.
bool names_in_code(const ScoredSentence& c, const std::string& title) {
  if (c.kind == UnitKind::kCode) return true;
  if (c.section_path.empty()) return false;
  const std::string& h = c.section_path.back();
  if (h.empty() || h.size() > 80 || title.find(h) != std::string::npos) return false;
  if (names_an_option(h) || h.front() == '`' || h.front() == '<') return true;
  // One token: an identifier with an underscore (ON_ERROR_STOP,
  // max_connections) or a capital after a small letter (SSLCipherSuite,
  // AllowOverride); not an acronym (VPN) or a version (IPv6).
  if (h.find(' ') != std::string::npos) return false;
  if (h.find('_') != std::string::npos) return true;
  for (size_t i = 1; i < h.size(); ++i)
    if (std::isupper(static_cast<unsigned char>(h[i])) && std::islower(static_cast<unsigned char>(h[i - 1])))
      return true;
  return false;
}

// A chunk's place in its document: the number after '#' in its id
// ("runbook.md#3" -> 3), 0 without one.
long chunk_ordinal(const std::string& id) {
  const size_t hash = id.rfind('#');
  return hash == std::string::npos ? 0L : std::atol(id.c_str() + hash + 1);
}

// "Resolution: Done", "Status: Fixed": a field label with a one-word value.
bool is_bare_label(const std::string& s) {
  size_t colon = s.find(": ");
  if (colon == std::string::npos) return false;
  std::string rest = s.substr(colon + 2);
  while (!rest.empty() && (rest.back() == '.' || rest.back() == ' ')) rest.pop_back();
  return rest.find(' ') == std::string::npos && s.substr(0, colon).find(' ') == std::string::npos;
}

// True when some of the chunk's text is in a section of that role: its own,
// or a sibling's the chunker merged into it.
bool holds_section(const Chunk& c, SectionRole role) {
  if (section_role(c.section_path, c.role) == role) return true;
  if (c.text.find("# ") == std::string::npos) return false;  // no merged section's heading
  for (const Unit& u : chunk_units(c.text, c.section_path)) {
    if (!u.heading.empty() && section_role(unit_section(c.section_path, u), c.role) == role) return true;
  }
  return false;
}

Hit hit_of_chunk(const Hit& like, const Chunk& c) {
  Hit h;
  h.doc_id = like.doc_id;
  h.chunk_id = c.id;
  h.title = like.title;
  h.kind = like.kind;
  h.source = like.source;
  h.url = like.url;
  h.section_path = c.section_path;
  h.role = c.role;
  h.text = c.text;
  h.metadata = like.metadata;
  return h;
}

std::string clean_title(const Hit& h) {
  std::string t = clean_inline_markdown(h.title);
  return t.empty() ? h.doc_id : t;
}

}  // namespace

ExtractiveAnswerer::ExtractiveAnswerer(const Retriever& retriever, ExtractiveOptions options,
                                       const KnowledgeReader* reader)
    : retriever_(retriever), options_(options), reader_(reader) {}

Result<std::vector<Hit>> ExtractiveAnswerer::retrieve(const SearchRequest& request) const {
  return reader_ != nullptr ? reader_->retrieve(request) : retriever_.retrieve(request);
}

Result<std::vector<Chunk>> ExtractiveAnswerer::chunks_of(const SearchRequest& request,
                                                         const std::string& doc_id) const {
  return reader_ != nullptr ? reader_->chunks_of(request, doc_id) : retriever_.store().chunks_of(doc_id);
}

Result<Answer> ExtractiveAnswerer::answer(const SearchRequest& request) const {
  SearchRequest req = request;
  req.k = chunks_for(request);
  RAGD_ASSIGN_OR_RETURN(std::vector<Hit> hits, retrieve(req));
  return answer_from(request, std::move(hits));
}

int ExtractiveAnswerer::chunks_for(const SearchRequest& request) const {
  return chunks_for(request, classify_question(request.query));
}

int ExtractiveAnswerer::chunks_for(const SearchRequest& request, const QuestionIntent& intent) const {
  const int extra = intent.asks_quantity || intent.asks_default || !intent.focus.empty() ? 4 : 0;
  return std::max(1, std::min(request.k, options_.max_chunks + extra));
}

Result<Answer> ExtractiveAnswerer::answer_from(const SearchRequest& request, std::vector<Hit> hits) const {
  RAGD_ASSIGN_OR_RETURN(Evidence ev, select_evidence(request, std::move(hits)));
  return answer_from_evidence(request, std::move(ev));
}

Answer ExtractiveAnswerer::answer_from_evidence(const SearchRequest& request, Evidence ev) const {
  Answer ans;
  ans.grounding = Grounding::kExtractive;
  ans.intent = intent_name(ev.intent.kind);
  ans.confidence = ev.confidence;
  if (ev.items.empty() || ev.confidence < options_.refuse_below) {
    ans.refused = true;
    ans.text = kRefusalText;
  } else {
    compose_answer(ev, ans);
  }
  size_t n_hits = std::min(ev.sources.size(), static_cast<size_t>(chunks_for(request, ev.intent)));
  for (size_t i = 0; i < n_hits && i < ev.sources.size(); ++i) {
    if (ev.sources[i].score == 0 && ev.sources[i].score_lexical == 0 && ev.sources[i].score_vector == 0) break;
    ans.hits.push_back(ev.sources[i]);
  }
  return ans;
}

Result<Evidence> ExtractiveAnswerer::select_evidence(const SearchRequest& request, std::vector<Hit> hits) const {
  Evidence ev;
  ev.intent = classify_question(request.query);
  const size_t cap = static_cast<size_t>(chunks_for(request, ev.intent));
  if (hits.size() > cap) hits.resize(cap);
  const size_t n_hits = hits.size();
  std::vector<Hit>& src = ev.sources;
  src = std::move(hits);
  std::set<std::string> have;
  for (const Hit& h : src) have.insert(h.chunk_id);
  // The document rank of each source: its document's first hit.
  std::map<std::string, size_t> doc_rank;
  for (size_t i = 0; i < src.size(); ++i) doc_rank.emplace(src[i].doc_id, doc_rank.size());

  // A named record: its chunks, when the caller may see it.
  for (const std::string& id : ev.intent.named_ids) {
    SearchRequest r = request;
    r.filters.fields["id"] = id;
    r.k = 1;
    auto found = retrieve(r);
    if (!found.is_ok() || found->empty()) continue;
    ev.named_id = id;
    const Hit like = (*found)[0];
    RAGD_ASSIGN_OR_RETURN(std::vector<Chunk> named_chunks, chunks_of(request, id));
    for (const Chunk& c : named_chunks)
      if (have.insert(c.id).second) src.push_back(hit_of_chunk(like, c));
    doc_rank.emplace(id, doc_rank.size());
    break;
  }
  // Units' cosines to the question from GloVe when it is loaded, whatever
  // encoder embeds the chunks: the refusal's weights are fitted on them.
  const Embedder* emb = options_.word_ranks != nullptr ? options_.word_ranks : retriever_.embedder();
  std::unordered_map<std::string, std::string> q_words;
  // `situated`: the question describes its situation before it asks ("The
  // volume is full. How do I ...?"), not only a greeting or thanks.
  bool situated = false;
  const TermWeights q =
      query_terms(request.query, options_.word_ranks, options_.situation_weight, &q_words, &situated);
  SoftCoverage soft(q, q_words, options_.word_ranks, options_.soft_match_floor);
  // The share of the question (by weight) that GloVe embeds: its cosines
  // say nothing about an error code or a host name it does not know.
  if (options_.word_ranks != nullptr) {
    double known = 0, total = 0;
    for (const auto& [t, w] : q) {
      total += w;
      auto it = q_words.find(t);
      if (it == q_words.end()) continue;
      for (const std::string& tok : glove_tokenize(it->second)) {
        if (options_.word_ranks->lookup(tok) < 0) continue;
        known += w;
        break;
      }
    }
    ev.embedded_share = total > 0 ? known / total : 0.0;
  }
  const std::unordered_map<std::string, std::vector<std::string>> acronyms = question_acronyms(request.query);
  // A section named after the task a how-to question asks for ("Add a new
  // member" for "How do I add a member to a running cluster?"): its heading
  // and its parent's (not the document's title) hold at least half the
  // question.
  const bool how_to = ev.intent.kind == Intent::kFix;
  auto task_heading = [&](const std::vector<std::string>& path, const std::string& title) {
    if (!how_to || path.empty()) return false;
    std::unordered_set<std::string> terms;
    for (size_t i = path.size() >= 2 ? path.size() - 2 : 0; i < path.size(); ++i) {
      if (i == 0 && !title.empty() && title.find(path[0]) != std::string::npos) continue;
      for (auto& t : analyze(path[i])) terms.insert(std::move(t));
    }
    return coverage(q, terms) >= 0.5;
  };

  // The chunks of the documents read below, each read once.
  std::map<std::string, std::vector<Chunk>> read_docs;
  auto read_doc = [&](const std::string& doc_id) -> Result<const std::vector<Chunk>*> {
    auto it = read_docs.find(doc_id);
    if (it == read_docs.end()) {
      RAGD_ASSIGN_OR_RETURN(std::vector<Chunk> chunks, chunks_of(request, doc_id));
      it = read_docs.emplace(doc_id, std::move(chunks)).first;
    }
    return &it->second;
  };

  // Fix and cause questions: the other sections of the top documents.
  const bool want_sections = ev.named_id.empty() &&
                             (ev.intent.kind == Intent::kFix || ev.intent.kind == Intent::kCause);
  if (want_sections) {
    std::set<std::string> seen_docs;
    for (size_t i = 0; i < n_hits && seen_docs.size() < 3; ++i) {
      if (!seen_docs.insert(src[i].doc_id).second) continue;
      const Hit like = src[i];
      RAGD_ASSIGN_OR_RETURN(const std::vector<Chunk>* read, read_doc(like.doc_id));
      const std::vector<Chunk>& doc_chunks = *read;
      const SectionRole wanted = ev.intent.kind == Intent::kFix ? SectionRole::kResolution : SectionRole::kCause;
      // The chunk after a hit, in its section, for a fix answer that reads
      // on from a hit's last sentence ("... doing something like:").
      std::set<std::string> hit_chunks;
      for (size_t h = 0; h < n_hits; ++h)
        if (src[h].doc_id == like.doc_id) hit_chunks.insert(src[h].chunk_id);
      // The top document's every section when it is short: the fix may sit
      // in one that retrieval ranked lower for the question's wording
      // ("Removing the cache" for "wipe the cached wheels").
      const bool whole = ev.intent.kind == Intent::kFix && seen_docs.size() == 1 &&
                         options_.whole_document_chunks > 0 &&
                         doc_chunks.size() <= static_cast<size_t>(options_.whole_document_chunks);
      for (size_t k = 0; k < doc_chunks.size(); ++k) {
        const Chunk& c = doc_chunks[k];
        const bool next = ev.intent.kind == Intent::kFix && k > 0 && hit_chunks.count(doc_chunks[k - 1].id) &&
                          doc_chunks[k - 1].section_path == c.section_path;
        const bool useful = whole || next || holds_section(c, wanted) || task_heading(c.section_path, like.title);
        if (useful && have.insert(c.id).second) src.push_back(hit_of_chunk(like, c));
      }
    }
  }

  // A command's reference page on top (min_option_entries or more units
  // under distinct option headings: "-g, --globals-only"): a how-to
  // question, or one asking for a name, is often answered by an option
  // entry that says what the question wants ("Dump only global objects
  // (roles and tablespaces), no databases.") and that retrieval ranked
  // below the page's prose. The top document's chunks that hold option
  // entries join the candidates, up to max_option_chunks of them.
  std::set<std::string> option_pages;
  if (ev.named_id.empty() && n_hits > 0 && (ev.intent.kind == Intent::kFix || ev.intent.asks_name)) {
    const Hit like = src[0];
    RAGD_ASSIGN_OR_RETURN(const std::vector<Chunk>* doc_chunks, read_doc(like.doc_id));
    std::set<std::string> headings;
    std::vector<const Chunk*> holding;
    for (const Chunk& c : *doc_chunks) {
      bool holds = false;
      for (const Unit& u : chunk_units(c.text, c.section_path)) {
        const std::vector<std::string> section = unit_section(c.section_path, u);
        if (section.empty() || !names_an_option(section.back())) continue;
        headings.insert(section.back());
        holds = true;
      }
      if (holds) holding.push_back(&c);
    }
    if (headings.size() >= static_cast<size_t>(std::max(1, options_.min_option_entries))) {
      option_pages.insert(like.doc_id);
      size_t added = 0;
      for (const Chunk* c : holding) {
        if (added >= options_.max_option_chunks) break;
        if (!have.insert(c->id).second) continue;
        src.push_back(hit_of_chunk(like, *c));
        ++added;
      }
    }
  }

  // A ticket among the top three documents, found by its problem (the
  // user's report), answers with what was done about it: its resolution
  // and work notes join the candidates, for every kind of question ("What
  // turned out to be the problem last time?"). The report itself is no
  // answer (below).
  if (ev.named_id.empty()) {
    std::vector<std::string> top;  // the top three documents, as for the sections of a fix above
    for (size_t i = 0; i < n_hits && top.size() < 3; ++i)
      if (std::find(top.begin(), top.end(), src[i].doc_id) == top.end()) top.push_back(src[i].doc_id);
    std::set<std::string> pulled;
    for (size_t i = 0; i < n_hits; ++i) {
      if (src[i].role != "problem" || std::find(top.begin(), top.end(), src[i].doc_id) == top.end() ||
          !pulled.insert(src[i].doc_id).second)
        continue;
      const Hit like = src[i];
      RAGD_ASSIGN_OR_RETURN(const std::vector<Chunk>* doc_chunks, read_doc(like.doc_id));
      for (const Chunk& c : *doc_chunks)
        if ((c.role == "resolution" || c.role == "comment") && have.insert(c.id).second)
          src.push_back(hit_of_chunk(like, c));
    }
  }

  // A question about the tickets themselves: their reports answer it.
  bool about_records = false;
  for (const std::string& word : analyze_words(request.query)) {
    static const std::unordered_set<std::string> kRecords = {"ticket", "tickets", "incident", "incidents",
                                                             "reported", "report", "reports", "case", "cases"};
    about_records |= kRecords.count(word) > 0;
  }

  // Candidate units and their analysed terms.
  std::vector<ScoredSentence> cands;
  std::vector<std::unordered_set<std::string>> cand_terms;
  std::vector<double> own_coverage;  // of the unit's text alone, without its context
  std::vector<Platform> cand_platform;
  std::vector<bool> cand_open_start;  // before the chunk's first label line
  std::vector<Platform> chunk_end_platform(src.size(), Platform::kNone);
  std::vector<std::unordered_set<std::string>> context_terms(src.size());
  // Per document: terms of its retrieved hits with title and path.
  std::map<std::string, std::unordered_set<std::string>> doc_terms;
  for (size_t h = 0; h < src.size(); ++h) {
    std::string context = src[h].title;
    for (const auto& s : src[h].section_path) context += " " + s;
    for (auto& t : analyze(context)) context_terms[h].insert(std::move(t));
    if (h < n_hits) {
      auto& dt = doc_terms[src[h].doc_id];
      dt.insert(context_terms[h].begin(), context_terms[h].end());
      for (auto& t : analyze(src[h].text)) dt.insert(std::move(t));
    }
    // A ticket's problem block says what a user reported, not what is
    // true or what fixed it ("The screen shows No signal" is no answer to
    // "how do I fix No signal"): it finds the ticket (its words count in the
    // document's coverage above) and is quoted only when the question names
    // the ticket or asks about tickets ("Is there a ticket about ...?").
    if (src[h].role == "problem" && src[h].doc_id != ev.named_id && !about_records) continue;
    const bool ticket_block = src[h].role == "resolution" || src[h].role == "comment";
    // The system variant the units are in: the last label line ("Unix:")
    // in their section, else their section's heading.
    // A chunk that starts inside a variant (before its first label line)
    // is in the variant its previous chunk ends in (below).
    std::unordered_set<std::string> title_terms;
    for (auto& t : analyze(src[h].title)) title_terms.insert(std::move(t));
    std::vector<std::string> label_section = src[h].section_path;
    Platform label = label_section.empty() ? Platform::kNone : variant_label(label_section.back());
    bool open_start = label == Platform::kNone;
    for (Unit& u : chunk_units(src[h].text, src[h].section_path)) {
      const std::vector<std::string> section = unit_section(src[h].section_path, u);
      if (section != label_section) {
        label = section.empty() ? Platform::kNone : variant_label(section.back());
        label_section = section;
        open_start = false;
      }
      if (u.kind == UnitKind::kSentence && u.text.ends_with(':') && variant_label(u.text) != Platform::kNone) {
        label = variant_label(u.text);
        open_start = false;
        continue;
      }
      if (ticket_block && u.kind != UnitKind::kCode) {
        strip_entry_header(u.text);
        if (is_bare_label(u.text)) continue;
      }
      if (u.text.size() > options_.max_sentence_bytes && u.kind != UnitKind::kCode) continue;
      if (u.text.size() < 3) continue;
      std::vector<std::string> terms = analyze(u.text);
      if (terms.empty()) continue;
      std::unordered_set<std::string> set(terms.begin(), terms.end());
      // An abbreviation of words of the question stands for them: "CAB"
      // in "The CAB meets every Tuesday" for "Change Advisory Board".
      if (!acronyms.empty()) {
        for (const std::string& word : words_of(u.text)) {
          auto it = acronyms.find(word);
          if (it != acronyms.end()) set.insert(it->second.begin(), it->second.end());
        }
      }
      ScoredSentence c;
      c.section_path = section;
      c.text = std::move(u.text);
      c.kind = u.kind;
      c.hit = h;
      // What a unit says is read in its context. Its section's own heading
      // counts half ("Sets the label for the backup." under "-l label,
      // --label=label", "(default 500)" under "HISTSIZE"); its document's
      // title counts in full, since every unit of the document shares it: a
      // sentence that repeats the program's name does not win on it alone.
      std::unordered_set<std::string> with_title = set;
      with_title.insert(title_terms.begin(), title_terms.end());
      std::unordered_set<std::string> with_heading = with_title;
      if (!c.section_path.empty() && !is_role_label(c.section_path.back()) &&
          (c.section_path.size() > 1 || src[h].title.find(c.section_path.back()) == std::string::npos))
        for (auto& t : analyze(c.section_path.back())) with_heading.insert(std::move(t));
      const double titled = coverage(q, with_title);
      c.coverage = titled + kHeadingShare * (coverage(q, with_heading) - titled);
      own_coverage.push_back(coverage(q, set));
      cands.push_back(std::move(c));
      cand_terms.push_back(std::move(set));
      cand_platform.push_back(label);
      cand_open_start.push_back(open_start);
    }
    chunk_end_platform[h] = label_section == src[h].section_path ? label : Platform::kNone;
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
  {
    std::map<std::pair<std::string, long>, size_t> chunk_at;
    for (size_t h = 0; h < src.size(); ++h)
      chunk_at.emplace(std::make_pair(src[h].doc_id, chunk_ordinal(src[h].chunk_id)), h);
    for (size_t i = 0; i < cands.size(); ++i) {
      const Hit& hit = src[cands[i].hit];
      if (!cand_open_start[i] || cand_platform[i] != Platform::kNone) continue;
      auto before = chunk_at.find({hit.doc_id, chunk_ordinal(hit.chunk_id) - 1});
      if (before != chunk_at.end() && src[before->second].section_path == hit.section_path)
        cand_platform[i] = chunk_end_platform[before->second];
    }
  }
  // A question about one system: the variants for another system are no
  // part of its answer (and weigh half where units are only ranked).
  const Platform asked_platform = names_platform(request.query);
  auto other_platform = [&](size_t i) {
    return asked_platform != Platform::kNone && cand_platform[i] != Platform::kNone &&
           cand_platform[i] != asked_platform;
  };
  // Terms of a unit's title and section path.
  auto unit_context = [&](size_t i) {
    const size_t h = cands[i].hit;
    if (cands[i].section_path == src[h].section_path) return context_terms[h];
    std::string context = src[h].title;
    for (const auto& p : cands[i].section_path) context += " " + p;
    std::unordered_set<std::string> terms;
    for (auto& t : analyze(context)) terms.insert(std::move(t));
    return terms;
  };
  // A unit in the asked system's variant reads its label ("Linux:", a
  // "Windows" heading) as its context, in full: "~/.cache/pip" under the
  // "Linux" tab says where the cache is on Linux.
  if (asked_platform != Platform::kNone) {
    std::unordered_set<std::string> named;
    const std::vector<std::string> words = words_of(request.query);
    for (size_t k = 0; k < words.size(); ++k) {
      if (platform_word(words[k], k + 1 < words.size() ? std::string_view(words[k + 1]) : "") == asked_platform)
        for (auto& t : analyze(words[k])) named.insert(std::move(t));
    }
    for (size_t i = 0; i < cands.size(); ++i) {
      if (cand_platform[i] != asked_platform) continue;
      // Not again what the title or a heading (a "Windows" section) gave.
      std::unordered_set<std::string> context = unit_context(i);
      context.insert(cand_terms[i].begin(), cand_terms[i].end());
      std::unordered_set<std::string> with_label = context;
      with_label.insert(named.begin(), named.end());
      cands[i].coverage += coverage(q, with_label) - coverage(q, context);
    }
  }
  auto has_digit = [](const std::string& t) {
    return std::any_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  auto gives_asked = [&](const std::string& t) {
    return ev.intent.asks_default ? states_default(t) : has_digit(t);
  };
  // A default stated with its value is what a question asking for a
  // default asks for. (A bare digit is too weak a sign for a question
  // asking for a number: return codes, versions, section numbers.)
  auto gives_value = [&](const std::string& t) { return ev.intent.asks_default && has_digit(t) && states_default(t); };
  // The option heading each unit is under ("" for none).
  std::vector<std::string> cand_option(cands.size());
  for (size_t i = 0; i < cands.size(); ++i) cand_option[i] = option_heading(cands[i]);
  // A how-to question on a command's page: an option's entry
  // (ExtractiveOptions::w_option_entry).
  auto option_entry = [&](size_t i) {
    if (ev.intent.kind != Intent::kFix || ev.intent.asks_name) return false;
    return !cand_option[i].empty() && option_pages.count(src[cands[i].hit].doc_id) > 0;
  };
  for (size_t i = 0; i < cands.size(); ++i) {
    ScoredSentence& c = cands[i];
    const size_t rank = doc_rank.count(src[c.hit].doc_id) ? doc_rank[src[c.hit].doc_id] : c.hit;
    c.score = options_.w_cover * c.coverage + options_.w_vector * std::max(0.0, c.cosine) +
              options_.w_rank / (1.0 + static_cast<double>(std::min(rank, c.hit)));
    if (ev.intent.asks_name && names_in_code(c, src[c.hit].title)) c.score += options_.w_named_in_code;
    if (gives_value(c.text)) c.score += options_.w_gives_value;
    if (option_entry(i)) c.score += options_.w_option_entry;
    if (other_platform(i)) c.score *= 0.5;
  }
  // A fact question that names the kind of thing it asks for ("What
  // character encoding does ...?"): which units say that noun, in their text
  // or their section's heading, or a word whose GloVe cosine to it is above
  // soft_match_floor ("release" for "version").
  std::vector<bool> holds_focus;
  const std::vector<std::string> focus_terms =
      ev.intent.kind == Intent::kFact && !ev.intent.focus.empty() ? analyze(ev.intent.focus) : std::vector<std::string>{};
  if (!focus_terms.empty()) {
    const std::string& f = focus_terms.front();
    holds_focus.assign(cands.size(), false);
    for (size_t i = 0; i < cands.size(); ++i) {
      const std::string heading = cands[i].section_path.empty() ? std::string() : cands[i].section_path.back();
      const std::vector<std::string> heading_terms = analyze(heading);
      bool holds = cand_terms[i].count(f) > 0 || std::ranges::find(heading_terms, f) != heading_terms.end();
      if (!holds) holds = soft.closest(f, cands[i].text + " " + heading) > options_.soft_match_floor;
      holds_focus[i] = holds;
    }
  }
  // The refusal evidence of unit i: its soft coverage of the question
  // together with its document's title and section path.
  auto unit_evidence = [&](size_t i) {
    std::unordered_set<std::string> with_context = unit_context(i);
    with_context.insert(cand_terms[i].begin(), cand_terms[i].end());
    std::string text = src[cands[i].hit].title;
    for (const auto& p : cands[i].section_path) text += " " + p;
    return soft(with_context, text + " " + cands[i].text);
  };
  auto unit_role = [&](size_t i) { return section_role(cands[i].section_path, src[cands[i].hit].role); };
  auto doc_cov = [&](const std::string& doc) {
    auto it = doc_terms.find(doc);
    return it == doc_terms.end() ? 0.0 : coverage(q, it->second);
  };

  // Units of one section of one document, in text order, without the
  // repeats that chunk overlap makes.
  auto section_units = [&](const std::string& doc, const std::vector<std::string>& path, SectionRole role) {
    std::vector<size_t> in_section;
    for (size_t i = 0; i < cands.size(); ++i)
      if (src[cands[i].hit].doc_id == doc && cands[i].section_path == path && unit_role(i) == role &&
          !other_platform(i))
        in_section.push_back(i);
    std::stable_sort(in_section.begin(), in_section.end(), [&](size_t a, size_t b) {
      return chunk_ordinal(src[cands[a].hit].chunk_id) < chunk_ordinal(src[cands[b].hit].chunk_id);
    });
    std::vector<size_t> idx;
    std::set<std::string> texts;
    for (size_t i : in_section)
      if (texts.insert(cands[i].text).second) idx.push_back(i);
    return idx;
  };

  // Section-based evidence: a named record's resolution, or the best
  // resolution/cause section of the top documents.
  SectionRole want = ev.intent.kind == Intent::kCause ? SectionRole::kCause : SectionRole::kResolution;
  if (!ev.named_id.empty()) {
    const bool resolution = ev.intent.kind != Intent::kCause && is_resolution_question(request.query);
    std::vector<size_t> picked;
    std::set<std::vector<std::string>> paths_done;
    for (size_t c = 0; c < cands.size(); ++c) {
      if (src[cands[c].hit].doc_id != ev.named_id || unit_role(c) != SectionRole::kResolution) continue;
      if (!paths_done.insert(cands[c].section_path).second) continue;
      auto units = section_units(ev.named_id, cands[c].section_path, SectionRole::kResolution);
      for (size_t i : units)
        if (std::find(picked.begin(), picked.end(), i) == picked.end()) picked.push_back(i);
    }
    if (resolution && ev.intent.kind != Intent::kCause) {
      // Commands run in the record's comments are what was done; keep each
      // with the line that introduces it.
      for (size_t i = 0; i < cands.size(); ++i) {
        if (cands[i].kind != UnitKind::kCode || src[cands[i].hit].doc_id != ev.named_id) continue;
        if (src[cands[i].hit].role != "comment") continue;
        if (std::find(picked.begin(), picked.end(), i) != picked.end()) continue;
        if (i > 0 && cands[i - 1].hit == cands[i].hit && cands[i - 1].kind != UnitKind::kCode &&
            std::find(picked.begin(), picked.end(), i - 1) == picked.end())
          picked.push_back(i - 1);
        picked.push_back(i);
      }
    }
    if (ev.intent.kind == Intent::kCause) {
      // The sentences of the record that state a cause, resolution notes
      // first; without one, the agents' work notes, where the diagnosis is
      // written ("2.7.0 moved the health endpoint ..."), then the resolution.
      std::vector<size_t> all;
      for (size_t i = 0; i < cands.size(); ++i)
        if (src[cands[i].hit].doc_id == ev.named_id &&
            states_cause(cands[i].text, src[cands[i].hit].role != "problem"))
          all.push_back(i);
      const bool marked = !all.empty();
      if (marked) {
        std::stable_sort(all.begin(), all.end(), [&](size_t a, size_t b) {
          bool ra = unit_role(a) == SectionRole::kResolution;
          bool rb = unit_role(b) == SectionRole::kResolution;
          return ra > rb;
        });
      } else {
        // A change the record reports, where it is told first: what the
        // user or the finding says was changed before the agents' notes.
        for (const char* role : {"problem", "comment"})
          for (size_t i = 0; i < cands.size(); ++i)
            if (src[cands[i].hit].doc_id == ev.named_id && src[cands[i].hit].role == role &&
                cands[i].kind != UnitKind::kCode && states_change(cands[i].text, std::string_view(role) == "problem"))
              all.push_back(i);
      }
      if (all.empty()) {
        // Notes of a few words ("Looking into it.") say nothing of why.
        for (const char* role : {"comment", "resolution"})
          for (size_t i = 0; i < cands.size(); ++i)
            if (src[cands[i].hit].doc_id == ev.named_id && src[cands[i].hit].role == role &&
                cands[i].kind != UnitKind::kCode && words_of(cands[i].text).size() >= 6)
              all.push_back(i);
      }
      std::set<std::string> texts;
      std::vector<size_t> uniq;
      for (size_t i : all) {
        // "No ready endpoints, so the ingress answers 502.": a consequence;
        // its reason is the sentence before it in the same note.
        const bool consequence = cands[i].text.find(", so ") != std::string::npos;
        if (consequence && i > 0 && cands[i - 1].hit == cands[i].hit && cands[i - 1].kind != UnitKind::kCode &&
            texts.insert(cands[i - 1].text).second)
          uniq.push_back(i - 1);
        if (texts.insert(cands[i].text).second) uniq.push_back(i);
      }
      if (!uniq.empty()) picked = uniq;
      if (picked.size() > 3) picked.resize(3);
      ev.role = SectionRole::kCause;
    } else {
      ev.role = SectionRole::kResolution;
    }
    if (picked.empty() || !resolution) {
      // No resolution recorded, or not asked for: the record's best units.
      std::vector<size_t> best;
      for (size_t i = 0; i < cands.size(); ++i)
        if (src[cands[i].hit].doc_id == ev.named_id) best.push_back(i);
      std::stable_sort(best.begin(), best.end(), [&](size_t a, size_t b) { return cands[a].score > cands[b].score; });
      if (picked.empty()) {
        if (best.size() > 3) best.resize(3);
        picked = best;
        ev.role = SectionRole::kOther;
      }
    }
    if (static_cast<int>(picked.size()) > options_.max_steps) picked.resize(static_cast<size_t>(options_.max_steps));
    for (size_t i : picked) ev.items.push_back(cands[i]);
    ev.intent_specific = !ev.items.empty();
    ev.unit_coverage = 1.0;
    ev.doc_coverage = 1.0;
    ev.confidence = ev.items.empty() ? 0.0 : 1.0;  // the record exists and the caller may read it
    return ev;
  }

  if (want_sections) {
    // Candidate sections: (doc, path) with the wanted role.
    double best_doc = 0;
    for (const auto& [doc, terms] : doc_terms) best_doc = std::max(best_doc, coverage(q, terms));
    double best_score = -std::numeric_limits<double>::infinity();
    std::string best_doc_id;
    std::vector<std::string> best_path;
    SectionRole best_role = want;
    bool best_is_task = false;
    std::set<std::pair<std::string, std::vector<std::string>>> tried;
    // The question's weights for telling the sections read here apart: a
    // word most of them hold ("cluster" in a cluster's manuals, the
    // product's name) says little about which section is meant.
    TermWeights q_apart;
    {
      std::map<std::pair<std::string, std::vector<std::string>>, std::unordered_set<std::string>> sections;
      for (size_t i = 0; i < cands.size(); ++i) {
        auto& terms = sections[{src[cands[i].hit].doc_id, cands[i].section_path}];
        if (terms.empty())
          for (const auto& p : cands[i].section_path)
            for (auto& t : analyze(p)) terms.insert(std::move(t));
        terms.insert(cand_terms[i].begin(), cand_terms[i].end());
      }
      const double n = static_cast<double>(sections.size());
      for (const auto& [t, w] : q) {
        double df = 0;
        for (const auto& [key, terms] : sections) df += terms.count(t) ? 1 : 0;
        // A word no section holds tells none apart.
        q_apart[t] = df == 0 ? 0.0 : w * std::log((n + 1.0) / df);
      }
    }
    // How much a section is about the question; negative when it is not.
    // A section whose headings, below the document's own, only name roles
    // ("Resolution", "Workaround 2") is about its document's topic: as
    // relevant as the document's hits. One with a topic of its own (a FAQ's
    // question, "Error 0x709", "Add a new member") must have that topic in
    // the question: when the retriever found it first in its document, some
    // of it (by q_apart), and then it is as relevant as its document; else
    // 30% of the question, and it must cover the question by itself (those
    // headings and its text) at least half as well as its document's best
    // hit does, that coverage being its relevance.
    auto relevance = [&](const std::string& doc, const std::vector<std::string>& path,
                         const std::vector<size_t>& units, const std::string& title) {
      std::unordered_set<std::string> title_terms;
      for (auto& t : analyze(title)) title_terms.insert(std::move(t));
      std::unordered_set<std::string> own;
      for (size_t i = 0; i < path.size(); ++i) {
        if (is_role_label(path[i])) continue;
        std::vector<std::string> terms = analyze(path[i]);
        if (i == 0) {  // the document's own heading, when it names the document
          size_t in_title = 0;
          for (const auto& t : terms) in_title += title_terms.count(t);
          if (terms.empty() || in_title * 5 >= terms.size() * 4) continue;
        }
        for (auto& t : terms) own.insert(std::move(t));
      }
      size_t h = 0;
      while (h < n_hits && src[h].doc_id != doc) ++h;
      if (own.empty()) return doc_cov(doc);  // no topic of its own
      // A topic the question does not name at all; or, unless the retriever
      // found the section first in its document, barely.
      const double named = coverage(q_apart, own);
      if (named == 0) return -1.0;
      if (h < n_hits && src[h].section_path == path) return doc_cov(doc);
      if (named < 0.3) return -1.0;
      for (size_t i : units) own.insert(cand_terms[i].begin(), cand_terms[i].end());
      double hit_cov = 0;
      if (h < n_hits) {
        std::unordered_set<std::string> hit_terms = context_terms[h];
        for (auto& t : analyze(src[h].text)) hit_terms.insert(std::move(t));
        hit_cov = coverage(q, hit_terms);
      }
      const double own_cov = coverage(q, own);
      return own_cov >= 0.5 * hit_cov ? own_cov : -1.0;
    };
    // Candidates: sections of the wanted role, and for a how-to question
    // the procedures (two list items, or a command) named after its task.
    for (size_t c = 0; c < cands.size(); ++c) {
      const SectionRole role = unit_role(c);
      const std::string& doc = src[cands[c].hit].doc_id;
      const std::vector<std::string>& path = cands[c].section_path;
      const bool task = role != want && role != SectionRole::kSymptom && role != SectionRole::kCause &&
                        task_heading(path, src[cands[c].hit].title);
      if (role != want && !task) continue;
      if (!tried.insert({doc, path}).second) continue;
      const double dc = doc_cov(doc);
      if (dc < 0.5 * best_doc) continue;
      const std::vector<size_t> units = section_units(doc, path, role);
      const double rel = relevance(doc, path, units, src[cands[c].hit].title);
      if (rel < 0) continue;
      if (task) {
        size_t steps = 0, commands = 0;
        for (size_t i : units) {
          steps += cands[i].kind == UnitKind::kNumbered || cands[i].kind == UnitKind::kBullet;
          commands += cands[i].kind == UnitKind::kCode;
        }
        if (steps < 2 && commands == 0) continue;
      }
      std::unordered_set<std::string> sec_terms = unit_context(c);
      for (size_t i : units) sec_terms.insert(cand_terms[i].begin(), cand_terms[i].end());
      const size_t rank = doc_rank[doc];
      // A curated procedure (list items) reads better than a ticket's
      // free-text notes when both match the question.
      size_t items = 0, bytes = 0;
      for (size_t i : units) {
        items += cands[i].kind == UnitKind::kNumbered || cands[i].kind == UnitKind::kBullet;
        bytes += cands[i].text.size();
      }
      // A note of a line or two ("Self service worked.") says that it was
      // fixed, not how: any section that says how beats it.
      const double structure = items >= 2 ? options_.w_structure : 0.0;
      // A fix of a line or two is taken when no other qualifies; a cause
      // is often one sentence.
      const bool thin = want == SectionRole::kResolution && bytes < 80;
      const double score = rel + 0.3 * coverage(q, sec_terms) + structure +
                           options_.w_rank / (1.0 + static_cast<double>(rank)) - (thin ? 10.0 : 0.0);
      if (score > best_score) {
        best_score = score;
        best_doc_id = doc;
        best_path = path;
        best_role = role;
        best_is_task = task;
      }
    }
    if (!best_doc_id.empty()) {
      auto units = section_units(best_doc_id, best_path, best_role);
      if (want == SectionRole::kCause && static_cast<int>(units.size()) > options_.max_sentences + 2)
        units.resize(static_cast<size_t>(options_.max_sentences + 2));
      if (static_cast<int>(units.size()) > options_.max_steps) units.resize(static_cast<size_t>(options_.max_steps));
      double best_unit = 0;
      for (size_t i : units) {
        ev.items.push_back(cands[i]);
        best_unit = std::max(best_unit, unit_evidence(i));
      }
      if (!ev.items.empty()) {
        ev.role = want;
        ev.task = best_is_task;
        ev.intent_specific = true;
        ev.section_title = best_path.empty() ? std::string() : best_path.back();
        ev.unit_coverage = best_unit;
        ev.doc_coverage = doc_cov(best_doc_id);
        for (const auto& it : ev.items) ev.cosine = std::max(ev.cosine, it.cosine);
        ev.situated = situated;
        ev.confidence = refusal_score(ev, options_.doc_weight, options_.situation_doc_weight, cosine_weight());
        return ev;
      }
    }
  }

  // Code is no fact (unless its system's label introduces it, below), but it can be where a fix question's answer starts:
  // the error output a page quotes ("If you later get a message like:" and
  // the output) before what it says to do. So code leads only when it holds
  // at least half of what the question quotes, and its section goes on in
  // prose after it.
  const std::unordered_set<std::string> quoted = quoted_terms(request.query);
  auto error_output = [&](size_t i) {
    if (quoted.empty()) return false;
    size_t held = 0;
    for (const std::string& t : quoted) held += cand_terms[i].count(t);
    if (held * 2 < quoted.size()) return false;
    for (size_t j = i + 1; j < cands.size() && cands[j].hit == cands[i].hit; ++j) {
      if (cands[j].section_path != cands[i].section_path) break;
      if (cands[j].kind != UnitKind::kCode) return true;
    }
    return false;
  };
  // Facts: the best non-redundant units, best first.
  std::vector<size_t> order(cands.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cands[a].score > cands[b].score; });
  // A unit the facts below may take: it holds something of the question,
  // is in no other system's variant than the one asked about, and is no
  // code unless the asked variant's label introduces it (or, for a fix
  // question's first fact, it is the error output the page quotes).
  auto eligible = [&](size_t i, bool first) {
    if (own_coverage[i] <= 0 || other_platform(i)) return false;
    const bool code = cands[i].kind == UnitKind::kCode || only_code_spans(cands[i].text);
    const bool asked_variant = asked_platform != Platform::kNone && cand_platform[i] == asked_platform;
    return !code || asked_variant || (ev.intent.kind == Intent::kFix && first && error_output(i));
  };
  // The best unit that says the noun a fact question asks for leads when
  // the best of all does not and it scores at least focus_lead_share of it:
  // the question's other words name the subject ("requirements.txt"), and
  // a unit about the subject can hold more of them than the one that
  // answers ("Requirements files are utf-8 encoding by default"). The
  // other facts are still measured against the best unit's score, and one
  // more may be taken, so that the lead does not push one of them out.
  int max_facts = options_.max_sentences;
  double best_score = -1;  // the best unit's, when another leads
  {
    size_t b = 0;
    while (b < order.size() && !eligible(order[b], true)) ++b;
    if (!holds_focus.empty() && b < order.size() && !holds_focus[order[b]]) {
      for (size_t k = b + 1;
           k < order.size() && cands[order[k]].score >= options_.focus_lead_share * cands[order[b]].score; ++k) {
        if (!holds_focus[order[k]] || !eligible(order[k], true)) continue;
        best_score = cands[order[b]].score;
        std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k),
                    order.begin() + static_cast<std::ptrdiff_t>(k) + 1);
        ++max_facts;
        break;
      }
    }
  }
  std::vector<size_t> chosen;
  double best_single = 0;
  // The share of the question (by weight) that unit i holds and neither
  // the lead's document (its retrieved chunks, title and path) nor the
  // units in `chosen` hold.
  auto new_coverage = [&](size_t i, const std::vector<size_t>& chosen) {
    auto lead_doc = doc_terms.find(src[cands[chosen.front()].hit].doc_id);
    double total = 0, gain = 0;
    for (const auto& [t, w] : q) {
      total += w;
      if (!cand_terms[i].count(t) || (lead_doc != doc_terms.end() && lead_doc->second.count(t))) continue;
      bool seen = false;
      for (size_t j : chosen) seen |= cand_terms[j].count(t) > 0;
      if (!seen) gain += w;
    }
    return total > 0 ? gain / total : 0.0;
  };
  for (size_t i : order) {
    if (static_cast<int>(chosen.size()) >= max_facts) break;
    const ScoredSentence& c = cands[i];
    if (!eligible(i, chosen.empty())) continue;
    const double top = best_score >= 0 ? best_score : chosen.empty() ? c.score : cands[chosen.front()].score;
    if (!chosen.empty() && c.score < 0.5 * top) break;
    // Facts from another document than the best one only when nearly as
    // good: a second source must earn its citation.
    if (!chosen.empty() && src[c.hit].doc_id != src[cands[chosen.front()].hit].doc_id) {
      if (c.score < options_.other_doc_share * top) continue;
      // ... and only when it holds question content that the lead
      // document and the facts already chosen do not: a second document
      // that repeats a question word the lead already answers ("P2", "restore")
      // is cited for nothing.
      if (new_coverage(i, chosen) < options_.other_doc_new_coverage) continue;
      // ... from a document about the question nearly as much as the lead's,
      // not a sentence that happens to share its words.
      if (doc_cov(src[c.hit].doc_id) < options_.other_doc_share * doc_cov(src[cands[chosen.front()].hit].doc_id))
        continue;
    }
    // Entries of two options are two facts however alike their words
    // ("Dump only roles, no databases or tablespaces", "Dump only global
    // objects (roles and tablespaces), no databases").
    bool redundant = false;
    for (size_t j : chosen)
      redundant |= jaccard(cand_terms[i], cand_terms[j]) > 0.6 &&
                   (cand_option[i].empty() || cand_option[j].empty() || cand_option[i] == cand_option[j]);
    if (redundant) continue;
    chosen.push_back(i);
    best_single = std::max(best_single, unit_evidence(i));
  }
  // A fix question that no fix section answered: documentation states the
  // situation, then what to do about it ("... pip will use that cached
  // wheel. The recommended approach is to install from a source
  // distribution. This usually means doing something like:" and the
  // commands). The answer reads on from the unit that matches the question
  // best, within its section.
  const bool read_on = ev.intent.kind == Intent::kFix && !chosen.empty();
  const size_t lead = chosen.empty() ? 0 : chosen.front();
  // Facts of one chunk read in text order (a rule next to its exception).
  {
    std::vector<size_t> ordered;
    for (size_t i : chosen) {
      if (std::find(ordered.begin(), ordered.end(), i) != ordered.end()) continue;
      std::vector<size_t> same;
      for (size_t j : chosen)
        if (cands[j].hit == cands[i].hit) same.push_back(j);
      std::sort(same.begin(), same.end());
      ordered.insert(ordered.end(), same.begin(), same.end());
    }
    chosen = std::move(ordered);
  }
  // A fact that introduces what follows ("Enable authentication:") comes
  // with it: the code block or list right after it in its chunk. A fact
  // that is one item of a section of a few list items and nothing else (a
  // reference entry: "--snapshot-count" with its description, then
  // "default: 100000" and "env variable: ...") comes with the items of that
  // section that are a short field and its value.
  auto is_item = [&](size_t j) { return cands[j].kind == UnitKind::kBullet || cands[j].kind == UnitKind::kNumbered; };
  auto is_field = [&](size_t j) {  // "default: 100000": a name of up to three words, a value of up to four
    const std::string& t = cands[j].text;
    const size_t colon = t.find(": ");
    if (colon == std::string::npos || colon == 0 || t.size() > 80) return false;
    const auto mid = t.begin() + static_cast<std::ptrdiff_t>(colon);
    return std::count(t.begin(), mid, ' ') <= 2 && std::count(mid + 2, t.end(), ' ') <= 3;
  };
  std::set<size_t> taken(chosen.begin(), chosen.end());
  // Adds unit j unless the answer is full or holds it already: the same
  // text, or the end of a unit of the same kind from another chunk of the
  // document (an overlapping chunk can start within a sentence).
  auto take = [&](size_t j) {
    if (static_cast<int>(ev.items.size()) >= options_.max_steps || !taken.insert(j).second) return false;
    if (other_platform(j)) return false;  // another system's variant
    for (const ScoredSentence& it : ev.items) {
      if (src[it.hit].doc_id != src[cands[j].hit].doc_id) continue;
      const bool piece = it.hit != cands[j].hit && it.kind == cands[j].kind && it.text.ends_with(cands[j].text);
      if (it.text == cands[j].text || piece) return false;
    }
    ev.items.push_back(cands[j]);
    return true;
  };
  // A fact that leans on what comes before it in its section: one that
  // opens with a pronoun ("This implements a backtracking algorithm",
  // "They are removed after 30 days") needs the sentence it points back
  // to; one that points at a list "above" needs that list; code needs the
  // sentence that introduces it.
  auto antecedents = [&](size_t i) {
    std::vector<size_t> out;
    if (i == 0) return out;
    auto before = [&](size_t j) {
      return cands[j].hit == cands[i].hit && cands[j].section_path == cands[i].section_path;
    };
    // Code comes with the sentence that introduces it ("... a message like:").
    if (cands[i].kind == UnitKind::kCode) {
      if (before(i - 1) && cands[i - 1].kind == UnitKind::kSentence && cands[i - 1].text.ends_with(':') &&
          !taken.count(i - 1)) {
        out.push_back(i - 1);
      }
      return out;
    }
    if (cands[i].kind != UnitKind::kSentence) return out;
    const std::vector<std::string> words = analyze_words(cands[i].text);
    if (words.empty()) return out;
    const std::string& first = words[0];
    const std::string second = words.size() > 1 ? words[1] : "";
    const bool dummy_it = first == "it" && (second == "is" || second == "s" || second == "was");
    if (((points_back(first) && !dummy_it) || adds_to_previous(cands[i].text)) && before(i - 1) &&
        cands[i - 1].kind == UnitKind::kSentence && !taken.count(i - 1)) {
      out.push_back(i - 1);
    } else if (points_at_list_above(words)) {
      size_t j = i;
      while (j > 0 && before(j - 1) && is_item(j - 1) && i - (j - 1) <= static_cast<size_t>(options_.max_steps)) --j;
      for (; j < i; ++j) out.push_back(j);
    }
    return out;
  };
  std::set<size_t> done;  // chosen facts already placed
  // The units after i in its section, in text order, up to
  // read_on_sentences more sentences (a chosen fact among them is placed
  // here); a ':' sentence at the end still brings its code or list.
  auto read_on_from = [&](size_t i) {
    const std::vector<size_t> section =
        section_units(src[cands[i].hit].doc_id, cands[i].section_path, unit_role(i));
    auto at = std::find_if(section.begin(), section.end(), [&](size_t j) { return cands[j].text == cands[i].text; });
    if (at == section.end()) return;
    int sentences = 0;
    for (++at; at != section.end(); ++at) {
      const size_t j = *at;
      const bool sentence = cands[j].kind == UnitKind::kSentence;
      if (sentence && sentences == options_.read_on_sentences) break;
      auto fact = std::find_if(chosen.begin(), chosen.end(), [&](size_t c) { return cands[c].text == cands[j].text; });
      bool added = false;
      if (fact == chosen.end()) {
        added = take(j);
      } else if (done.insert(*fact).second) {
        ev.items.push_back(cands[*fact]);
        added = true;
      }
      sentences += sentence && added;
    }
  };
  // A fact from a short section that the question names by its heading
  // beyond the document's title, with a tenth of its weight beyond the
  // title's (a reference
  // entry: "-m mode, --mode=mode" for "... if I don't pass -m?"): the entry's description
  // reads on from it ("Specifies the shutdown mode. ... If this option is
  // omitted, fast is the default."). Once per answer.
  bool entry_read = false;
  auto names_entry = [&](size_t i) {
    const std::vector<std::string>& path = cands[i].section_path;
    if (path.size() < 2 || is_role_label(path.back()) || cands[i].kind != UnitKind::kSentence) return false;
    if (section_units(src[cands[i].hit].doc_id, path, unit_role(i)).size() > 8) return false;
    std::unordered_set<std::string> title;
    for (auto& t : analyze(src[cands[i].hit].title)) title.insert(std::move(t));
    std::unordered_set<std::string> named;
    for (std::string& t : analyze(path.back()))
      if (q.count(t) && !title.count(t)) named.insert(std::move(t));
    double weight = 0, total = 0;  // of the question beyond what the title names
    for (const auto& [t, w] : q) {
      if (title.count(t)) continue;
      total += w;
      if (named.count(t)) weight += w;
    }
    return total > 0 && weight >= 0.1 * total;
  };
  for (const size_t i : chosen) {
    if (!done.insert(i).second) continue;
    std::vector<size_t> entry;
    if (is_item(i)) {
      for (size_t j = 0; j < cands.size(); ++j)
        if (cands[j].hit == cands[i].hit && cands[j].section_path == cands[i].section_path) entry.push_back(j);
      const bool reference = entry.size() <= 4 && std::all_of(entry.begin(), entry.end(), is_item);
      if (!reference) entry.clear();
    }
    if (entry.empty()) {
      const size_t start = ev.items.size();
      for (size_t j : antecedents(i)) take(j);
      ev.items.push_back(cands[i]);
      if (read_on && i == lead) {
        read_on_from(i);
        continue;
      }
      if (!read_on && !entry_read && names_entry(i)) {
        // The entry the question names leads the answer, with what of it
        // is placed already (code its label introduced).
        entry_read = true;
        read_on_from(i);
        size_t from = start;
        while (from > 0 && ev.items[from - 1].hit == cands[i].hit && ev.items[from - 1].section_path == cands[i].section_path)
          --from;
        std::rotate(ev.items.begin(), ev.items.begin() + static_cast<std::ptrdiff_t>(from), ev.items.end());
        continue;
      }
      if (!cands[i].text.ends_with(':')) continue;
      for (size_t j = i + 1; j < cands.size() && cands[j].hit == cands[i].hit; ++j) {
        if (cands[j].kind == UnitKind::kSentence || cands[j].kind == UnitKind::kTableRow || taken.count(j)) break;
        if (cands[j].section_path != cands[i].section_path) break;
        take(j);
      }
    } else {
      for (size_t j : entry) {
        if (j == i || std::find(chosen.begin(), chosen.end(), j) != chosen.end()) {
          if (j == i || done.insert(j).second) ev.items.push_back(cands[j]);
        } else if (is_field(j)) {
          take(j);
        }
      }
    }
  }
  // A question that asks for a number or for a default, whose best fact's
  // section gives none among the facts taken from it: one of the six
  // sentences or list items after that fact, or of the three before it,
  // often does ("… depends on having enough memory. … Typically 8GB is
  // enough."; "- Use Python 3.10 or newer." before "- Install the
  // truststore package ..."; a setting's description, then "The default is
  // trust."). A number from another section (return codes quoted
  // elsewhere) does not answer "how long does it wait", and of the
  // sentences with a number, one that states a default ("Setting to 0
  // disables. The default is 3 seconds.") is the value the unqualified
  // question means. A section with none hands over to the next chosen
  // fact's.
  std::vector<size_t> lead_first = chosen;
  std::stable_sort(lead_first.begin(), lead_first.end(), [&](size_t x, size_t y) { return x == lead && y != lead; });
  const auto same_section = [&](size_t i, size_t j) {
    return cands[j].hit == cands[i].hit && cands[j].section_path == cands[i].section_path &&
           (cands[j].kind == UnitKind::kSentence || is_item(j));
  };
  const auto states_value = [&](const std::string& t) { return has_digit(t) && states_default(t); };
  for (size_t i : (ev.intent.asks_quantity || ev.intent.asks_default) ? lead_first : std::vector<size_t>{}) {
    bool given = false, value_given = false;
    for (const ScoredSentence& c : ev.items) {
      if (c.hit != cands[i].hit || c.section_path != cands[i].section_path) continue;
      given |= gives_asked(c.text);
      value_given |= states_value(c.text);
    }
    // A number given ("Setting the wait to 0 waits forever.") still lets
    // the default's value next to it in.
    if (given && (ev.intent.asks_default || value_given)) break;
    // After the fact first, then before it; a default's value either side
    // first of all.
    std::vector<size_t> near;
    for (size_t j = i + 1; j <= i + 6 && j < cands.size() && same_section(i, j); ++j) near.push_back(j);
    for (size_t j = i; j > 0 && i - j < 3 && same_section(i, j - 1); --j) near.push_back(j - 1);
    size_t pick = cands.size();
    for (size_t j : near)
      if (gives_asked(cands[j].text) && states_value(cands[j].text)) {
        pick = j;
        break;
      }
    for (size_t j : near)
      if (pick == cands.size() && !given && gives_asked(cands[j].text)) pick = j;
    if (pick == cands.size()) {
      if (given) break;
      continue;
    }
    const bool repeated = std::any_of(ev.items.begin(), ev.items.end(),
                                      [&](const ScoredSentence& c) { return c.text == cands[pick].text; });
    if (!repeated && !other_platform(pick) && static_cast<int>(ev.items.size()) < options_.max_steps &&
        taken.insert(pick).second) {
      // In text order among the section's facts taken: after the last one
      // before it in the section, else before the first.
      size_t at = ev.items.size();
      for (size_t k = 0; k < ev.items.size(); ++k) {
        const ScoredSentence& c = ev.items[k];
        if (c.hit != cands[i].hit || c.section_path != cands[i].section_path) continue;
        size_t u = 0;
        while (u < cands.size() && !(same_section(i, u) && cands[u].text == c.text)) ++u;
        if (u < pick) at = k + 1;
        else if (at == ev.items.size()) at = k;
      }
      ev.items.insert(ev.items.begin() + static_cast<std::ptrdiff_t>(at), cands[pick]);
    }
    break;
  }
  ev.unit_coverage = best_single;
  ev.doc_coverage = chosen.empty() ? 0.0 : doc_cov(src[cands[chosen.front()].hit].doc_id);
  // Evidence: how much of the question (by rarity) one chosen unit covers
  // together with its document's title and section path. One unit, not the
  // union: words scattered over unrelated sentences are what out-of-domain
  // questions that share vocabulary with the KB produce.
  for (const auto& it : ev.items) ev.cosine = std::max(ev.cosine, it.cosine);
  ev.situated = situated;
  ev.confidence = refusal_score(ev, options_.doc_weight, options_.situation_doc_weight, cosine_weight());
  return ev;
}

double refusal_score(const Evidence& ev, double doc_weight, double situation_doc_weight, double w_cosine) {
  if (ev.items.empty()) return 0.0;
  double evidence = ev.unit_coverage;
  if (ev.intent_specific) {
    evidence = std::max(evidence, (ev.situated ? std::max(doc_weight, situation_doc_weight) : doc_weight) * ev.doc_coverage);
  } else if (ev.situated) {
    evidence = std::max(evidence, situation_doc_weight * ev.doc_coverage);
  }
  const double w = w_cosine * ev.embedded_share;
  return std::min(1.0, (evidence + w * std::max(0.0, ev.cosine)) / (1.0 + w));
}

std::vector<Hit> evidence_first(const Evidence& ev, const std::vector<Hit>& hits) {
  std::vector<Hit> out;
  std::map<size_t, size_t> slot;  // evidence source -> index in out
  std::map<size_t, std::string> last_label;  // index in out -> the option heading said last
  int number = 0;
  for (const auto& c : ev.items) {
    auto it = slot.find(c.hit);
    if (it == slot.end()) {
      Hit h = ev.sources[c.hit];
      h.text.clear();
      it = slot.emplace(c.hit, out.size()).first;
      out.push_back(std::move(h));
    }
    std::string& t = out[it->second].text;
    if (!t.empty()) t += '\n';
    if (c.kind == UnitKind::kNumbered) t += std::to_string(++number) + ". ";
    else if (c.kind == UnitKind::kBullet || c.kind == UnitKind::kTableRow) t += "- ";
    // The option an entry is about, which the passage's own heading may not
    // be (a chunk can hold several short entries): compose_answer's label.
    const std::string label = option_heading(c);
    std::string& last = last_label[it->second];
    if (!label.empty() && c.kind != UnitKind::kCode && label != last) {
      t += label + ": ";
      last = label;
    }
    t += c.text;
  }
  std::set<std::string> used;
  for (const auto& h : out) used.insert(h.chunk_id);
  for (const auto& h : hits)
    if (!used.count(h.chunk_id)) out.push_back(h);
  return out;
}

void compose_answer(const Evidence& ev, Answer& ans) {
  // Citations: one per chunk used, numbered in order of first use.
  std::map<size_t, int> cite_of;
  // `quote`: the unit's text, after its option heading when the answer
  // names it (labelled below), so that the quote holds what the answer says.
  auto cite = [&](const ScoredSentence& c, const std::string& quote) {
    auto it = cite_of.find(c.hit);
    if (it != cite_of.end()) {
      Citation& cit = ans.citations[static_cast<size_t>(it->second - 1)];
      if (cit.quote.size() < 600) cit.quote += (cit.quote.empty() ? "" : " ") + quote;
      return it->second;
    }
    const Hit& hit = ev.sources[c.hit];
    Citation cit;
    cit.n = static_cast<int>(ans.citations.size()) + 1;
    cit.doc_id = hit.doc_id;
    cit.chunk_id = hit.chunk_id;
    cit.title = hit.title;
    cit.url = hit.url;
    cit.quote = quote;
    ans.citations.push_back(std::move(cit));
    cite_of[c.hit] = ans.citations.back().n;
    return ans.citations.back().n;
  };
  const Hit& first = ev.sources[ev.items.front().hit];
  const bool ticket = first.kind == "ticket";
  const std::string name = ticket ? first.doc_id : "“" + clean_title(first) + "”";
  std::string lead;
  // Code is a block of its own even when it is the whole answer: its lines
  // and their indentation are what it says.
  const bool list =
      ev.role == SectionRole::kResolution || ev.items.size() > 1 || ev.items.front().kind == UnitKind::kCode;
  // The option heading the lead names, if any (labelled below).
  std::string lead_option;
  if (!ev.named_id.empty()) {
    if (ev.role == SectionRole::kResolution) lead = ev.named_id + " was resolved as follows";
    else if (ev.role == SectionRole::kCause) lead = "The cause recorded in " + ev.named_id;
    else lead = ev.named_id + " (" + clean_title(first) + ")";
  } else if (ev.role == SectionRole::kResolution) {
    const std::string section =
        ev.section_title.empty() ? "" : " (" + clean_inline_markdown(ev.section_title) + ")";
    lead_option = option_label(ev.section_title);
    lead = ticket ? "The resolution recorded in " + name
                  : (ev.task ? "The steps from " : "The fix from ") + name + section;
  } else if (ev.role == SectionRole::kCause) {
    lead = "The cause, according to " + name;
  } else {
    // The section the first fact is in, when it is not the document's own
    // heading: a reference entry's term ("port (integer)", "--no-owner")
    // is often what the fact is about and not in its text.
    const std::vector<std::string>& path = ev.items.front().section_path;
    const std::string section = path.size() < 2 || ticket ? "" : clean_inline_markdown(path.back());
    lead = "According to " + name + (section.empty() || is_role_label(section) ? "" : " (" + section + ")");
    if (!section.empty()) lead_option = option_heading(ev.items.front());
  }
  // An option's entry says what it does, its heading which option it is
  // ("-g, --globals-only"): the heading goes before the entry's first
  // sentence or item, unless the lead names it. labelled[i] is what the
  // answer says for item i, quoted[i] what its citation quotes.
  std::vector<std::string> labelled, quoted;
  {
    std::string current = lead_option;
    for (const ScoredSentence& c : ev.items) {
      const std::string label = option_heading(c);
      if (label.empty() || c.kind == UnitKind::kCode || label == current) {
        labelled.push_back(c.text);
        quoted.push_back(c.text);
        continue;
      }
      labelled.push_back("`" + label + "`: " + c.text);
      quoted.push_back(label + ": " + c.text);
      current = label;
    }
  }
  std::string text;
  if (!list) {
    const ScoredSentence& c = ev.items.front();
    text = lead + ": " + with_citation(labelled.front(), cite(c, quoted.front()));
    ans.text = std::move(text);
    return;
  }
  text = lead + ":\n";
  int number = 0;
  bool numbered = false;
  if (ev.role == SectionRole::kResolution)
    for (const auto& c : ev.items) numbered |= c.kind == UnitKind::kNumbered;
  for (size_t k = 0; k < ev.items.size(); ++k) {
    const ScoredSentence& c = ev.items[k];
    const int n = cite(c, quoted[k]);
    const std::string& said = labelled[k];
    switch (c.kind) {
      case UnitKind::kNumbered:
        if (numbered) text += "\n" + std::to_string(++number) + ". " + with_citation(said, n);
        else text += "\n- " + with_citation(said, n);
        break;
      case UnitKind::kBullet:
        text += numbered && number > 0 ? "\n   - " + with_citation(said, n) : "\n- " + with_citation(said, n);
        break;
      case UnitKind::kCode: {
        const std::string indent = numbered && number > 0 ? "   " : "";
        const std::string fence = fence_for(c.text);  // longer than a fence line the code holds
        text += (text.ends_with(":\n") ? "\n" : "\n\n") + indent + fence + "\n";  // one blank line after the lead
        size_t pos = 0;
        while (pos <= c.text.size()) {
          size_t nl = c.text.find('\n', pos);
          if (nl == std::string::npos) nl = c.text.size();
          text += indent + c.text.substr(pos, nl - pos) + "\n";
          pos = nl + 1;
        }
        text += indent + fence + "\n";
        break;
      }
      case UnitKind::kSentence:
      case UnitKind::kTableRow:
        text += (numbered && number > 0 ? "\n   - " : "\n- ") + with_citation(said, n);
        break;
    }
  }
  ans.text = std::move(text);
}

}  // namespace ragd
