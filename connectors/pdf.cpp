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

// A heading typeset without its underscores (texinfo draws them as rules
// in its headings: "asn1 check version" above "const char *
// asn1_check_version (...)") is the identifier its section's text spells:
// the heading's words joined by '_', found whole in the text. Renamed in
// that section only (the same path of headings), never elsewhere.
void restore_underscores(Document& doc) {
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::map<std::vector<std::string>, std::string> renamed;  // a section's path -> its heading's new name
  for (const Block& b : doc.blocks) {
    if (b.section_path.empty() || renamed.count(b.section_path)) continue;
    const std::string& h = b.section_path.back();
    if (h.size() > 80) continue;
    std::string joined;
    size_t words = 0;
    bool plain = true;
    for (size_t i = 0; i < h.size() && plain; ++i) {
      if (h[i] == ' ') continue;
      if (!std::isalnum(static_cast<unsigned char>(h[i]))) plain = false;
      if (i > 0 && h[i - 1] == ' ' && !joined.empty()) joined += '_';
      if (i == 0 || h[i - 1] == ' ') ++words;
      joined += h[i];
    }
    if (!plain || words < 2) continue;
    for (size_t at = b.text.find(joined); at != std::string::npos; at = b.text.find(joined, at + 1)) {
      const size_t end = at + joined.size();
      if ((at == 0 || !word_char(b.text[at - 1])) && (end == b.text.size() || !word_char(b.text[end]))) {
        renamed[b.section_path] = joined;
        break;
      }
    }
  }
  if (renamed.empty()) return;
  for (Block& b : doc.blocks) {
    const std::vector<std::string> original = b.section_path;
    for (size_t d = 1; d <= original.size(); ++d) {
      auto it = renamed.find(std::vector<std::string>(original.begin(), original.begin() + static_cast<long>(d)));
      if (it != renamed.end()) b.section_path[d - 1] = it->second;
    }
  }
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

// A font size to the half point: sizes that differ by less are one size.
double rounded(double size) { return std::round(size * 2) / 2; }

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
// new line. Words with no finite place or size are skipped. A page whose
// words are mostly rotated (a landscape table) is read as poppler lays out
// its text, line by line, without fonts (size 0); otherwise the few rotated
// words (watermarks, margin notes) are skipped.
std::vector<Line> page_lines(const poppler::page& page) {
  const std::vector<poppler::text_box> boxes = page.text_list(poppler::page::text_list_include_font);
  size_t rotated = 0;
  for (const poppler::text_box& box : boxes) rotated += box.rotation() != 0;
  if (rotated * 2 > boxes.size()) {
    std::vector<Line> lines;
    const std::string text = utf8(page.text(poppler::rectf(), poppler::page::non_raw_non_physical_layout));
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find_first_of("\n\f", pos);
      if (nl == std::string::npos) nl = text.size();
      Line l;
      l.text = std::string(trim(std::string_view(text).substr(pos, nl - pos)));
      l.top = l.bottom = static_cast<double>(lines.size());
      if (!l.text.empty()) lines.push_back(std::move(l));
      pos = nl + 1;
    }
    return lines;
  }
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
  for (const poppler::text_box& box : boxes) {
    if (box.rotation() != 0) continue;
    const std::string word = utf8(box.text());
    if (trim(word).empty()) continue;
    const poppler::rectf r = box.bbox();
    double size = box.has_font_info() ? box.get_font_size() : 0;
    if (!(size > 0)) size = r.height();
    if (!std::isfinite(r.left()) || !std::isfinite(r.right()) || !std::isfinite(r.top()) ||
        !std::isfinite(r.bottom()) || !std::isfinite(size) || !(size > 0) || size > 1e4)
      continue;
    const std::string font = box.has_font_info() ? box.get_font_name() : std::string();
    // The tolerance is the larger of the word's and the line's size, so that
    // a small raised mark (a footnote's number) stays on its line.
    const double tolerance = 0.5 * (lines.empty() ? size : std::max(size, lines.back().bottom - lines.back().top));
    const bool same_line = !lines.empty() && std::abs(r.bottom() - lines.back().bottom) < tolerance &&
                           r.left() >= lines.back().right - tolerance;
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

// Page furniture, blanked in place: among the first and last two lines of
// a page, one that only numbers the page, or a running header or footer: a
// line that repeats (digits aside) on the same edge (top or bottom) of three
// pages or more, and either on a quarter of the pages or with a number that
// changes from page to page ("Chapter 4: Function reference 18", "Page 3 of
// 12"). Never a monospaced line or one set larger than the body `body`.
void drop_page_furniture(std::vector<std::vector<Line>>& pages, double body) {
  constexpr size_t kEdge = 2;
  auto edges = [&](std::vector<Line>& lines, auto&& visit) {
    size_t seen_top = 0, seen_bottom = 0;
    std::vector<size_t> top;
    for (size_t i = 0; i < lines.size() && seen_top < kEdge; ++i)
      if (!lines[i].text.empty()) top.push_back(i), ++seen_top;
    for (size_t i = lines.size(); i > 0 && seen_bottom < kEdge; --i) {
      if (lines[i - 1].text.empty()) continue;
      ++seen_bottom;
      if (std::find(top.begin(), top.end(), i - 1) == top.end()) visit(lines[i - 1], 'b');
    }
    for (size_t i : top) visit(lines[i], 't');
  };
  auto may_be = [&](const Line& l) { return !l.mono && !(l.size > 0 && rounded(l.size) >= 1.12 * body); };
  std::map<std::string, size_t> seen;                  // edge + key -> pages
  std::map<std::string, std::set<std::string>> texts;  // edge + key -> its texts as written
  for (auto& lines : pages) {
    std::set<std::string> keys;
    edges(lines, [&](Line& line, char edge) {
      if (!may_be(line)) return;
      const std::string key = edge + furniture_key(line.text);
      if (keys.insert(key).second && texts[key].size() < 3) texts[key].insert(line.text);
    });
    for (const auto& k : keys) ++seen[k];
  }
  const size_t n = pages.size();
  for (auto& lines : pages) {
    edges(lines, [&](Line& line, char edge) {
      const std::string key = edge + furniture_key(line.text);
      const size_t count = may_be(line) ? seen[key] : 0;
      const bool running = count >= 3 && (count * 4 >= n || texts[key].size() >= 3);
      if (running || is_page_number(line.text)) line.text.clear();
    });
  }
}

// The bytes of the bullet that opens `line`: "•", "◦", "▪", "■", "●", "○",
// U+F0B7 (the Symbol font's bullet, as Word's PDFs have it), or "-", "–"
// and "*" before a capital (not a dash that a wrapped sentence or a range
// "– 2005" starts its line with); 0 when none.
size_t bullet_glyph(std::string_view line) {
  auto spaced = [&](size_t g) { return line.size() == g || line[g] == ' ' || line[g] == '\t'; };
  for (std::string_view g : {"\xE2\x80\xA2", "\xE2\x97\xA6", "\xE2\x96\xAA", "\xE2\x96\xA0", "\xE2\x97\x8F",
                             "\xE2\x97\x8B", "\xEF\x82\xB7"}) {
    if (line.starts_with(g) && spaced(g.size())) return g.size();
  }
  for (std::string_view g : {"-", "*", "\xE2\x80\x93"}) {
    if (!line.starts_with(g) || line.size() == g.size() || !spaced(g.size())) continue;
    const std::string_view rest = trim(line.substr(g.size()));
    if (!rest.empty() && std::isupper(static_cast<unsigned char>(rest[0]))) return g.size();
  }
  return 0;
}

// What the lines of a whole document say about its layout.
struct Layout {
  double body = 0;   // the font size of most characters
  double pitch = 0;  // the usual distance between the tops of body lines
  // Sizes larger than the body (by 12% or more), largest first: heading
  // levels 1-5; the rest share level 6.
  std::map<double, int, std::greater<>> heading_levels;
  bool styled = false;     // some heading is set larger or in bold
  bool mono_body = false;  // most characters are monospaced (a plain-text print): no code
};

constexpr int kMaxLevel = 6;

bool ends_sentence(std::string_view t) {
  return !t.empty() && (t.back() == '.' || t.back() == ':' || t.back() == '!' || t.back() == '?');
}

size_t letters(std::string_view t) {
  return static_cast<size_t>(std::count_if(t.begin(), t.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }));
}

Layout measure(const std::vector<std::vector<Line>>& pages) {
  Layout out;
  std::map<double, size_t> chars, pitches;
  size_t all = 0, mono = 0;
  for (const auto& lines : pages)
    for (const Line& l : lines) {
      if (l.size <= 0 || l.text.empty()) continue;  // read without fonts
      chars[rounded(l.size)] += l.text.size();
      all += l.text.size();
      mono += l.mono ? l.text.size() : 0;
    }
  out.mono_body = mono * 2 > all;
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
    for (const Line& l : lines) {
      if (l.size <= 0 || l.text.empty() || l.text.size() > 120) continue;
      if (rounded(l.size) >= 1.12 * out.body) sizes.insert(rounded(l.size));
      out.styled |= l.bold && !l.mono;
    }
  int level = 0;
  for (double size : sizes) out.heading_levels[size] = std::min(++level, kMaxLevel);
  out.styled |= !sizes.empty();
  return out;
}

// The title a first page sets in its largest type, at least 1.2 times the
// body's: the first line of that size (with two letters or more, not a
// numbered heading) and the lines of that size right after it (a title
// over two lines). They leave the page when they are the title: when the
// file names none (`take`), or names this one. Read before page furniture
// goes, since a title often repeats as the running header.
std::string take_title(std::vector<Line>& first_page, double body, const std::string& named) {
  auto candidate = [](const Line& l) { return l.size > 0 && letters(l.text) >= 2 && !numbered_heading(l.text); };
  double largest = 0;
  for (const Line& l : first_page)
    if (candidate(l)) largest = std::max(largest, rounded(l.size));
  if (largest < 1.2 * body) return {};
  size_t first = 0;
  while (first < first_page.size() && !(candidate(first_page[first]) && rounded(first_page[first].size) == largest))
    ++first;
  std::string title;
  size_t end = first;
  while (end < first_page.size() && rounded(first_page[end].size) == largest && title.size() < 200)
    title += (title.empty() ? "" : " ") + first_page[end++].text;
  if (!named.empty() && title != named) return {};
  for (size_t i = first; i < end; ++i) first_page[i].text.clear();
  return title;
}

// The level of a heading line (1 = the top), 0 for text. In a document whose
// headings are styled: a short line set larger than the body (by the rank
// of its size), a numbered line ("4.2 Passwords") in bold or larger type
// (level by its numbering), or a short line all in bold that stands alone
// (a gap or a sentence's end before it, none after it, text after it that
// does not go on in lower case), below the larger ones. In a document set in
// one type throughout, a numbered line alone.
int heading_level(const Line& l, const Line* prev, const Line* next, const Layout& layout) {
  if (l.text.size() > 120 || (l.mono && !layout.mono_body) || bullet_glyph(l.text) || is_page_number(l.text))
    return 0;
  if (letters(l.text) == 0) return 0;
  const double size = rounded(l.size);
  const bool larger = l.size > 0 && size >= 1.12 * layout.body;
  if (const int level = numbered_heading(l.text)) {
    if (!layout.styled || l.size <= 0 || l.bold || larger) return std::min(level, kMaxLevel);
    return 0;
  }
  if (l.size <= 0) return 0;
  if (auto it = layout.heading_levels.find(size); it != layout.heading_levels.end()) return it->second;
  const char last = l.text.back();
  const bool gap_before = prev == nullptr || ends_sentence(prev->text) || l.top - prev->top > 1.35 * layout.pitch;
  const bool alone = next == nullptr || !next->bold || next->top - l.top > 1.35 * layout.pitch;
  const bool goes_on = next != nullptr && std::islower(static_cast<unsigned char>(next->text[0])) &&
                       next->top - l.top <= 1.35 * layout.pitch;
  if (l.bold && !l.mono && gap_before && alone && !goes_on && l.text.size() <= 80 && size >= layout.body &&
      std::string_view(".,;:!?").find(last) == std::string_view::npos)
    return std::min(static_cast<int>(layout.heading_levels.size()) + 1, kMaxLevel);
  return 0;
}

// "1. Open the console", "2) Sign in": a numbered step, not a heading.
bool numbered_item(std::string_view t) {
  size_t i = 0;
  while (i < t.size() && i < 3 && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  return i > 0 && i + 1 < t.size() && (t[i] == '.' || t[i] == ')') && t[i + 1] == ' ';
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
  const double body = measure(page_text).body;
  if (!page_text.empty()) {
    std::string set = take_title(page_text.front(), body, title);
    if (title.empty()) title = std::move(set);
  }
  drop_page_furniture(page_text, body);
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
      if (const int level = heading_level(l, prev, next, layout)) {
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
      if (l.mono && !layout.mono_body) {
        if (code.empty()) {
          end_para();
          code_left = l.left;
          code_size = l.size;
        }
        const double indent = std::clamp((l.left - code_left) / std::max(1.0, 0.6 * code_size), 0.0, 40.0);
        code.push_back(std::string(static_cast<size_t>(std::lround(indent)), ' ') + l.text);
        prev = &l;
        continue;
      }
      if (!code.empty()) end_para();
      std::string text = l.text;
      bool item = false;
      if (const size_t g = bullet_glyph(text)) {
        std::string rest(trim(std::string_view(text).substr(g)));
        if (rest.empty() && next != nullptr && !bullet_glyph(next->text) && !heading_level(*next, &l, nullptr, layout)) {
          rest = next->text;
          ++i;
        }
        if (!rest.empty()) {
          text = "- " + rest;
          item = true;
        }
      }
      // A page's first line goes on with the paragraph the page before
      // left open (no sentence's end, or "exam-").
      item |= numbered_item(text);
      bool new_para = para.empty() || item || (prev == nullptr && ends_sentence(para));
      if (!new_para && prev != nullptr) {
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
  restore_underscores(doc);
  if (!title.empty()) doc.title = title;
  std::string author(trim(utf8(pdf->get_author())));
  if (!author.empty()) doc.metadata["author"] = author;
  doc.metadata["pages"] = std::to_string(pages);
  if (doc.title.empty()) {  // the first line of text of the first page, when short
    std::string_view text = doc.blocks.front().text;
    for (size_t pos = 0; pos < text.size();) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      const std::string_view line = trim(text.substr(pos, nl - pos));
      pos = nl + 1;
      if (line.empty() || line.starts_with("```") || line.starts_with("~~~")) continue;
      if (line.size() <= 100) doc.title = std::string(line);
      break;
    }
  }
  finish_file_document(doc, in);
  in.emit(std::move(doc));
  return Status::ok();
}

}  // namespace ragd::connectors
