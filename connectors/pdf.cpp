// PDF files (poppler-cpp): text per page, lines joined into paragraphs.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <memory>

#include "connectors/internal.h"

namespace ragd::connectors {

namespace {

std::string utf8(const poppler::ustring& s) {
  poppler::byte_array b = s.to_utf8();
  return std::string(b.begin(), b.end());
}

// Level of a numbered heading paragraph ("4. Access control" -> 1,
// "4.2 Passwords" -> 2), 0 otherwise: short, a few words, no closing
// punctuation, a capital after the number.
int numbered_heading(std::string_view p) {
  if (p.size() > 70 || p.find('\n') != std::string_view::npos) return 0;
  size_t i = 0;
  int level = 0;
  while (i < p.size() && std::isdigit(static_cast<unsigned char>(p[i]))) {
    size_t digits = 0;
    while (i < p.size() && std::isdigit(static_cast<unsigned char>(p[i]))) ++i, ++digits;
    if (digits > 2) return 0;
    ++level;
    if (i < p.size() && p[i] == '.') ++i;
    else break;
  }
  if (level == 0 || i >= p.size() || p[i] != ' ') return 0;
  std::string_view rest = trim(p.substr(i));
  if (rest.empty() || !std::isupper(static_cast<unsigned char>(rest[0]))) return 0;
  char last = rest.back();
  if (last == '.' || last == ',' || last == ';' || last == ':' || last == '!' || last == '?') return 0;
  if (std::count(rest.begin(), rest.end(), ' ') >= 8) return 0;
  return level;
}

// PDF text comes as visual lines. Lines are joined with spaces; a blank line
// or a line well short of the longest ends a paragraph; "exam-\nple" is rejoined.
std::string join_lines(const std::string& page) {
  std::vector<std::string_view> lines;
  size_t pos = 0, longest = 0;
  while (pos < page.size()) {
    size_t nl = page.find_first_of("\n\f", pos);
    if (nl == std::string::npos) nl = page.size();
    std::string_view line = trim(std::string_view(page).substr(pos, nl - pos));
    lines.push_back(line);
    longest = std::max(longest, line.size());
    pos = nl + 1;
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty()) {
      if (!out.empty() && !out.ends_with("\n\n")) out += "\n\n";
      continue;
    }
    const bool heading = numbered_heading(line) > 0;
    if (heading && !out.empty() && !out.ends_with("\n\n")) out += "\n\n";
    if (!out.empty() && !out.ends_with("\n\n")) {
      if (out.back() == '-' && out.size() >= 2 && std::isalpha(static_cast<unsigned char>(out[out.size() - 2])) &&
          std::islower(static_cast<unsigned char>(line[0]))) {
        out.pop_back();
      } else {
        out += ' ';
      }
    }
    out += line;
    // A line well short of the page width ends a paragraph or is a heading.
    if (heading || line.size() * 10 < longest * 7) out += "\n\n";
  }
  return out;
}

void silence(const std::string&, void*) {}

}  // namespace

Status parse_pdf(const FileInput& in) {
  static const bool silenced = [] {
    poppler::set_debug_error_function(silence, nullptr);
    return true;
  }();
  (void)silenced;
  if (in.bytes.size() < 8 || in.bytes.substr(0, 5) != "%PDF-")
    return Status::invalid_argument("not a PDF file (no %PDF- header)");
  if (in.bytes.size() > static_cast<size_t>(INT_MAX)) return Status::resource_exhausted("PDF too large");
  std::unique_ptr<poppler::document> pdf(
      poppler::document::load_from_raw_data(in.bytes.data(), static_cast<int>(in.bytes.size())));
  if (!pdf) return Status::invalid_argument("unreadable or damaged PDF");
  if (pdf->is_locked()) return Status::invalid_argument("PDF is encrypted; skipped");
  Document doc;
  const int pages = pdf->pages();
  // Numbered headings open sections (kept across pages); other paragraphs
  // gather under the current heading path.
  std::vector<std::pair<int, std::string>> path;
  std::string buf;
  auto flush = [&] {
    if (trim(buf).empty()) return buf.clear();
    Block b;
    for (const auto& [level, text] : path) b.section_path.push_back(text);
    b.text = std::string(trim(buf));
    doc.blocks.push_back(std::move(b));
    buf.clear();
  };
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (!page) continue;
    std::string text = join_lines(utf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout)));
    size_t pos = 0;
    while (pos < text.size()) {
      size_t br = text.find("\n\n", pos);
      if (br == std::string::npos) br = text.size();
      std::string_view para = trim(std::string_view(text).substr(pos, br - pos));
      pos = br + 2;
      if (para.empty()) continue;
      if (int level = numbered_heading(para)) {
        flush();
        while (!path.empty() && path.back().first >= level) path.pop_back();
        path.emplace_back(level, std::string(para));
        continue;
      }
      buf += para;
      buf += "\n\n";
    }
  }
  flush();
  if (doc.blocks.empty()) return Status::invalid_argument("PDF has no extractable text (scanned or damaged); skipped");
  std::string title(trim(utf8(pdf->get_title())));
  if (!title.empty()) doc.title = title;
  std::string author(trim(utf8(pdf->get_author())));
  if (!author.empty()) doc.metadata["author"] = author;
  doc.metadata["pages"] = std::to_string(pages);
  if (doc.title.empty()) {  // first line of the first page, when short
    std::string_view first = doc.blocks.front().text;
    first = trim(first.substr(0, first.find_first_of("\n")));
    if (first.size() <= 100) doc.title = std::string(first);
  }
  finish_file_document(doc, in);
  in.emit(std::move(doc));
  return Status::ok();
}

}  // namespace ragd::connectors
