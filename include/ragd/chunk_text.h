// The text a chunk is embedded from. Ingest embeds it when a document is
// written and a reindex embeds it again from the stored chunk, so both call
// this one function: a vector never depends on which of the two made it.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

#include "ragd/document.h"

namespace ragd {

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

}  // namespace ragd
