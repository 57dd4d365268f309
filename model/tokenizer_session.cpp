#include <algorithm>
#include <queue>
#include <string>

#include "model/tokenizer_session.h"
#include "model/unicode.h"
#include "model/unicode_split.h"

namespace ragd {

namespace {

// A piece of the text being merged; symbols form a linked list.
struct Symbol {
  int prev;
  int next;
  size_t off;  // into the text
  size_t n;    // bytes; 0 once merged into its left neighbour
};

// Splits into UTF-8 characters judged by lead byte (stray bytes stand alone).
std::vector<Symbol> split_chars(std::string_view text) {
  std::vector<Symbol> syms;
  size_t off = 0;
  int index = 0;
  while (off < text.size()) {
    size_t len = std::min(unicode::utf8_len(text[off]), text.size() - off);
    syms.push_back({index - 1, off + len == text.size() ? -1 : index + 1, off, len});
    off += len;
    ++index;
  }
  return syms;
}

void merge_into_left(std::vector<Symbol>& syms, int left, int right) {
  Symbol& l = syms[left];
  Symbol& r = syms[right];
  l.n += r.n;
  r.n = 0;
  l.next = r.next;
  if (r.next >= 0) syms[r.next].prev = left;
}

}  // namespace

// ---------------------------------------------------------------- SPM

void tokenize_spm(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  std::vector<Symbol> syms = split_chars(text);
  struct Bigram {
    int left, right;
    float score;
    size_t size;
  };
  // Highest score first; on ties the leftmost pair.
  auto cmp = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(cmp)> queue(cmp);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    std::string_view s = text.substr(syms[left].off, syms[left].n + syms[right].n);
    int32_t id = vocab.find(s);
    if (id == kNullToken) return;
    queue.push({left, right, vocab.score[id], s.size()});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    merge_into_left(syms, b.left, b.right);
    try_add(syms[b.left].prev, b.left);
    try_add(b.left, syms[b.left].next);
  }

  if (syms.empty()) return;
  for (int i = 0; i != -1; i = syms[i].next) {
    const Symbol& s = syms[i];
    std::string_view piece = text.substr(s.off, s.n);
    int32_t id = vocab.find(piece);
    if (id != kNullToken) {
      out.push_back(id);
      continue;
    }
    // Every merged symbol is a token, so only single characters get here:
    // fall back to their bytes.
    for (char c : piece) {
      int32_t bid = vocab.byte_to_token(static_cast<uint8_t>(c));
      if (bid != kNullToken) out.push_back(bid);
    }
  }
}

// ---------------------------------------------------------------- BPE

void tokenize_bpe(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  struct Bigram {
    int left, right;
    int32_t rank;
    std::string text;
  };
  // Lowest rank first; on ties the leftmost pair.
  auto cmp = [](const Bigram& a, const Bigram& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };

  for (const std::string& raw_word : pre_tokenize(text, vocab.pre_type)) {
    std::string word;
    word.reserve(raw_word.size() * 2);
    for (unsigned char c : raw_word) word += unicode::byte_to_utf8(c);

    std::vector<Symbol> syms;
    if (vocab.ignore_merges && vocab.find(word) != kNullToken) {
      syms.push_back({-1, -1, 0, word.size()});
    } else {
      syms = split_chars(word);
    }
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(cmp)> queue(cmp);
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      std::string_view l(word.data() + syms[left].off, syms[left].n);
      std::string_view r(word.data() + syms[right].off, syms[right].n);
      int32_t rank = vocab.find_bpe_rank(l, r);
      if (rank < 0) return;
      std::string t(l);
      t.append(r);
      queue.push({left, right, rank, std::move(t)});
    };
    for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
      Bigram b = queue.top();
      queue.pop();
      const Symbol& l = syms[b.left];
      const Symbol& r = syms[b.right];
      if (l.n == 0 || r.n == 0) continue;
      // Stale if either side changed since the pair was queued.
      if (l.n + r.n != b.text.size() || std::string_view(word.data() + l.off, l.n + r.n) != b.text ||
          l.next != b.right) {
        continue;
      }
      merge_into_left(syms, b.left, b.right);
      try_add(syms[b.left].prev, b.left);
      try_add(b.left, syms[b.left].next);
    }

    for (const Symbol& s : syms) {
      if (s.n == 0) continue;
      std::string_view piece(word.data() + s.off, s.n);
      int32_t id = vocab.find(piece);
      if (id != kNullToken) {
        out.push_back(id);
        continue;
      }
      for (char c : piece) {
        int32_t bid = vocab.find(std::string_view(&c, 1));
        if (bid != kNullToken) out.push_back(bid);
      }
    }
  }
}

// ---------------------------------------------------------------- WPM

namespace {

bool is_chinese_char(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::vector<std::string> wpm_words(std::string_view text) {
  std::vector<std::string> words(1);
  for (uint32_t raw : unicode::utf8_to_cpts(text)) {
    const uint32_t c = unicode::nfd_first(raw);
    const unicode::CptFlags f = unicode::cpt_flags(c);
    if (f.is_whitespace) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    if (c == 0 || c == 0xFFFD || f.is_control) continue;
    std::string s = unicode::cpt_to_utf8(unicode::to_lower(c));
    if (f.is_punctuation || (c < 0x7F && f.is_symbol) || is_chinese_char(c)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = std::move(s);
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

}  // namespace

void tokenize_wpm(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  for (const std::string& w : wpm_words(text)) {
    if (w.empty()) continue;
    const std::string word = "\xe2\x96\x81" + w;
    const size_t n = word.size();
    const size_t start_size = out.size();
    for (size_t i = 0; i < n; ++i) {
      bool match = false;
      for (size_t j = std::min(n, i + vocab.max_token_len + 1); j > i; --j) {
        int32_t id = vocab.find(std::string_view(word).substr(i, j - i));
        if (id != kNullToken) {
          out.push_back(id);
          match = true;
          i = j - 1;
          break;
        }
      }
      if (!match) {
        out.resize(start_size);
        break;
      }
    }
    if (out.size() == start_size && vocab.unk != kNullToken) out.push_back(vocab.unk);
  }
}

}  // namespace ragd
