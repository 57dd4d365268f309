// Hand-written pre-tokenizer splitters. Each matcher answers "how long is the
// match that starts here" with the priorities of an ECMAScript alternation;
// split_by() then walks every piece the way std::regex_iterator does (leftmost
// match, text between matches kept as its own piece). GPT-2 and Llama-3 have
// direct scanners, like llama.cpp's own fast paths, whose piece boundaries
// are what the reference ids were made with.
#include "model/unicode_split.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "model/unicode.h"

namespace ragd {

namespace {

using unicode::CptFlags;

struct Text {
  std::vector<uint32_t> cpts;
  std::vector<CptFlags> flags;
};

using Pieces = std::vector<size_t>;  // lengths in code points, in order

// --- character classes ------------------------------------------------------

bool ws(const Text& t, size_t i) { return t.flags[i].is_whitespace; }

// \p{L}, \p{N}, \p{P} as llama.cpp evaluates them for std::regex: ASCII by a
// fixed table, anything else by its category (non-ASCII whitespace is only \s).
bool cls_letter(const Text& t, size_t i) {
  uint32_t c = t.cpts[i];
  if (c < 128) return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  return !t.flags[i].is_whitespace && t.flags[i].is_letter;
}
bool cls_number(const Text& t, size_t i) {
  uint32_t c = t.cpts[i];
  if (c < 128) return c >= '0' && c <= '9';
  return !t.flags[i].is_whitespace && t.flags[i].is_number;
}
bool ascii_punct(uint32_t c) {  // ASCII \p{P}: !"#%&'()*,-./:;?@[\]_{}
  switch (c) {
    case '!': case '"': case '#': case '%': case '&': case '\'': case '(': case ')': case '*':
    case ',': case '-': case '.': case '/': case ':': case ';': case '?': case '@': case '[':
    case '\\': case ']': case '_': case '{': case '}':
      return true;
    default:
      return false;
  }
}
bool cls_punct(const Text& t, size_t i) {
  uint32_t c = t.cpts[i];
  if (c < 128) return ascii_punct(c);
  return !t.flags[i].is_whitespace && t.flags[i].is_punctuation;
}

struct Range {
  uint32_t lo, hi;
};

template <size_t N>
bool in_ranges(const std::array<Range, N>& r, uint32_t c) {
  for (const Range& x : r) {
    if (c >= x.lo && c <= x.hi) return true;
  }
  return false;
}

// The letter class of DeepSeek-LLM's pre-tokenizer (its tokenizer.json).
constexpr std::array<Range, 87> kDeepseekLetters = {{
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
    {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x376}, {0x377, 0x377}, {0x37B, 0x37D},
    {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5},
    {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A},
    {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57},
    {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4},
    {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
    {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
    {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139},
    {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2183}, {0x2184, 0x2184},
    {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF2}, {0x2CF3, 0x2CF3},
    {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E},
    {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A},
    {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2},
    {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
}};
constexpr std::array<Range, 6> kDeepseekPunct = {{
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
}};
constexpr std::array<Range, 3> kCjk = {{{0x4E00, 0x9FA5}, {0x800, 0x4E00}, {0xAC00, 0xD7FF}}};

// Classes written with literal code points: non-ASCII whitespace never matches
// (llama.cpp replaces it by U+000B before matching).
template <size_t N>
bool cls_literal(const Text& t, size_t i, const std::array<Range, N>& r) {
  uint32_t c = t.cpts[i];
  if (c > 0x7F && t.flags[i].is_whitespace) return false;
  return in_ranges(r, c);
}

// --- the generic regex walk ---------------------------------------------------

template <class Match>
void split_by(const Text& t, Pieces& pieces, Match match) {
  Pieces out;
  out.reserve(pieces.size() * 2);
  size_t start = 0;
  for (size_t len : pieces) {
    const size_t end = start + len;
    size_t pending = start;
    size_t pos = start;
    while (pos < end) {
      size_t m = match(t, pos, end);
      if (m == 0) {
        ++pos;
        continue;
      }
      if (pos > pending) out.push_back(pos - pending);
      out.push_back(m);
      pos += m;
      pending = pos;
    }
    if (end > pending) out.push_back(end - pending);
    start = end;
  }
  pieces = std::move(out);
}

template <class Pred>
size_t run(const Text& t, size_t pos, size_t end, Pred pred) {
  size_t p = pos;
  while (p < end && pred(t, p)) ++p;
  return p - pos;
}

// \s?X+ : optional whitespace, then at least one X.
template <class Pred>
size_t ws_opt_run(const Text& t, size_t pos, size_t end, Pred pred) {
  if (ws(t, pos) && pos + 1 < end && pred(t, pos + 1)) return 1 + run(t, pos + 1, end, pred);
  return run(t, pos, end, pred);
}

size_t m_newline(const Text& t, size_t pos, size_t) { return (t.cpts[pos] == '\r' || t.cpts[pos] == '\n') ? 1 : 0; }
size_t m_number(const Text& t, size_t pos, size_t) { return cls_number(t, pos) ? 1 : 0; }
size_t m_numbers(const Text& t, size_t pos, size_t end) { return run(t, pos, end, cls_number); }
size_t m_three_digits(const Text& t, size_t pos, size_t end) {
  if (pos + 3 > end) return 0;
  for (size_t i = pos; i < pos + 3; ++i) {
    if (t.cpts[i] < '0' || t.cpts[i] > '9') return 0;
  }
  return 3;
}
// [\p{P}\$\+<=>\^~\|`]+ (falcon) and the same without the backtick (default).
size_t m_punct_falcon(const Text& t, size_t pos, size_t end) {
  return run(t, pos, end, [](const Text& tt, size_t i) {
    uint32_t c = tt.cpts[i];
    return c < 128 ? (ascii_punct(c) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
                      c == '~' || c == '|' || c == '`')
                   : cls_punct(tt, i);
  });
}
size_t m_punct_default(const Text& t, size_t pos, size_t end) {
  return run(t, pos, end, [](const Text& tt, size_t i) {
    uint32_t c = tt.cpts[i];
    return c < 128 ? (ascii_punct(c) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
                      c == '~' || c == '|')
                   : cls_punct(tt, i);
  });
}
size_t m_ws_letters(const Text& t, size_t pos, size_t end) { return ws_opt_run(t, pos, end, cls_letter); }
size_t m_ws_punct(const Text& t, size_t pos, size_t end) { return ws_opt_run(t, pos, end, cls_punct); }
size_t m_cjk(const Text& t, size_t pos, size_t end) {
  return run(t, pos, end, [](const Text& tt, size_t i) { return cls_literal(tt, i, kCjk); });
}
size_t m_ds_letters(const Text& t, size_t pos, size_t end) {
  return ws_opt_run(t, pos, end, [](const Text& tt, size_t i) { return cls_literal(tt, i, kDeepseekLetters); });
}
size_t m_ds_punct(const Text& t, size_t pos, size_t end) {
  return ws_opt_run(t, pos, end, [](const Text& tt, size_t i) { return cls_literal(tt, i, kDeepseekPunct); });
}
// \s+$ : whitespace that runs to the end of the piece.
size_t m_trailing_ws(const Text& t, size_t pos, size_t end) {
  size_t n = run(t, pos, end, [](const Text& tt, size_t i) { return ws(tt, i); });
  return (n > 0 && pos + n == end) ? n : 0;
}

// --- GPT-2 and Llama-3 scanners -------------------------------------------------

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S), with
// case-insensitive contractions and `digits` numbers per piece for Llama-3
// style ((?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+).
class Scanner {
 public:
  Scanner(const Text& t, size_t ini, size_t end, Pieces& out) : t_(t), ini_(ini), end_(end), out_(out), prev_(ini) {}

  void gpt2() {
    for (size_t pos = ini_; pos < end_;) {
      const uint32_t c = t_.cpts[pos];
      if (size_t n = contraction(pos, false)) {
        pos = emit(pos + n);
        continue;
      }
      const size_t q = (c == ' ') ? pos + 1 : pos;  // where the class run would start
      if (letter(q)) {
        pos = q;
        while (letter(pos)) ++pos;
        emit(pos);
        continue;
      }
      if (number(q)) {
        pos = q;
        while (number(pos)) ++pos;
        emit(pos);
        continue;
      }
      if (other(q)) {
        pos = q;
        while (other(pos)) ++pos;
        emit(pos);
        continue;
      }
      pos = whitespace(pos, false);
    }
  }

  void llama3(size_t max_digits) {
    for (size_t pos = ini_; pos < end_;) {
      const uint32_t c = t_.cpts[pos];
      if (size_t n = contraction(pos, true)) {
        pos = emit(pos + n);
        continue;
      }
      if (!(c == '\r' || c == '\n' || number(pos)) && (letter(pos) || letter(pos + 1))) {
        ++pos;
        while (letter(pos)) ++pos;
        emit(pos);
        continue;
      }
      if (number(pos)) {
        size_t ini = pos;
        while (number(pos)) {
          if (++pos - ini >= max_digits) {
            emit(pos);
            ini = pos;
          }
        }
        emit(pos);
        continue;
      }
      const size_t q = (c == ' ') ? pos + 1 : pos;
      if (q >= end_ || other(q)) {
        pos = q;
        while (other(pos)) ++pos;
        while (pos < end_ && (t_.cpts[pos] == '\r' || t_.cpts[pos] == '\n')) ++pos;
        emit(pos);
        continue;
      }
      pos = whitespace(pos, true);
    }
  }

 private:
  bool in(size_t p) const { return p >= ini_ && p < end_; }
  bool letter(size_t p) const { return in(p) && t_.flags[p].is_letter; }
  bool number(size_t p) const { return in(p) && t_.flags[p].is_number; }
  bool other(size_t p) const {
    return in(p) && !(t_.flags[p].is_whitespace || t_.flags[p].is_letter || t_.flags[p].is_number);
  }
  uint32_t lower_at(size_t p, bool fold) const {
    if (!in(p)) return 0xFFFFFFFF;
    return fold ? unicode::to_lower(t_.cpts[p]) : t_.cpts[p];
  }

  size_t contraction(size_t pos, bool fold) const {
    if (t_.cpts[pos] != '\'' || pos + 1 >= end_) return 0;
    const uint32_t a = lower_at(pos + 1, fold);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 < end_) {
      const uint32_t b = lower_at(pos + 2, fold);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    return 0;
  }

  // \s*[\r\n]+ (Llama-3 only), \s+(?!\S), \s+, or a single unmatched code point.
  size_t whitespace(size_t pos, bool newline_rule) {
    size_t n = 0;
    size_t last_nl = 0;
    while (in(pos + n) && t_.flags[pos + n].is_whitespace) {
      const uint32_t c = t_.cpts[pos + n];
      if (c == '\r' || c == '\n') last_nl = pos + n + 1;
      ++n;
    }
    if (newline_rule && last_nl > 0) return emit(last_nl);
    if (n > 1 && in(pos + n)) return emit(pos + n - 1);
    if (n > 0) return emit(pos + n);
    return emit(pos + 1);
  }

  size_t emit(size_t end) {
    if (end > prev_) out_.push_back(end - prev_);
    prev_ = end;
    return end;
  }

  const Text& t_;
  size_t ini_, end_;
  Pieces& out_;
  size_t prev_;
};

void split_gpt2(const Text& t, Pieces& pieces) {
  Pieces out;
  size_t start = 0;
  for (size_t len : pieces) {
    Scanner(t, start, start + len, out).gpt2();
    start += len;
  }
  pieces = std::move(out);
}

void split_llama3(const Text& t, Pieces& pieces, size_t max_digits) {
  Pieces out;
  size_t start = 0;
  for (size_t len : pieces) {
    Scanner(t, start, start + len, out).llama3(max_digits);
    start += len;
  }
  pieces = std::move(out);
}

}  // namespace

std::vector<std::string> pre_tokenize(std::string_view text, PreTokenizer pre) {
  Text t;
  t.cpts = unicode::utf8_to_cpts(text);
  t.flags.reserve(t.cpts.size());
  for (uint32_t c : t.cpts) t.flags.push_back(unicode::cpt_flags(c));

  Pieces pieces;
  if (!t.cpts.empty()) pieces.push_back(t.cpts.size());

  switch (pre) {
    case PreTokenizer::kDefault:
      split_by(t, pieces, m_punct_default);
      split_gpt2(t, pieces);
      split_by(t, pieces, m_numbers);
      split_by(t, pieces, m_three_digits);
      break;
    case PreTokenizer::kGpt2:
      split_gpt2(t, pieces);
      break;
    case PreTokenizer::kLlama3:
      split_llama3(t, pieces, 3);
      break;
    case PreTokenizer::kQwen2:
      split_llama3(t, pieces, 1);
      break;
    case PreTokenizer::kDeepseekLlm:
      split_by(t, pieces, m_newline);
      split_by(t, pieces, m_ds_letters);
      split_by(t, pieces, m_ds_punct);
      split_by(t, pieces, m_trailing_ws);
      split_by(t, pieces, m_cjk);
      split_by(t, pieces, m_numbers);
      break;
    case PreTokenizer::kDeepseekCoder:
      split_by(t, pieces, m_newline);
      split_by(t, pieces, m_ws_letters);
      split_by(t, pieces, m_ws_punct);
      split_by(t, pieces, m_cjk);
      split_by(t, pieces, m_number);
      break;
    case PreTokenizer::kFalcon:
      split_by(t, pieces, m_punct_falcon);
      split_gpt2(t, pieces);
      split_by(t, pieces, m_three_digits);
      break;
    case PreTokenizer::kStarcoder:
      split_by(t, pieces, m_number);
      split_gpt2(t, pieces);
      break;
  }

  std::vector<std::string> words;
  words.reserve(pieces.size());
  size_t start = 0;
  for (size_t len : pieces) {
    std::string w;
    for (size_t i = start; i < start + len; ++i) unicode::append_utf8(w, t.cpts[i]);
    words.push_back(std::move(w));
    start += len;
  }
  return words;
}

}  // namespace ragd
