// Lexical analysis: case folding (utf8proc), a Unicode word split that keeps
// identifiers together, stop words and Snowball English stems (libstemmer).
#include "index/analyzer.h"

#include <libstemmer.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <unordered_map>

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

// sb_stemmer is not thread-safe: one per thread. Words repeat so much that
// remembering each word's outcome (its stem, or that it is a stop word) saves
// most of the Snowball work; the memo is emptied when it grows past
// kStemMemoWords, so it stays a few MB per thread.
constexpr size_t kStemMemoWords = 1 << 16;

class Stemmer {
 public:
  Stemmer() : s_(sb_stemmer_new("english", "UTF_8")) {}
  ~Stemmer() {
    if (s_) sb_stemmer_delete(s_);
  }
  Stemmer(const Stemmer&) = delete;
  Stemmer& operator=(const Stemmer&) = delete;

  // The stem of `w`, or null when it is a stop word. The pointer is valid
  // until the next call.
  const std::string* stem_or_stop(std::string_view w) {
    auto it = memo_.find(w);
    if (it != memo_.end()) return it->second.stop ? nullptr : &it->second.stem;
    if (memo_.size() >= kStemMemoWords) memo_.clear();
    Entry e;
    e.stop = is_stop_word(w);
    if (!e.stop) e.stem = stem(w);
    it = memo_.emplace(std::string(w), std::move(e)).first;
    return it->second.stop ? nullptr : &it->second.stem;
  }

 private:
  struct Entry {
    std::string stem;
    bool stop = false;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  std::string stem(std::string_view w) {
    if (!s_) return std::string(w);
    const sb_symbol* out = sb_stemmer_stem(s_, reinterpret_cast<const sb_symbol*>(w.data()),
                                           static_cast<int>(w.size()));
    if (!out) return std::string(w);
    return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(sb_stemmer_length(s_)));
  }

  sb_stemmer* s_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> memo_;
};

Stemmer& thread_stemmer() {
  thread_local Stemmer stemmer;
  return stemmer;
}

void append_ascii_folded(std::string_view text, std::string& out) {
  for (char c : text) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
}

// Case-folded, NFC text of a piece that holds non-ASCII bytes. Invalid UTF-8
// bytes become spaces (and the piece's ASCII is still folded).
void append_unicode_folded(std::string_view text, std::string& out) {
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                                                   UTF8PROC_CASEFOLD));
  if (n >= 0) {
    out.append(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
    std::free(mapped);
    return;
  }
  std::free(mapped);
  for (char c : text) {
    if (c & 0x80) {
      out.push_back(' ');
    } else {
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
  }
}

// Case-folded, NFC text. Only the stretches around non-ASCII bytes go
// through utf8proc: case folding is per character, and NFC composition only
// joins a starter with the marks that follow it, never across two adjacent
// ASCII characters, so the text can be cut between any two ASCII bytes.
std::string fold(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const size_t n = text.size();
  auto ascii = [&](size_t i) { return (static_cast<unsigned char>(text[i]) & 0x80) == 0; };
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && ascii(j)) ++j;
    if (j == n) {
      append_ascii_folded(text.substr(i), out);
      break;
    }
    // The ASCII character before a non-ASCII byte may take a combining mark.
    const size_t begin = j > i ? j - 1 : j;
    append_ascii_folded(text.substr(i, begin - i), out);
    size_t end = j;
    while (end < n && !(ascii(end) && (end + 1 == n || ascii(end + 1)))) ++end;
    if (end < n) ++end;  // the ASCII byte followed by ASCII closes the stretch
    append_unicode_folded(text.substr(begin, end - begin), out);
    i = end;
  }
  return out;
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
    if (const std::string* stem = thread_stemmer().stem_or_stop(w)) out_.push_back(*stem);
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
    int32_t cp = *p;
    utf8proc_ssize_t n = cp < 0x80 ? 1 : utf8proc_iterate(p, left, &cp);
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
