// Structure-aware chunking. A document becomes sections (blocks with one
// role and heading path, or Markdown headings), each section paragraphs,
// oversized paragraphs sentences, and pieces are packed greedily into chunks
// of at most max_tokens, with a sentence-aligned overlap inside a section.
#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <deque>

#include "ingest/chunker.h"
#include "ragd/chunk_text.h"

namespace ragd {

namespace {

enum ByteClass : uint8_t { kSpaceByte = 0, kWordByte = 1, kPunctByte = 2 };

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
    t[c] = word ? kWordByte : space ? kSpaceByte : kPunctByte;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClass = make_classes();

inline uint8_t cls(char c) { return kClass[static_cast<unsigned char>(c)]; }

// Byte offsets where tokens start.
void token_starts(std::string_view s, std::vector<uint32_t>& out) {
  out.clear();
  size_t i = 0;
  while (i < s.size()) {
    uint8_t k = cls(s[i]);
    if (k == kSpaceByte) { ++i; continue; }
    out.push_back(static_cast<uint32_t>(i));
    if (k == kPunctByte) { ++i; continue; }
    while (i < s.size() && cls(s[i]) == kWordByte) ++i;
  }
}

enum class Sep : uint8_t { kParagraph, kLine, kSpace };

struct Piece {
  std::string_view text;
  uint32_t tokens = 0;
  Sep sep = Sep::kParagraph;  // how it joins the piece before it
  bool window = false;        // a cut through a run-on sentence
  bool table = false;         // rows of a table under a repeat of its header
  bool code = false;          // a fenced code block or a line of one
  uint32_t fence = 0;         // a line of a code block cut into lines: Splitter::fences_[fence - 1]
  bool fence_open = false;    // that block's opening fence line
  bool fence_close = false;   // that block's closing fence line
};

struct Section {
  std::vector<std::string> path;
  std::string role = "body";
  std::vector<std::string_view> paras;  // paragraphs or whole fenced code blocks
  uint32_t tokens = 0;
  bool headed = false;  // paras hold merged sections, each under its heading line
};

// Markdown: headings open sections; blank lines end paragraphs; a fenced
// code block is one paragraph however many blank lines it holds.
std::vector<Section> markdown_sections(std::string_view text) {
  std::vector<Section> out;
  std::vector<std::pair<int, std::string>> stack;
  Section cur;
  size_t para_begin = std::string_view::npos, para_end = 0;
  CodeFenceReader fences;
  auto end_para = [&] {
    if (para_begin != std::string_view::npos) cur.paras.push_back(text.substr(para_begin, para_end - para_begin));
    para_begin = std::string_view::npos;
  };
  auto end_section = [&] {
    end_para();
    if (!cur.paras.empty()) out.push_back(std::move(cur));
    cur = Section();
    for (const auto& [l, t] : stack) cur.path.push_back(t);
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    const size_t line_begin = pos;
    pos = nl + 1;
    switch (fences.next(line)) {
      case CodeFenceReader::Line::kOpen:
        end_para();
        para_begin = line_begin;
        para_end = line_begin + line.size();
        continue;
      case CodeFenceReader::Line::kCode: para_end = line_begin + line.size(); continue;
      case CodeFenceReader::Line::kClose:
        para_end = line_begin + line.size();
        end_para();
        continue;
      case CodeFenceReader::Line::kProse: break;
    }
    std::string_view heading;
    if (int level = markdown_heading(line, heading)) {
      end_section();
      while (!stack.empty() && stack.back().first >= level) stack.pop_back();
      stack.emplace_back(level, std::string(heading));
      cur.path.clear();
      for (const auto& [l, t] : stack) cur.path.push_back(t);
      continue;
    }
    if (line.empty()) { end_para(); continue; }
    if (para_begin == std::string_view::npos) para_begin = line_begin;
    para_end = line_begin + line.size();
  }
  end_section();
  return out;
}

// A block's paragraphs: blank lines end them, and a fenced code block (an
// HTML <pre> the connector fenced) is one paragraph, as in markdown_sections.
void add_paragraphs(std::string_view text, Section& s) {
  size_t pos = 0, begin = std::string_view::npos, end = 0;
  CodeFenceReader fences;
  auto end_para = [&] {
    if (begin != std::string_view::npos) s.paras.push_back(text.substr(begin, end - begin));
    begin = std::string_view::npos;
  };
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    const size_t line_begin = pos;
    pos = nl + 1;
    const CodeFenceReader::Line kind = fences.next(line);
    if (kind == CodeFenceReader::Line::kOpen || (line.empty() && kind == CodeFenceReader::Line::kProse)) end_para();
    if (line.empty() && kind == CodeFenceReader::Line::kProse) continue;
    if (begin == std::string_view::npos) begin = line_begin;
    end = line_begin + line.size();
    if (kind == CodeFenceReader::Line::kClose) end_para();
  }
  end_para();
}

// Consecutive blocks with the same role and path share a section.
std::vector<Section> block_sections(const std::vector<Block>& blocks) {
  std::vector<Section> out;
  for (const Block& b : blocks) {
    if (out.empty() || out.back().role != b.role || out.back().path != b.section_path) {
      out.emplace_back();
      out.back().path = b.section_path;
      out.back().role = b.role;
    }
    add_paragraphs(b.text, out.back());
  }
  return out;
}

bool is_abbreviation(std::string_view word) {
  if (word.size() <= 1) return true;  // initials: "J. Smith", "U.S."
  if (word.find('.') != std::string_view::npos) return true;  // "e.g", "i.e"
  static constexpr std::string_view kAbbrev[] = {"Mr", "Mrs", "Ms", "Dr", "St", "vs", "etc", "No", "Fig",
                                                 "approx", "Inc", "Ltd", "Jr", "Sr", "cf", "al"};
  for (auto a : kAbbrev) if (word == a) return true;
  return false;
}

// Splits a paragraph at line breaks and sentence ends ("word. Next").
void split_sentences(std::string_view p, std::vector<Piece>& out, Sep first_sep) {
  size_t start = 0;
  Sep sep = first_sep;
  auto emit = [&](size_t end, Sep next) {
    std::string_view s = p.substr(start, end - start);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    if (!s.empty()) { out.push_back({s, 0, sep}); sep = next; }
  };
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\n') {
      emit(i, Sep::kLine);
      start = i + 1;
      continue;
    }
    if (c != '.' && c != '!' && c != '?') continue;
    size_t j = i + 1;
    while (j < p.size() && (p[j] == '"' || p[j] == '\'' || p[j] == ')' || p[j] == ']')) ++j;
    if (j + 1 >= p.size() || p[j] != ' ') continue;
    const unsigned char next = static_cast<unsigned char>(p[j + 1]);
    if (!(std::isupper(next) || std::isdigit(next) || next >= 0x80 || next == '"' || next == '(' || next == '[' ||
          next == '`'))
      continue;
    if (c == '.') {
      size_t w = i;
      while (w > start && p[w - 1] != ' ' && p[w - 1] != '(') --w;
      if (is_abbreviation(p.substr(w, i - w))) continue;
    }
    emit(j, Sep::kSpace);
    start = j + 1;
  }
  emit(p.size(), Sep::kSpace);
}

}  // namespace

uint32_t count_tokens(std::string_view s) {
  uint32_t n = 0;
  size_t i = 0;
  const size_t size = s.size();
  while (i < size) {
    uint8_t k = cls(s[i]);
    if (k == kSpaceByte) { ++i; continue; }
    ++n;
    ++i;
    if (k == kWordByte) while (i < size && cls(s[i]) == kWordByte) ++i;
  }
  return n;
}

namespace {

// One split() call: owns the strings that pieces of merged sections point to.
class Splitter {
 public:
  Splitter(const ChunkerOptions& o, const Document& doc) : o_(o), doc_(doc) {
    if (o_.max_tokens == 0) o_.max_tokens = 1;
    if (o_.overlap_tokens >= o_.max_tokens) o_.overlap_tokens = o_.max_tokens / 2;
  }

  std::vector<Chunk> run() {
    std::vector<Section> sections =
        doc_.blocks.empty() ? markdown_sections(doc_.text) : block_sections(doc_.blocks);
    for (auto& s : sections) {
      s.tokens = 0;
      for (auto p : s.paras) s.tokens += count_tokens(p);
    }
    merge_short(sections);
    for (const auto& s : sections) pack(s);
    if (chunks_.empty() && !doc_.title.empty()) {
      Chunk c;
      c.text = doc_.title;
      c.n_tokens = count_tokens(c.text);
      emit(std::move(c));
    }
    return std::move(chunks_);
  }

 private:
  // A body section under min_tokens goes into the next section when that
  // is its child or sibling. Once siblings share a chunk, each one's text
  // follows its heading line (ragd/chunk_text.h markdown_heading), since the
  // chunk's path names only the last of them: a short "Cause" merged into
  // "Resolution" stays the cause.
  void merge_short(std::vector<Section>& sections) {
    for (size_t i = 0; i + 1 < sections.size(); ++i) {
      Section& s = sections[i];
      Section& next = sections[i + 1];
      if (s.role != "body" || next.role != "body" || s.tokens >= o_.min_tokens) continue;
      const bool child = next.path.size() > s.path.size() && std::equal(s.path.begin(), s.path.end(), next.path.begin());
      const bool sibling = !s.path.empty() && next.path.size() == s.path.size() &&
                           std::equal(s.path.begin(), s.path.end() - 1, next.path.begin());
      if (!child && !sibling) continue;
      // The heading lines count, so that the merged text fits one chunk.
      const bool headed = sibling || s.headed;
      const std::string s_line = sibling && !s.headed ? markdown_heading_line(s.path.size(), s.path.back()) : "";
      const std::string next_line = headed ? markdown_heading_line(next.path.size(), next.path.back()) : "";
      const uint32_t line_tokens = count_tokens(s_line) + count_tokens(next_line);
      if (s.tokens + next.tokens + line_tokens > o_.max_tokens) continue;
      std::vector<std::string_view> paras;
      auto heading = [&](const std::string& line) {
        if (line.empty()) return;
        arena_.push_back(line);
        paras.push_back(arena_.back());
      };
      heading(s_line);
      paras.insert(paras.end(), s.paras.begin(), s.paras.end());
      heading(next_line);
      paras.insert(paras.end(), next.paras.begin(), next.paras.end());
      next.paras = std::move(paras);
      next.tokens += s.tokens + line_tokens;
      next.headed = headed;
      s.paras.clear();
    }
  }

  // A table too long for one chunk: groups of whole rows, each under a
  // copy of the header row (and the Markdown separator row), so that every
  // chunk of it says what its cells mean. False when `para` is not a table
  // (every line a "| a | b |" or "a | b" row) or its header alone is too big.
  bool table_pieces(std::string_view para, std::vector<Piece>& out) {
    std::vector<std::string_view> lines;
    size_t pos = 0;
    while (pos <= para.size()) {
      size_t nl = para.find('\n', pos);
      if (nl == std::string_view::npos) nl = para.size();
      std::string_view l = para.substr(pos, nl - pos);
      if (!l.empty()) lines.push_back(l);
      pos = nl + 1;
    }
    if (lines.size() < 3) return false;
    for (auto l : lines)
      if (l.front() != '|' && l.find(" | ") == std::string_view::npos) return false;
    size_t header_lines = 1;
    if (lines[1].find_first_not_of("|-: ") == std::string_view::npos) header_lines = 2;
    std::string header;
    for (size_t i = 0; i < header_lines; ++i) header += std::string(lines[i]) + "\n";
    const uint32_t header_tokens = count_tokens(header);
    if (header_tokens * 2 > o_.max_tokens) return false;
    std::string group = header;
    uint32_t tokens = header_tokens;
    bool has_rows = false;
    auto emit_group = [&] {
      if (!has_rows) return;
      group.pop_back();  // the last line break
      arena_.push_back(std::move(group));
      out.push_back({arena_.back(), tokens, Sep::kParagraph, false, true});
      group = header;
      tokens = header_tokens;
      has_rows = false;
    };
    for (size_t i = header_lines; i < lines.size(); ++i)
      if (header_tokens + count_tokens(lines[i]) > o_.max_tokens) return false;
    for (size_t i = header_lines; i < lines.size(); ++i) {
      const uint32_t t = count_tokens(lines[i]);
      if (has_rows && tokens + t > o_.max_tokens) emit_group();
      group += std::string(lines[i]) + "\n";
      tokens += t;
      has_rows = true;
    }
    emit_group();
    return true;
  }

  // A fenced code block too long for one chunk: pieces of whole lines,
  // which keep their indentation (a line longer than a chunk is cut into
  // windows). A chunk that holds only part of the block gets the block's
  // fence lines around that part (flush), so the part still reads as code;
  // pack() keeps room for them. False when the fence lines alone would
  // take a quarter of a chunk (a line of 10 MB of backticks): the block is
  // then cut as text.
  bool code_pieces(std::string_view para, std::vector<Piece>& out) {
    const std::string_view open = para.substr(0, para.find('\n'));
    const CodeFence f = open_code_fence(open);
    if (!f) return false;
    // The block's own closing line, so that a chunk ending with it costs
    // what the wrap it replaces did; an unclosed block gets a bare one.
    const size_t last_nl = para.rfind('\n');
    std::string_view last = last_nl == std::string_view::npos ? std::string_view() : para.substr(last_nl + 1);
    const bool closed = !last.empty() && closes_code_fence(f, last);
    while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
    while (!last.empty() && last.back() == ' ') last.remove_suffix(1);
    FenceLines lines{open, closed ? std::string(last) : std::string(f.length, f.marker), count_tokens(open), 0};
    lines.close_tokens = count_tokens(lines.close);
    const uint32_t cost = lines.open_tokens + lines.close_tokens;
    if (cost * 4 > o_.max_tokens) return false;
    fences_.push_back(std::move(lines));
    const auto id = static_cast<uint32_t>(fences_.size());
    const uint32_t room = o_.max_tokens - cost;
    Piece first{open, fences_.back().open_tokens, Sep::kParagraph};
    first.code = true;
    first.fence = id;
    first.fence_open = true;
    out.push_back(first);
    Sep sep = Sep::kLine;
    for (size_t pos = open.size() + 1; pos < para.size();) {
      size_t nl = para.find('\n', pos);
      if (nl == std::string_view::npos) nl = para.size();
      const std::string_view line = para.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.find_first_not_of(' ') == std::string_view::npos) {
        sep = Sep::kParagraph;  // blank lines: one, where the block is cut
        continue;
      }
      Piece p{line, count_tokens(line), sep};
      p.code = true;
      p.fence = id;
      p.fence_close = nl == para.size() && closes_code_fence(f, line);
      sep = Sep::kLine;
      if (p.tokens <= room) {
        out.push_back(p);
        continue;
      }
      token_starts(line, starts_);
      const size_t step = std::max<size_t>(1, room - std::min(o_.overlap_tokens, room / 2));
      for (size_t t = 0; t < starts_.size(); t += step) {
        const size_t b = t == 0 ? 0 : starts_[t];  // the first keeps the indentation
        const size_t e = t + step < starts_.size() ? starts_[t + step] : line.size();
        Piece w = p;
        w.text = line.substr(b, e - b);
        while (!w.text.empty() && w.text.back() == ' ') w.text.remove_suffix(1);
        w.tokens = static_cast<uint32_t>(std::min(step, starts_.size() - t));
        w.window = true;
        if (t > 0) w.sep = Sep::kSpace;
        out.push_back(w);
      }
    }
    return true;
  }

  // Paragraph -> pieces no larger than max_tokens.
  void pieces_of(std::string_view para, std::vector<Piece>& out) {
    const uint32_t n = count_tokens(para);
    const bool code = static_cast<bool>(open_code_fence(para.substr(0, para.find('\n'))));
    if (n <= o_.max_tokens) {
      Piece p{para, n, Sep::kParagraph};
      p.code = code;
      out.push_back(p);
      return;
    }
    if (code && code_pieces(para, out)) return;
    if (table_pieces(para, out)) return;
    scratch_.clear();
    split_sentences(para, scratch_, Sep::kParagraph);
    for (Piece p : scratch_) {
      p.tokens = count_tokens(p.text);
      if (p.tokens <= o_.max_tokens) {
        out.push_back(p);
        continue;
      }
      // A run-on sentence: windows that leave room for the overlap.
      token_starts(p.text, starts_);
      const size_t step = std::max<size_t>(1, o_.max_tokens - o_.overlap_tokens);
      for (size_t t = 0; t < starts_.size(); t += step) {
        size_t b = starts_[t];
        size_t e = t + step < starts_.size() ? starts_[t + step] : p.text.size();
        std::string_view w = p.text.substr(b, e - b);
        while (!w.empty() && (w.back() == ' ' || w.back() == '\n')) w.remove_suffix(1);
        out.push_back({w, static_cast<uint32_t>(std::min(step, starts_.size() - t)), t == 0 ? p.sep : Sep::kSpace,
                       true});
      }
    }
  }

  // The end of `p` worth at most `budget` tokens, starting at a sentence or
  // line start. Only a window of a run-on sentence, which has none, is cut
  // at a token: a chunk should not open with half a sentence.
  std::optional<Piece> tail(const Piece& p, uint32_t budget) {
    if (budget == 0) return std::nullopt;
    token_starts(p.text, starts_);
    if (starts_.size() <= budget) return p;
    if (p.code && !p.window) return std::nullopt;  // the end of a code line or block is no code
    const size_t from = starts_[starts_.size() - budget];
    tail_sentences_.clear();
    split_sentences(p.text, tail_sentences_, Sep::kParagraph);
    for (const Piece& s : tail_sentences_) {
      size_t off = static_cast<size_t>(s.text.data() - p.text.data());
      if (off >= from) {
        std::string_view t = p.text.substr(off);
        return Piece{t, count_tokens(t), Sep::kParagraph};
      }
    }
    if (!p.window) return std::nullopt;
    std::string_view t = p.text.substr(from);
    return Piece{t, count_tokens(t), Sep::kSpace, true};
  }

  // The tokens of the fence lines flush() will add around the lines of cut
  // code blocks in a chunk: an opening line when the chunk starts inside a
  // block, a closing line after each run of a block's lines that does not
  // end with the block's own.
  struct Wrap {
    uint32_t open = 0, closed = 0, pending = 0;
    uint32_t total() const { return open + closed + pending; }
  };

  // `w` (of the chunk so far, whose last piece is `back`) with `p` added.
  Wrap wrap_with(const Piece* back, Wrap w, const Piece& p) const {
    if (!back) {
      w = Wrap();
      if (p.fence && !p.fence_open) w.open = fences_[p.fence - 1].open_tokens;
    } else if (back->fence != p.fence) {
      w.closed += w.pending;
    }
    w.pending = p.fence && !p.fence_close ? fences_[p.fence - 1].close_tokens : 0;
    return w;
  }

  uint32_t fence_cost(const Piece& p) const {
    return p.fence ? fences_[p.fence - 1].open_tokens + fences_[p.fence - 1].close_tokens : 0;
  }

  void pack(const Section& s) {
    if (s.paras.empty()) return;
    std::vector<Piece> pieces;
    for (auto para : s.paras) pieces_of(para, pieces);
    std::vector<Piece> cur;
    uint32_t cur_tokens = 0;
    Wrap wrap;
    bool cur_has_new = false;  // holds more than the overlap from the last chunk
    for (size_t k = 0; k < pieces.size(); ++k) {
      const Piece& p = pieces[k];
      const Piece* back = cur.empty() ? nullptr : &cur.back();
      // A code block's opening line goes with its first line: a chunk
      // should not end with an empty block.
      const uint32_t glued = p.fence_open && k + 1 < pieces.size() && pieces[k + 1].fence == p.fence
                                 ? pieces[k + 1].tokens
                                 : 0;
      if (cur_has_new && cur_tokens + p.tokens + glued + wrap_with(back, wrap, p).total() > o_.max_tokens) {
        flush(s, cur, cur_tokens);
        // Overlap: whole pieces from the end, then part of one if needed.
        // A table group brings its own header; rows repeated before it
        // would read as a table without one. Lines of a cut code block
        // overlap only into the rest of the same block, whose fence lines
        // pack() has kept room for.
        const bool table_edge = p.table || (!cur.empty() && cur.back().table);
        const bool code_edge = !cur.empty() && (p.fence || cur.back().fence) && p.fence != cur.back().fence;
        uint32_t budget = table_edge || code_edge
                              ? 0
                              : std::min<uint32_t>(o_.overlap_tokens, o_.max_tokens - p.tokens - fence_cost(p));
        std::vector<Piece> keep;
        uint32_t kept = 0;
        for (size_t i = cur.size(); i-- > 0;) {
          if (cur[i].fence && cur[i].fence != p.fence) break;
          if (kept + cur[i].tokens <= budget) {
            keep.push_back(cur[i]);
            kept += cur[i].tokens;
            continue;
          }
          if (keep.empty()) {
            if (auto t = tail(cur[i], budget - kept)) { keep.push_back(*t); kept += t->tokens; }
          }
          break;
        }
        std::reverse(keep.begin(), keep.end());
        cur = std::move(keep);
        cur_tokens = kept;
        cur_has_new = false;
        wrap = Wrap();
        for (size_t i = 0; i < cur.size(); ++i) wrap = wrap_with(i ? &cur[i - 1] : nullptr, wrap, cur[i]);
        back = cur.empty() ? nullptr : &cur.back();
      }
      wrap = wrap_with(back, wrap, p);
      cur.push_back(p);
      cur_tokens += p.tokens;
      cur_has_new = true;
    }
    if (cur_has_new) flush(s, cur, cur_tokens);
  }

  // A run of a cut code block's lines is set between its fence lines,
  // where the chunk does not hold them (see Wrap).
  void flush(const Section& s, const std::vector<Piece>& cur, uint32_t tokens) {
    Chunk c;
    size_t bytes = 0;
    for (const auto& p : cur) bytes += p.text.size() + 2;
    c.text.reserve(bytes);
    bool wrapped = false;
    for (size_t i = 0; i < cur.size(); ++i) {
      const Piece& p = cur[i];
      if (i) c.text += p.sep == Sep::kParagraph ? "\n\n" : p.sep == Sep::kLine ? "\n" : " ";
      if (i == 0 && p.fence && !p.fence_open) {
        c.text += fences_[p.fence - 1].open;
        c.text += '\n';
        wrapped = true;
      }
      c.text += p.text;
      if (p.fence && !p.fence_close && (i + 1 == cur.size() || cur[i + 1].fence != p.fence)) {
        c.text += '\n';
        c.text += fences_[p.fence - 1].close;
        wrapped = true;
      }
    }
    c.role = s.role;
    c.section_path = s.path;
    c.n_tokens = wrapped ? count_tokens(c.text) : tokens;
    emit(std::move(c));
  }

  void emit(Chunk c) {
    c.doc_id = doc_.id;
    c.ordinal = static_cast<uint32_t>(chunks_.size());
    c.id = doc_.id + "#" + std::to_string(c.ordinal);
    chunks_.push_back(std::move(c));
  }

  ChunkerOptions o_;
  const Document& doc_;
  std::vector<Chunk> chunks_;
  std::deque<std::string> arena_;
  // The fence lines of the code blocks cut into lines (Piece::fence).
  struct FenceLines {
    std::string_view open;
    std::string close;
    uint32_t open_tokens = 0, close_tokens = 0;
  };
  std::vector<FenceLines> fences_;
  std::vector<Piece> scratch_, tail_sentences_;
  std::vector<uint32_t> starts_;
};

}  // namespace

std::vector<Chunk> Chunker::split(const Document& doc) const {
  return Splitter(options_, doc).run();
}

}  // namespace ragd
