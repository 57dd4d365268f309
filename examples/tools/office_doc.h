// A tiny document model for the sample knowledge base's office files, and
// the two writers that turn it into a PDF and a DOCX. The sources are plain
// text with Markdown-like headings so that they can be reviewed in a diff.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ragd/status.h"

namespace ragd::examples {

enum class ParagraphStyle {
  kTitle,     // "# " line: the document title, Heading1 in DOCX
  kHeading,   // "## " line: a section, Heading2 in DOCX
  kBullet,    // "- " line: one list item
  kBody,      // anything else; consecutive lines are joined with a space
};

struct Paragraph {
  ParagraphStyle style = ParagraphStyle::kBody;
  std::string text;  // UTF-8, no markup
};

struct OfficeDoc {
  std::string title;  // the first "# " heading; required
  std::vector<Paragraph> paragraphs;
};

// Parses the text source. Fails when the file cannot be read, is not valid
// UTF-8 or has no "# " title line.
Result<OfficeDoc> parse_office_source(const std::filesystem::path& path);

// PDF 1.4, A4, Helvetica/Helvetica-Bold (standard Type1, WinAnsiEncoding),
// word-wrapped, paginated, uncompressed content streams, /Info /Title.
Status write_pdf(const OfficeDoc& doc, const std::filesystem::path& out);

// A minimal WordprocessingML package: [Content_Types].xml, _rels/.rels,
// word/document.xml, word/styles.xml, word/_rels/document.xml.rels and
// docProps/core.xml (dc:title).
Status write_docx(const OfficeDoc& doc, const std::filesystem::path& out);

// Both writers write to "<out>.tmp" first and rename, so that an interrupted
// build never leaves a half-written file under the final name.
Status replace_file(const std::filesystem::path& tmp, const std::filesystem::path& out);

}  // namespace ragd::examples
