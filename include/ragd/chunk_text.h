// The text a chunk is embedded from. Ingest embeds it when a document is
// written and a reindex embeds it again from the stored chunk, so both call
// this one function: a vector never depends on which of the two made it.
#pragma once

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

}  // namespace ragd
