// Answer units: the pieces of a chunk an answer can quote whole. Sentences
// of running text, list items (numbered or bulleted), table rows rendered
// with their header cells ("Record type: CCTV footage; Retention: 28 days"),
// and lines of code. Also the role of a section from its heading path, and
// Markdown cleaning for quoting.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragd {

enum class UnitKind { kSentence, kNumbered, kBullet, kTableRow, kCode };

struct Unit {
  UnitKind kind = UnitKind::kSentence;
  std::string text;  // inline Markdown kept (`code`), emphasis markers and list markers removed
  // chunk_units only: the heading line of the chunk's text the unit
  // follows, and its level (its section's depth). Sections the chunker
  // merged into one chunk keep their headings (ragd/chunk_text.h
  // markdown_heading). Empty and 0 when none precedes it.
  std::string heading;
  int heading_level = 0;
};

// Units of a text in order. Tables are Markdown pipe tables or the
// " | "-separated rows the HTML/DOCX connectors write; their first row is
// the header, and every later row is one unit that names each cell by its
// header. Rows of a table whose header the chunk does not hold are kept as
// "a; b; c".
std::vector<Unit> split_units(std::string_view text);

// The same for a chunk at `chunk_path`, reading the heading lines the
// chunker writes for merged sections: such a line is no unit but the
// heading of the units after it. The lines count only when one of them is
// the chunk's own section's, at its depth, and none is deeper; otherwise
// "# ..." lines are text (a shell comment of a code block cut across
// chunks).
std::vector<Unit> chunk_units(std::string_view text, const std::vector<std::string>& chunk_path);

// What a section is for, from its heading path (innermost heading that has
// a telling word wins) or a ticket block's role.
enum class SectionRole { kOther, kSymptom, kCause, kResolution, kDiagnosis, kEscalation };
const char* section_role_name(SectionRole role);
SectionRole section_role(const std::vector<std::string>& section_path, const std::string& chunk_role);

// True when a heading only names what its section is for ("Resolution",
// "To resolve this issue", "Workaround 2", "More information"), with no
// topic of its own ("Add a member", "Error 0x709", a FAQ's question).
bool is_role_label(std::string_view heading);

// The section path of a unit of a chunk at `chunk_path` (chunk_units): the
// chunk's own, unless the unit follows the heading of another section the
// chunker merged into the chunk (a heading not on the path): then the
// chunk's path above that heading's depth, and the heading.
std::vector<std::string> unit_section(const std::vector<std::string>& chunk_path, const Unit& unit);

// Inline Markdown emphasis (**b**, __b__, *i*) and links ([t](u) -> t)
// removed; `code` kept.
std::string clean_inline_markdown(std::string_view s);
// For a terminal: the answer's Markdown as plain text (backticks and
// emphasis removed; list markers and line breaks kept).
std::string markdown_to_plain(std::string_view markdown);

}  // namespace ragd
