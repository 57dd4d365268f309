// PDF files (poppler-cpp): text per page, lines joined into paragraphs.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

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

// The visual lines of a page's text, trimmed, blank ones kept (they end
// paragraphs).
std::vector<std::string> page_lines(const std::string& page) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < page.size()) {
    size_t nl = page.find_first_of("\n\f", pos);
    if (nl == std::string::npos) nl = page.size();
    lines.emplace_back(trim(std::string_view(page).substr(pos, nl - pos)));
    pos = nl + 1;
  }
  return lines;
}

bool is_roman(std::string_view s) {
  if (s.empty() || s.size() > 6) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return c == 'i' || c == 'v' || c == 'x' || c == 'l';
  });
}

// A line that only numbers its page: "16", "- 7 -", "iv", "Page 3",
// "Page 3 of 10", "3 / 10", "3 of 10".
bool is_page_number(std::string_view line) {
  std::string words;
  for (char c : line) {
    if (std::isalnum(static_cast<unsigned char>(c))) words += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!words.empty() && words.back() != ' ') words += ' ';
  }
  while (!words.empty() && words.back() == ' ') words.pop_back();
  if (words.empty()) return false;
  std::vector<std::string_view> w;
  for (size_t pos = 0; pos < words.size();) {
    size_t sp = words.find(' ', pos);
    if (sp == std::string::npos) sp = words.size();
    w.push_back(std::string_view(words).substr(pos, sp - pos));
    pos = sp + 1;
  }
  auto number = [](std::string_view x) {
    return !x.empty() && x.size() <= 5 && std::all_of(x.begin(), x.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  size_t i = 0;
  if (w[0] == "page" || w[0] == "p") ++i;
  if (i >= w.size() || !(number(w[i]) || (i == 0 && w.size() == 1 && is_roman(w[i])))) return false;
  ++i;
  if (i == w.size()) return true;
  if (w[i] == "of") ++i;
  return i + 1 == w.size() && number(w[i]);
}

// The key a running header or footer has on every page: lower case,
// digits as '#' ("Shared MIME-info Database", "Page # of #", "Policy v2 - #").
std::string furniture_key(std::string_view line) {
  std::string key;
  for (char c : line) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      if (key.empty() || key.back() != '#') key += '#';
    } else if (c == ' ' || c == '\t') {
      if (!key.empty() && key.back() != ' ') key += ' ';
    } else {
      key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return key;
}

// A table of contents' line: a title, dot leaders, a page number
// ("2.4. The glob files ........ 7").
bool is_contents_line(std::string_view line) {
  size_t end = line.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(line[end - 1]))) --end;
  if (end == line.size()) return false;
  std::string_view before = trim(line.substr(0, end));
  size_t dots = 0;
  for (;;) {
    if (before.ends_with('.')) {
      ++dots;
      before.remove_suffix(1);
    } else if (before.ends_with("\xE2\x80\xA6")) {  // U+2026 "…"
      dots += 3;
      before.remove_suffix(3);
    } else if (before.ends_with(' ')) {
      before.remove_suffix(1);
    } else {
      break;
    }
  }
  return dots >= 4 && !before.empty();
}

// Page furniture: the lines among the first and last two of a page that
// only number it, or that repeat (digits aside) at the top or the bottom of
// at least half the pages of a document of three pages or more (running
// headers and footers: the document's title, "Confidential", "Page 3 of
// 12"). Blanked in place.
void drop_page_furniture(std::vector<std::vector<std::string>>& pages) {
  constexpr size_t kEdge = 2;
  auto edges = [&](std::vector<std::string>& lines, auto&& visit) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < lines.size() && idx.size() < kEdge; ++i)
      if (!lines[i].empty()) idx.push_back(i);
    std::vector<size_t> tail;
    for (size_t i = lines.size(); i > 0 && tail.size() < kEdge; --i)
      if (!lines[i - 1].empty()) tail.push_back(i - 1);
    for (size_t i : tail)
      if (std::find(idx.begin(), idx.end(), i) == idx.end()) idx.push_back(i);
    for (size_t i : idx) visit(lines[i]);
  };
  std::map<std::string, size_t> seen;  // key -> pages it is on an edge of
  for (auto& lines : pages) {
    std::set<std::string> keys;
    edges(lines, [&](std::string& line) { keys.insert(furniture_key(line)); });
    for (const auto& k : keys) ++seen[k];
  }
  const size_t n = pages.size();
  for (auto& lines : pages) {
    edges(lines, [&](std::string& line) {
      const bool running = n >= 3 && seen[furniture_key(line)] * 2 >= n;
      if (running || is_page_number(line)) line.clear();
    });
  }
}

// The bytes of the bullet that opens `line`: "•", "◦", "▪", "■", "●", "○",
// U+F0B7 (the Symbol font's bullet, as Word's PDFs have it), or "-", "–"
// and "*" before a capital or a digit (not a dash that a wrapped sentence
// starts its line with); 0 when none.
size_t bullet_glyph(std::string_view line) {
  auto spaced = [&](size_t g) { return line.size() == g || line[g] == ' ' || line[g] == '\t'; };
  for (std::string_view g : {"\xE2\x80\xA2", "\xE2\x97\xA6", "\xE2\x96\xAA", "\xE2\x96\xA0", "\xE2\x97\x8F",
                             "\xE2\x97\x8B", "\xEF\x82\xB7"}) {
    if (line.starts_with(g) && spaced(g.size())) return g.size();
  }
  for (std::string_view g : {"-", "*", "\xE2\x80\x93"}) {
    if (!line.starts_with(g) || line.size() == g.size() || !spaced(g.size())) continue;
    const std::string_view rest = trim(line.substr(g.size()));
    if (!rest.empty() && (std::isupper(static_cast<unsigned char>(rest[0])) || std::isdigit(static_cast<unsigned char>(rest[0]))))
      return g.size();
  }
  return 0;
}

// PDF text comes as visual lines. Lines are joined with spaces; a blank line
// or a line well short of the longest ends a paragraph; "exam-\nple" is
// rejoined. A bulleted line starts a list item ("- "), and a bullet drawn
// on a line of its own goes with the line after it. Lines of a table of
// contents are dropped.
std::string join_lines(const std::vector<std::string>& page) {
  std::vector<std::string> lines;
  size_t longest = 0;
  for (size_t i = 0; i < page.size(); ++i) {
    std::string_view line = page[i];
    if (is_contents_line(line)) continue;
    if (const size_t g = bullet_glyph(line)) {
      std::string_view rest = trim(line.substr(g));
      size_t next = i + 1;
      while (rest.empty() && next < page.size() && page[next].empty()) ++next;
      if (rest.empty() && next < page.size() && !bullet_glyph(page[next])) {
        rest = page[next];
        i = next;
      }
      if (!rest.empty()) {
        lines.emplace_back();  // the item opens a paragraph of its own
        lines.push_back("- " + std::string(rest));
        longest = std::max(longest, lines.back().size());
        continue;
      }
    }
    lines.emplace_back(line);
    longest = std::max(longest, line.size());
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
  std::vector<std::vector<std::string>> page_text;
  page_text.reserve(static_cast<size_t>(std::max(pages, 0)));
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (!page) continue;
    page_text.push_back(page_lines(utf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout))));
  }
  drop_page_furniture(page_text);
  for (const auto& lines : page_text) {
    std::string text = join_lines(lines);
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
