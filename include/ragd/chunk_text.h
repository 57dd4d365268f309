// How ingest and the answerer read a chunk's text: the text a chunk is
// embedded from, the heading lines the chunker keeps in it, and the fenced
// code blocks in it. Ingest writes these and the answerer reads them back,
// so both sides share the one reading here.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>

#include "ragd/document.h"

namespace ragd {

// The text a chunk is embedded from. Ingest embeds it when a document is
// written and a reindex embeds it again from the stored chunk, so both call
// this one function: a vector never depends on which of the two made it.
// The document title and the section path give the chunk its context
// ("VPN runbook > Troubleshooting > Error 809"), then the chunk's own text on
// the next line. Chunk::text stays the body alone, so hits and quoted
// sentences show only what the chunk says. The top heading usually repeats
// the title ("# VPN runbook"), so it is said once.
inline std::string chunk_embed_text(std::string_view title, const Chunk& chunk) {
  std::string out(title);
  size_t first = (!chunk.section_path.empty() && !chunk.section_path.front().empty() &&
                  title.find(chunk.section_path.front()) != std::string_view::npos)
                     ? 1
                     : 0;
  for (size_t i = first; i < chunk.section_path.size(); ++i) {
    if (!out.empty()) out += " > ";
    out += chunk.section_path[i];
  }
  if (!out.empty()) out += '\n';
  out += chunk.text;
  return out;
}

// A section heading inside a chunk's text. The chunker merges a section too
// short to stand alone into the next one (its sibling); the chunk's
// section_path then names only the last section, so the merged text carries
// each section's heading as an ATX line ("## Cause") before that section's
// paragraphs, and a reader of the chunk can tell whose text is whose.
// Returns the heading's level (1-6) and sets `text`; 0 when `line` is not a
// heading line.
inline int markdown_heading(std::string_view line, std::string_view& text) {
  size_t n = 0;
  while (n < line.size() && n < 7 && line[n] == '#') ++n;
  if (n == 0 || n > 6 || n >= line.size() || line[n] != ' ') return 0;
  std::string_view t = line.substr(n + 1);
  while (!t.empty() && (t.back() == '#' || t.back() == ' ')) t.remove_suffix(1);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  if (t.empty()) return 0;
  text = t;
  return static_cast<int>(n);
}

// The heading line of a section at `depth` in its path (1 = the top).
inline std::string markdown_heading_line(size_t depth, std::string_view text) {
  return std::string(std::clamp<size_t>(depth, 1, 6), '#') + " " + std::string(text);
}

// ---- Fenced code blocks (CommonMark 0.31, 4.5) ----
//
// Connectors write code as fenced blocks (a fence longer than any backtick
// run in the code, so "````" may hold a "```" line); normalize_text keeps
// the white space inside them, the chunker keeps each one whole in a chunk
// (or fences each part again where it must cut one), and the answerer
// quotes it as code. All of them read fences with this one reader,
// so a line is code or prose the same way at every stage.

// The opening line of a fenced code block.
struct CodeFence {
  char marker = 0;        // '`' or '~'; 0: the line opens no fence
  size_t length = 0;      // the run of markers, at least 3
  size_t indent = 0;      // columns of indentation before the run (a tab: to the next multiple of 4)
  std::string_view info;  // the info string, trimmed ("yaml", "{code-block} python")
  explicit operator bool() const { return marker != 0; }
};

// CommonMark's limit for a fence's indentation; more is an indented code
// block. normalize_text, which cannot see the list item a fence is indented
// under, takes any indentation (kAnyFenceIndent): it trims prose lines, so
// such a fence reaches every later reader at column 0 anyway.
constexpr size_t kFenceIndent = 3;
constexpr size_t kAnyFenceIndent = std::numeric_limits<size_t>::max();

// Columns of leading spaces and tabs in `line`, and where its text starts.
inline size_t fence_indent(std::string_view line, size_t& text_begin) {
  size_t col = 0, i = 0;
  for (; i < line.size() && (line[i] == ' ' || line[i] == '\t'); ++i)
    col = line[i] == '\t' ? (col / 4 + 1) * 4 : col + 1;
  text_begin = i;
  return col;
}

inline bool fence_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// A line opens a fence: at most `max_indent` columns of indentation, three
// or more backticks or tildes, an info string; a backtick fence's info
// string holds no backtick (else the line is inline code, "```x``` y").
inline CodeFence open_code_fence(std::string_view line, size_t max_indent = kFenceIndent) {
  size_t i = 0;
  const size_t indent = fence_indent(line, i);
  if (indent > max_indent || i >= line.size() || (line[i] != '`' && line[i] != '~')) return {};
  const char marker = line[i];
  const size_t run_begin = i;
  while (i < line.size() && line[i] == marker) ++i;
  const size_t length = i - run_begin;
  if (length < 3) return {};
  std::string_view info = line.substr(i);
  if (marker == '`' && info.find('`') != std::string_view::npos) return {};
  while (!info.empty() && fence_space(info.front())) info.remove_prefix(1);
  while (!info.empty() && fence_space(info.back())) info.remove_suffix(1);
  return {marker, length, indent, info};
}

// A line closes `fence`: at most `max_indent` columns of indentation, a run
// of its marker at least as long as its own, then only spaces.
inline bool closes_code_fence(const CodeFence& fence, std::string_view line, size_t max_indent = kFenceIndent) {
  size_t i = 0;
  if (fence_indent(line, i) > max_indent) return false;
  const size_t run_begin = i;
  while (i < line.size() && line[i] == fence.marker) ++i;
  if (i - run_begin < fence.length) return false;
  while (i < line.size() && fence_space(line[i])) ++i;
  return i == line.size();
}

// Reads a text line by line and tells which lines open a fence, are code,
// or close it. A fence left open runs to the end of the text. One reader
// per text; O(length of the line) per line.
class CodeFenceReader {
 public:
  enum class Line { kProse, kOpen, kCode, kClose };

  explicit CodeFenceReader(size_t max_indent = kFenceIndent) : max_indent_(max_indent) {}

  Line next(std::string_view line) {
    if (fence_) {
      if (!closes_code_fence(fence_, line, max_indent_)) return Line::kCode;
      fence_ = {};
      return Line::kClose;
    }
    fence_ = open_code_fence(line, max_indent_);
    return fence_ ? Line::kOpen : Line::kProse;
  }

  bool in_code() const { return static_cast<bool>(fence_); }
  // The open fence (after kOpen or kCode); empty otherwise. Its info
  // points into the line that opened it.
  const CodeFence& fence() const { return fence_; }

 private:
  size_t max_indent_;
  CodeFence fence_;
};

// A code line without the indentation its fence had (CommonMark removes up
// to that many columns of spaces from each line of the block).
inline std::string_view code_line(const CodeFence& fence, std::string_view line) {
  size_t n = 0;
  while (n < fence.indent && n < line.size() && line[n] == ' ') ++n;
  return line.substr(n);
}

// A fence of `marker` that holds `code` as it is: longer than any run of
// the marker that could close it.
inline std::string fence_for(std::string_view code, char marker = '`') {
  size_t longest = 0, run = 0;
  bool line_start = true;
  for (char c : code) {
    if (c == '\n') { line_start = true; run = 0; continue; }
    if (line_start && c == marker) { longest = std::max(longest, ++run); continue; }
    if (!(line_start && run == 0 && (c == ' ' || c == '\t'))) line_start = false;
  }
  return std::string(std::max<size_t>(3, longest + 1), marker);
}

}  // namespace ragd
