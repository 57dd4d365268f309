// Normalizer and Chunker: structure-aware, token-bounded chunks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/document.h"
#include "ragd/status.h"

namespace ragd {

// Unicode NFC (utf8proc), invalid UTF-8 replaced, whitespace collapsed,
// control characters dropped. Paragraph breaks are kept as "\n\n".
std::string normalize_text(std::string_view text);

// Normalises every text field of a document in place. Fails on documents
// that cannot be stored (no id, id too long or with control characters).
Status normalize_document(Document& doc);

struct ChunkerOptions {
  // Target chunk size in tokens (words and punctuation). Default: 200.
  uint32_t max_tokens = 200;
  // Tokens repeated from the end of one chunk at the start of the next
  // within a section. Default: 30.
  uint32_t overlap_tokens = 30;
  // Sections shorter than this are merged with their successor when they
  // share a parent heading. Default: 20.
  uint32_t min_tokens = 20;
};

// Tokens as the chunker counts them: runs of letters/digits (any non-ASCII
// byte counts as a letter) and single punctuation characters.
uint32_t count_tokens(std::string_view text);

// Markdown and HTML documents split by heading path (kept on every chunk);
// a ticket into a problem chunk (subject + description), a resolution chunk
// and comment chunks; every chunk within max_tokens, with overlap.
class Chunker {
 public:
  explicit Chunker(ChunkerOptions options = {}) : options_(options) {}
  std::vector<Chunk> split(const Document& doc) const;

 private:
  ChunkerOptions options_;
};

}  // namespace ragd
