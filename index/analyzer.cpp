// Lexical analysis: case folding (utf8proc), a Unicode word split that keeps
// identifiers together, stop words and Snowball English stems (libstemmer).
#include "index/analyzer.h"

#include <libstemmer.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>

namespace ragd {
namespace {

// Longer tokens are dropped (their parts are still indexed): they are noise
// such as base64 blobs, and they keep RocksDB keys short.
constexpr size_t kMaxTokenBytes = 64;

// Lucene's English stop set: small on purpose, so "not" in a runbook title
// is the only kind of loss.
constexpr std::array<std::string_view, 33> kStopWords = {
    "a",    "an",   "and",  "are",   "as",    "at",   "be",    "but",   "by",
    "for",  "if",   "in",   "into",  "is",    "it",   "no",    "not",   "of",
    "on",   "or",   "such", "that",  "the",   "their", "then", "there", "these",
    "they", "this", "to",   "was",   "will",  "with"};

bool is_stop_word(std::string_view w) {
  return std::find(kStopWords.begin(), kStopWords.end(), w) != kStopWords.end();
}

// sb_stemmer is not thread-safe: one per thread.
struct Stemmer {
  sb_stemmer* s = sb_stemmer_new("english", "UTF_8");
  ~Stemmer() {
    if (s) sb_stemmer_delete(s);
  }
  std::string stem(std::string_view w) {
    if (!s) return std::string(w);
    const sb_symbol* out = sb_stemmer_stem(s, reinterpret_cast<const sb_symbol*>(w.data()),
                                           static_cast<int>(w.size()));
    if (!out) return std::string(w);
    return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(sb_stemmer_length(s)));
  }
};

Stemmer& thread_stemmer() {
  thread_local Stemmer stemmer;
  return stemmer;
}

// Case-folded, NFC text. Invalid UTF-8 bytes become spaces.
std::string fold(std::string_view text) {
  bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; });
  if (!ascii) {
    utf8proc_uint8_t* out = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                      static_cast<utf8proc_ssize_t>(text.size()), &out,
                                      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                                                     UTF8PROC_CASEFOLD));
    if (n >= 0) {
      std::string s(reinterpret_cast<char*>(out), static_cast<size_t>(n));
      std::free(out);
      return s;
    }
    std::free(out);
  }
  std::string s(text);
  for (char& c : s) {
    if (c & 0x80) {
      c = ' ';
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

enum class CharClass { kWord, kJoiner, kApostrophe, kSeparator };

CharClass classify(int32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z')) {
      return CharClass::kWord;
    }
    switch (cp) {
      case '-': case '_': case '.': case '/': case '\\': case ':': case '@':
        return CharClass::kJoiner;
      case '\'':
        return CharClass::kApostrophe;
      default:
        return CharClass::kSeparator;
    }
  }
  if (cp == 0x2019) return CharClass::kApostrophe;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return CharClass::kWord;
    default:
      return CharClass::kSeparator;
  }
}

bool is_joiner(char c) {
  return c == '-' || c == '_' || c == '.' || c == '/' || c == '\\' || c == ':' || c == '@';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
// ASCII letters and every non-ASCII byte (Unicode letters) count as letters.
bool is_letter(char c) { return !is_digit(c) && !is_joiner(c); }

class Analysis {
 public:
  explicit Analysis(bool normalise) : normalise_(normalise) {}

  // One span: word characters and joiners, trimmed of joiners at both ends.
  void span(std::string_view s) {
    bool compound = std::any_of(s.begin(), s.end(), is_joiner);
    if (!compound) {
      word(s);
      return;
    }
    if (s.size() <= kMaxTokenBytes) out_.emplace_back(s);  // the identifier, whole
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (i == s.size() || is_joiner(s[i])) {
        if (i > start) word(s.substr(start, i - start));
        start = i + 1;
      }
    }
  }

  std::vector<std::string> take() { return std::move(out_); }

 private:
  // A run of word characters: a plain word, a number, or a mixed identifier
  // such as inc0012345, system32 or 0x80070005.
  void word(std::string_view w) {
    if (w.empty() || w.size() > kMaxTokenBytes) return;
    bool digits = std::any_of(w.begin(), w.end(), is_digit);
    bool letters = std::any_of(w.begin(), w.end(), is_letter);
    if (!letters) {
      out_.emplace_back(w);
      return;
    }
    if (!digits) {
      plain(w);
      return;
    }
    out_.emplace_back(w);  // whole, never stemmed
    if (w.size() > 2 && w[0] == '0' && w[1] == 'x' && std::all_of(w.begin() + 2, w.end(), is_hex)) {
      out_.emplace_back(w.substr(2));
      return;
    }
    size_t start = 0;
    for (size_t i = 1; i <= w.size(); ++i) {
      if (i == w.size() || is_digit(w[i]) != is_digit(w[i - 1])) {
        std::string_view run = w.substr(start, i - start);
        if (is_digit(run[0])) {
          out_.emplace_back(run);
        } else {
          plain(run);
        }
        start = i;
      }
    }
  }

  void plain(std::string_view w) {
    if (!normalise_) {
      out_.emplace_back(w);
      return;
    }
    if (is_stop_word(w)) return;
    out_.push_back(thread_stemmer().stem(w));
  }

  bool normalise_;
  std::vector<std::string> out_;
};

std::vector<std::string> run(std::string_view text, bool normalise) {
  const std::string folded = fold(text);
  Analysis analysis(normalise);
  std::string cur;  // the current span, apostrophes dropped
  auto flush = [&] {
    size_t b = 0, e = cur.size();
    while (b < e && is_joiner(cur[b])) ++b;
    while (e > b && is_joiner(cur[e - 1])) --e;
    if (e > b) analysis.span(std::string_view(cur).substr(b, e - b));
    cur.clear();
  };
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(folded.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(folded.size());
  while (left > 0) {
    int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {  // invalid byte: a separator
      flush();
      ++p;
      --left;
      continue;
    }
    switch (classify(cp)) {
      case CharClass::kWord:
      case CharClass::kJoiner:
        cur.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
        break;
      case CharClass::kApostrophe:
        break;  // don't -> dont, user's -> users
      case CharClass::kSeparator:
        flush();
        break;
    }
    p += n;
    left -= n;
  }
  flush();
  return analysis.take();
}

}  // namespace

std::vector<std::string> analyze(std::string_view text) { return run(text, true); }

std::vector<std::string> analyze_words(std::string_view text) { return run(text, false); }

}  // namespace ragd
