// PDF files (poppler-cpp): the words of each page with their font and
// position become lines; lines become paragraphs, headings (numbered, or set
// larger or bold than the body text), list items and code blocks (a
// monospaced font); page furniture goes.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
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

// A line of a page as its words lay it out.
struct Line {
  std::string text;
  double size = 0;  // the font size of most of its characters
  double left = 0, right = 0, top = 0, bottom = 0;
  bool bold = false;  // every word in a bold face
  bool mono = false;  // every word in a monospaced face
};

bool bold_face(std::string_view font) {
  for (std::string_view k : {"Bold", "bold", "Black", "Heavy", "Semibold", "Demi", "CMB", "CMBX"})
    if (font.find(k) != std::string_view::npos) return true;
  return false;
}

bool mono_face(std::string_view font) {
  for (std::string_view k : {"Mono", "mono", "NimbusMon", "Courier", "Consola", "Typewriter", "CMTT", "CMSLTT", "CMITT",
                             "SFTT", "Menlo", "Monaco", "Inconsolata", "LucidaConsole", "Code"})
    if (font.find(k) != std::string_view::npos) return true;
  return false;
}

// The lines of a page from its words in reading order: a word on another
// baseline, or back to the left of the line so far (a column), starts a
// new line. Rotated words (watermarks, margin notes) are skipped.
std::vector<Line> page_lines(const poppler::page& page) {
  std::vector<Line> lines;
  std::map<long, size_t> chars;  // per line: size in tenths of a point -> characters
  bool space_after = false;
  auto close = [&] {
    if (lines.empty()) return;
    size_t best = 0;
    for (const auto& [tenths, n] : chars)
      if (n > best) best = n, lines.back().size = static_cast<double>(tenths) / 10.0;
    chars.clear();
  };
  for (const poppler::text_box& box : page.text_list(poppler::page::text_list_include_font)) {
    if (box.rotation() != 0) continue;
    const std::string word = utf8(box.text());
    if (trim(word).empty()) continue;
    const poppler::rectf r = box.bbox();
    const double size = box.has_font_info() && box.get_font_size() > 0 ? box.get_font_size() : r.height();
    const std::string font = box.has_font_info() ? box.get_font_name() : std::string();
    const bool same_line = !lines.empty() && std::abs(r.bottom() - lines.back().bottom) < 0.5 * size &&
                           r.left() >= lines.back().right - 0.5 * size;
    if (!same_line) {
      close();
      Line l;
      l.left = r.left();
      l.top = r.top();
      l.bottom = r.bottom();
      l.bold = l.mono = true;
      lines.push_back(std::move(l));
    } else if (space_after || r.left() - lines.back().right > 0.15 * size) {
      lines.back().text += ' ';
    }
    Line& l = lines.back();
    l.text += word;
    l.right = r.right();
    l.top = std::min(l.top, r.top());
    l.bold &= bold_face(font);
    l.mono &= mono_face(font);
    chars[std::lround(size * 10)] += word.size();
    space_after = box.has_space_after();
  }
  close();
  for (Line& l : lines) l.text = std::string(trim(l.text));
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
// three pages or more (running headers and footers: the document's title,
// "Confidential", "Page 3 of 12", a chapter's "Chapter 4: Function
// reference 18"). Blanked in place.
void drop_page_furniture(std::vector<std::vector<Line>>& pages) {
  constexpr size_t kEdge = 2;
  auto edges = [&](std::vector<Line>& lines, auto&& visit) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < lines.size() && idx.size() < kEdge; ++i)
      if (!lines[i].text.empty()) idx.push_back(i);
    std::vector<size_t> tail;
    for (size_t i = lines.size(); i > 0 && tail.size() < kEdge; --i)
      if (!lines[i - 1].text.empty()) tail.push_back(i - 1);
    for (size_t i : tail)
      if (std::find(idx.begin(), idx.end(), i) == idx.end()) idx.push_back(i);
    for (size_t i : idx) visit(lines[i].text);
  };
  std::map<std::string, size_t> seen;  // key -> pages it is on an edge of
  for (auto& lines : pages) {
    std::set<std::string> keys;
    edges(lines, [&](std::string& line) { keys.insert(furniture_key(line)); });
    for (const auto& k : keys) ++seen[k];
  }
  for (auto& lines : pages) {
    edges(lines, [&](std::string& line) {
      const bool running = seen[furniture_key(line)] >= 3;
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

// What the lines of a whole document say about its layout.
struct Layout {
  double body = 0;   // the font size of most characters
  double pitch = 0;  // the usual distance between the tops of body lines
  std::vector<double> heading_sizes;  // larger than the body, largest first
};

double rounded(double size) { return std::round(size * 2) / 2; }

bool ends_sentence(std::string_view t) {
  return !t.empty() && (t.back() == '.' || t.back() == ':' || t.back() == '!' || t.back() == '?');
}

Layout measure(const std::vector<std::vector<Line>>& pages) {
  Layout out;
  std::map<double, size_t> chars, pitches;
  for (const auto& lines : pages)
    for (const Line& l : lines) chars[rounded(l.size)] += l.text.size();
  size_t best = 0;
  for (const auto& [size, n] : chars)
    if (n > best) best = n, out.body = size;
  for (const auto& lines : pages)
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      const double d = lines[i + 1].top - lines[i].top;
      if (rounded(lines[i].size) == out.body && d > 0 && d < 3 * out.body) ++pitches[rounded(d)];
    }
  best = 0;
  for (const auto& [d, n] : pitches)
    if (n > best) best = n, out.pitch = d;
  std::set<double, std::greater<>> sizes;
  for (const auto& lines : pages)
    for (const Line& l : lines)
      if (!l.text.empty() && l.text.size() <= 120 && rounded(l.size) >= 1.12 * out.body) sizes.insert(rounded(l.size));
  out.heading_sizes.assign(sizes.begin(), sizes.end());
  return out;
}

// The title a first page sets in its largest type, at least 1.2 times the
// body's: the first line of that size and the lines of that size right
// after it (a title over two lines), taken out of the page. Empty when the
// page has no such line. Read before page furniture goes, since a title
// often repeats as the running header.
std::string take_title(std::vector<Line>& first_page, double body) {
  double largest = 0;
  for (const Line& l : first_page) largest = std::max(largest, rounded(l.size));
  if (largest < 1.2 * body) return {};
  std::string title;
  size_t i = 0;
  while (i < first_page.size() && rounded(first_page[i].size) != largest) ++i;
  while (i < first_page.size() && rounded(first_page[i].size) == largest && title.size() < 200) {
    title += (title.empty() ? "" : " ") + first_page[i].text;
    first_page[i].text.clear();
    ++i;
  }
  return title;
}

// The level of a heading line (1 = the top), 0 for text: a numbered heading
// ("4.2 Passwords"), a short line set larger than the body (by the rank of
// its size), or a short line all in bold standing alone (below the larger
// ones).
int heading_level(const Line& l, const Line* next, const Layout& layout) {
  if (l.text.size() > 120 || l.mono || bullet_glyph(l.text) || is_page_number(l.text)) return 0;
  if (std::none_of(l.text.begin(), l.text.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }))
    return 0;
  if (int level = numbered_heading(l.text)) return level;
  const double size = rounded(l.size);
  for (size_t i = 0; i < layout.heading_sizes.size(); ++i)
    if (size == layout.heading_sizes[i]) return static_cast<int>(i) + 1;
  const char last = l.text.back();
  const bool alone = next == nullptr || !next->bold || next->top - l.top > 1.35 * layout.pitch;
  if (l.bold && alone && l.text.size() <= 80 && size >= layout.body && last != '.' && last != ',' && last != ';' &&
      last != ':')
    return static_cast<int>(layout.heading_sizes.size()) + 1;
  return 0;
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
  std::vector<std::vector<Line>> page_text;
  page_text.reserve(static_cast<size_t>(std::max(pages, 0)));
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (page) page_text.push_back(page_lines(*page));
  }
  std::string title(trim(utf8(pdf->get_title())));
  if (!page_text.empty()) {
    std::string set = take_title(page_text.front(), measure(page_text).body);
    if (title.empty()) title = std::move(set);
  }
  drop_page_furniture(page_text);
  for (auto& lines : page_text)
    std::erase_if(lines, [](const Line& l) { return l.text.empty() || is_contents_line(l.text); });
  const Layout layout = measure(page_text);

  // Headings open sections (kept across pages); other paragraphs gather
  // under the current heading path.
  std::vector<std::pair<int, std::string>> path;
  std::string buf;   // the current block's paragraphs
  std::string para;  // the paragraph being joined
  std::vector<std::string> code;  // the code block being gathered
  double code_left = 0, code_size = 0;
  auto end_para = [&] {
    if (!code.empty()) {
      std::string lines;
      for (const auto& c : code) lines += c + "\n";
      buf += code_fence("", lines) + "\n";
      code.clear();
    }
    if (!trim(para).empty()) buf += std::string(trim(para)) + "\n\n";
    para.clear();
  };
  auto flush = [&] {
    end_para();
    if (trim(buf).empty()) return buf.clear();
    Block b;
    for (const auto& [level, text] : path) b.section_path.push_back(text);
    b.text = std::string(trim(buf));
    doc.blocks.push_back(std::move(b));
    buf.clear();
  };
  for (size_t p = 0; p < page_text.size(); ++p) {
    const std::vector<Line>& lines = page_text[p];
    // The width of the page's body text: a line well short of it that ends
    // a sentence ends its paragraph.
    std::vector<double> widths;
    for (const Line& l : lines)
      if (rounded(l.size) == layout.body && !l.mono) widths.push_back(l.right - l.left);
    std::sort(widths.begin(), widths.end());
    const double width = widths.empty() ? 0 : widths[widths.size() * 3 / 4];
    const Line* prev = nullptr;
    for (size_t i = 0; i < lines.size(); ++i) {
      const Line& l = lines[i];
      const Line* next = i + 1 < lines.size() ? &lines[i + 1] : nullptr;
      if (const int level = heading_level(l, next, layout)) {
        // A heading wrapped over two lines of the same size continues.
        if (prev != nullptr && !path.empty() && buf.empty() && para.empty() && code.empty() &&
            rounded(prev->size) == rounded(l.size) && path.back().first == level && !numbered_heading(l.text) &&
            l.top - prev->top <= 1.35 * std::max(layout.pitch, l.size)) {
          path.back().second += " " + l.text;
          prev = &l;
          continue;
        }
        flush();
        while (!path.empty() && path.back().first >= level) path.pop_back();
        path.emplace_back(level, l.text);
        prev = &l;
        continue;
      }
      if (l.mono) {
        if (code.empty()) {
          end_para();
          code_left = l.left;
          code_size = l.size;
        }
        const double indent = std::max(0.0, l.left - code_left) / std::max(1.0, 0.6 * code_size);
        code.push_back(std::string(static_cast<size_t>(std::lround(indent)), ' ') + l.text);
        prev = &l;
        continue;
      }
      if (!code.empty()) end_para();
      std::string text = l.text;
      bool item = false;
      if (const size_t g = bullet_glyph(text)) {
        std::string rest(trim(std::string_view(text).substr(g)));
        if (rest.empty() && next != nullptr && !bullet_glyph(next->text) && !heading_level(*next, nullptr, layout)) {
          rest = next->text;
          ++i;
        }
        if (!rest.empty()) {
          text = "- " + rest;
          item = true;
        }
      }
      bool new_para = para.empty() || item || prev == nullptr;
      if (!new_para) {
        const bool gap = layout.pitch > 0 && l.top - prev->top > 1.35 * layout.pitch;
        const bool back_up = l.top < prev->top;  // a new column
        const bool short_end = width > 0 && prev->right - prev->left < 0.7 * width && ends_sentence(prev->text);
        const bool indented = l.left > prev->left + 1.5 * layout.body && ends_sentence(prev->text);
        new_para = gap || back_up || short_end || indented;
      }
      if (new_para) {
        end_para();
        para = text;
      } else if (para.back() == '-' && para.size() >= 2 && std::isalpha(static_cast<unsigned char>(para[para.size() - 2])) &&
                 std::islower(static_cast<unsigned char>(text[0]))) {
        para.pop_back();  // "exam-" "ple"
        para += text;
      } else {
        para += ' ' + text;
      }
      prev = &l;
    }
  }
  flush();
  if (doc.blocks.empty()) return Status::invalid_argument("PDF has no extractable text (scanned or damaged); skipped");
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
