// reStructuredText files as Markdown, which then take the Markdown road:
// the chunker reads the '#' headings and code fences made here. Covers what
// Sphinx documentation uses: sections, literal and code blocks,
// admonitions and other directives, lists, definition and field lists,
// simple and grid tables, and inline markup. What RST calls an error
// (a short underline, a bad indent) is read as text, never refused.
#include <algorithm>
#include <cctype>
#include <map>

#include "connectors/internal.h"

namespace ragd::connectors {

namespace {

// Indented blocks nested deeper than this are kept as plain text: the
// converter is recursive and input is untrusted.
constexpr int kMaxNesting = 32;

// Role and substitution names longer than this are not looked for, so a
// long run of ':' or '|' stays linear.
constexpr size_t kMaxNameBytes = 64;

using Lines = std::vector<std::string_view>;

// Sphinx's file-wide settings, not a reader's metadata.
constexpr std::string_view kSphinxFields[] = {"orphan", "nocomments", "nosearch", "tocdepth"};

// The text with tabs expanded to 8-column stops (RST's rule) and CR dropped.
std::string expand_tabs(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t column = 0;
  for (char c : text) {
    if (c == '\r') continue;
    if (c == '\t') {
      const size_t n = 8 - column % 8;
      out.append(n, ' ');
      column += n;
      continue;
    }
    out += c;
    column = c == '\n' ? 0 : column + 1;
  }
  return out;
}

// Lines without their trailing blanks (an RST title's underline is measured
// against its text).
Lines rst_lines(std::string_view text) {
  Lines out = split_lines(text);
  for (std::string_view& l : out)
    while (!l.empty() && l.back() == ' ') l.remove_suffix(1);
  return out;
}

bool blank(std::string_view line) { return line.find_first_not_of(' ') == std::string_view::npos; }

size_t indent_of(std::string_view line) {
  size_t n = line.find_first_not_of(' ');
  return n == std::string_view::npos ? line.size() : n;
}

// Characters as a reader counts them: UTF-8 continuation bytes are not.
size_t width(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

bool is_adornment_char(char c) { return std::ispunct(static_cast<unsigned char>(c)) != 0; }

// A line of one repeated punctuation character ("=====", "~~~~").
bool is_adornment(std::string_view line) {
  if (line.size() < 2 || line == "::" || !is_adornment_char(line[0])) return false;
  return line.find_first_not_of(line[0]) == std::string_view::npos;
}

// The end of the block indented under lines[from - 1]: lines that are
// blank or indented by at least `min_indent`. Trailing blank lines are
// not part of it.
size_t indented_end(const Lines& lines, size_t from, size_t min_indent) {
  size_t end = from, last = from;
  for (; end < lines.size(); ++end) {
    if (blank(lines[end])) continue;
    if (indent_of(lines[end]) < min_indent) break;
    last = end + 1;
  }
  return last;
}

// lines[from, to) without their common indentation.
Lines dedent(const Lines& lines, size_t from, size_t to) {
  size_t common = std::string_view::npos;
  for (size_t i = from; i < to; ++i)
    if (!blank(lines[i])) common = std::min(common, indent_of(lines[i]));
  Lines out;
  for (size_t i = from; i < to; ++i) out.push_back(blank(lines[i]) ? std::string_view() : lines[i].substr(common));
  return out;
}
// ":caption: x" directive option lines at the top of a directive's body;
// returns the first line after them and the blank lines that follow.
size_t skip_options(const Lines& body, size_t i) {
  while (i < body.size() && !body[i].empty() && body[i][0] == ':') {
    size_t colon = body[i].find(':', 1);
    if (colon == std::string_view::npos || colon == 1 || (colon + 1 < body[i].size() && body[i][colon + 1] != ' ')) break;
    ++i;
  }
  while (i < body.size() && blank(body[i])) ++i;
  return i;
}

// A list enumerator: "1.", "#.", "(a)", "iv)"; 0 when `line` has none.
// `label` is the enumerator as written.
size_t enumerator(std::string_view line, std::string_view& label) {
  size_t i = line.starts_with('(') ? 1 : 0;
  size_t start = i;
  if (i < line.size() && line[i] == '#') {
    ++i;
  } else if (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) {
    while (i < line.size() && i - start < 9 && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  } else {
    while (i < line.size() && i - start < 5 && std::isalpha(static_cast<unsigned char>(line[i]))) ++i;
    std::string_view word = line.substr(start, i - start);
    const bool roman = word.find_first_not_of("ivxlcdm") == std::string_view::npos ||
                       word.find_first_not_of("IVXLCDM") == std::string_view::npos;
    if (word.empty() || (word.size() > 1 && !roman)) return 0;
  }
  if (i == start || i >= line.size()) return 0;
  const char close = line[i];
  if (start == 1 ? close != ')' : (close != '.' && close != ')')) return 0;
  ++i;
  if (i < line.size() && line[i] != ' ') return 0;
  label = line.substr(0, i);
  while (i < line.size() && line[i] == ' ') ++i;
  return i < line.size() ? i : 0;  // "T." alone is a paragraph
}

// ":name: value" at the start of a line (not a role: ":ref:`x`").
size_t field_marker(std::string_view line, std::string_view& name) {
  if (line.size() < 3 || line[0] != ':' || line[1] == ' ') return 0;
  size_t colon = line.find(':', 1);
  while (colon != std::string_view::npos && line[colon - 1] == '\\') colon = line.find(':', colon + 1);
  if (colon == std::string_view::npos || colon == 1) return 0;
  if (colon + 1 < line.size() && line[colon + 1] != ' ') return 0;
  name = line.substr(1, colon - 1);
  if (name.find('`') != std::string_view::npos) return 0;
  size_t i = colon + 1;
  while (i < line.size() && line[i] == ' ') ++i;
  return i;
}

bool is_grid_border(std::string_view line) {
  return line.size() >= 3 && line[0] == '+' && (line[1] == '-' || line[1] == '=') && line.back() == '+' &&
         line.find_first_not_of("+-=") == std::string_view::npos;
}

// "=====  =====": two or more columns of '='.
bool is_simple_border(std::string_view line) {
  if (line.empty() || line[0] != '=' || line.find_first_not_of("= ") != std::string_view::npos) return false;
  return line.find(' ') != std::string_view::npos;
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80); }

// Per-document state: section styles in the order they first appear (that
// order gives their levels), substitutions, the default code language.
struct RstDocument {
  std::vector<std::pair<char, bool>> styles;  // adornment character, overlined
  std::map<std::string, std::string, std::less<>> substitutions;
  std::string highlight;  // ".. highlight:: lang"
  int level = 0;          // of the last section title
  bool body_seen = false;  // docinfo fields come before any body element
  std::vector<std::pair<std::string, std::string>> docinfo;
};

// Inline markup as Markdown: ``literal`` -> `literal`, `text <url>`_ ->
// text, :role:`x` as MyST roles, |sub| -> its replacement, ref_ -> ref.
class InlineConverter {
 public:
  InlineConverter(std::string_view text, const RstDocument& doc, bool substitute)
      : s_(text), doc_(doc), substitute_(substitute) {}

  std::string run() {
    while (i_ < s_.size()) step();
    return std::move(out_);
  }

 private:
  void step() {
    const char c = s_[i_];
    if (c == '\\') return escape();
    if (c == '`' && s_.substr(i_, 2) == "``" && literal()) return;
    if (c == '`' && interpreted()) return;
    if (c == ':' && role()) return;
    if (c == '_' && s_.substr(i_, 2) == "_`" && inline_target()) return;
    if (c == '|' && substitution()) return;
    if (c == '[' && footnote_reference()) return;
    if (c == '_' && simple_reference_end()) return;
    if (!is_word_char(c) && c != '_') word_start_ = i_ + 1;
    out_ += c;
    ++i_;
  }

  void escape() {
    if (i_ + 1 >= s_.size()) { ++i_; return; }
    const char next = s_[i_ + 1];
    if (next == ' ' || next == '\n') {  // escaped whitespace joins, as in "``x``\ s"
    } else if (std::ispunct(static_cast<unsigned char>(next))) {
      out_ += '\\';  // Markdown reads the same escape
      out_ += next;
    } else {
      out_ += next;
    }
    i_ += 2;
  }

  // The next `close` at or after `from`; remembers a failed search, since
  // every later search for it fails too.
  size_t find_close(std::string_view close, size_t from, bool& exhausted) {
    if (exhausted) return std::string_view::npos;
    size_t at = s_.find(close, from);
    if (at == std::string_view::npos) exhausted = true;
    return at;
  }

  static std::string code(std::string_view text) {
    if (text.find('`') != std::string_view::npos) return "`` " + std::string(text) + " ``";
    return "`" + std::string(text) + "`";
  }

  bool literal() {
    size_t end = find_close("``", i_ + 2, no_double_);
    if (end == std::string_view::npos || end == i_ + 2) return false;
    out_ += code(s_.substr(i_ + 2, end - i_ - 2));
    i_ = end + 2;
    return true;
  }

  // `text`, `text <url>`_, `name`__: a reference shows its text; the
  // default role stays `text`, which Markdown reads as code, as most
  // authors mean it.
  bool interpreted() {
    size_t end = find_close("`", i_ + 1, no_single_);
    if (end == std::string_view::npos || end == i_ + 1) return false;
    std::string_view content = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    if (i_ < s_.size() && s_[i_] == '_') {
      i_ += s_.substr(i_, 2) == "__" ? 2 : 1;
      out_ += reference_text(content);
    } else {
      out_ += code(content);
    }
    return true;
  }

  static std::string reference_text(std::string_view content) {
    if (content.ends_with('>')) {
      size_t lt = content.rfind('<');
      if (lt != std::string_view::npos) {
        std::string_view text = trim(content.substr(0, lt));
        return std::string(text.empty() ? content.substr(lt + 1, content.size() - lt - 2) : text);
      }
    }
    return std::string(content);
  }

  bool role() {
    size_t n = 0;
    while (n < kMaxNameBytes && i_ + 1 + n < s_.size() && role_name_length(s_.substr(i_ + 1 + n, 1), 0) == 1) ++n;
    // The name run takes the closing ':' too: ":py:func:`x`".
    if (n < 2 || s_[i_ + n] != ':' || i_ + 1 + n >= s_.size() || s_[i_ + 1 + n] != '`') return false;
    size_t end = find_close("`", i_ + n + 2, no_single_);
    if (end == std::string_view::npos) return false;
    out_ += role_to_markdown(s_.substr(i_ + 1, n - 1), s_.substr(i_ + n + 2, end - i_ - n - 2));
    i_ = end + 1;
    return true;
  }

  bool inline_target() {
    size_t end = find_close("`", i_ + 2, no_single_);
    if (end == std::string_view::npos) return false;
    out_ += s_.substr(i_ + 2, end - i_ - 2);
    i_ = end + 1;
    return true;
  }

  bool substitution() {
    if (!substitute_ || doc_.substitutions.empty()) return false;
    size_t end = s_.substr(0, i_ + kMaxNameBytes).find('|', i_ + 1);
    if (end == std::string_view::npos) return false;
    auto it = doc_.substitutions.find(s_.substr(i_ + 1, end - i_ - 1));
    if (it == doc_.substitutions.end()) return false;
    out_ += InlineConverter(it->second, doc_, false).run();
    i_ = end + 1;
    while (i_ < s_.size() && s_[i_] == '_') ++i_;  // |name|_ links it
    return true;
  }

  // "[1]_", "[#note]_", "[CIT2002]_" -> "[1]".
  bool footnote_reference() {
    size_t end = s_.substr(0, i_ + kMaxNameBytes).find(']', i_ + 1);
    if (end == std::string_view::npos || end + 1 >= s_.size() || s_[end + 1] != '_') return false;
    out_ += s_.substr(i_, end + 1 - i_);
    i_ = end + 2;
    return true;
  }

  // "PyPI_" and "PyPI__" (a reference by name) lose their underscores;
  // "__init__" and "snake_case" do not.
  bool simple_reference_end() {
    if (i_ == 0 || !is_word_char(s_[i_ - 1]) || word_start_ >= i_ || s_[word_start_] == '_') return false;
    size_t after = i_ + (s_.substr(i_, 2) == "__" ? 2 : 1);
    if (after < s_.size() && (is_word_char(s_[after]) || s_[after] == '_')) return false;
    i_ = after;
    return true;
  }

  std::string_view s_;
  const RstDocument& doc_;
  bool substitute_;
  std::string out_;
  size_t i_ = 0;
  size_t word_start_ = 0;
  bool no_double_ = false, no_single_ = false;
};

// A block of RST lines (a document, or the content of a list item or
// directive) as Markdown, one construct at a time.
class RstConverter {
 public:
  RstConverter(RstDocument& doc, int depth) : doc_(doc), depth_(depth) {}

  std::string convert(const Lines& lines) {
    for (size_t i = 0; i < lines.size();) i = block(lines, i);
    return std::move(out_);
  }

 private:
  size_t block(const Lines& lines, size_t i) {
    std::string_view line = lines[i];
    if (blank(line)) return i + 1;
    if (indent_of(line) > 0) return quote(lines, i);
    if (depth_ == 0)
      if (size_t next = section(lines, i)) return next;
    if (line == ".." || line.starts_with(".. ")) return explicit_markup(lines, i);
    if (line.starts_with(">>>")) return doctest(lines, i);
    if (is_grid_border(line)) return grid_table(lines, i);
    if (is_simple_border(line)) return simple_table(lines, i);
    if (line[0] == '|' && (line.size() == 1 || line[1] == ' ')) return line_block(lines, i);
    if ((line[0] == '-' || line[0] == '*' || line[0] == '+') && (line.size() == 1 || line[1] == ' '))
      return list_item(lines, i, line.find_first_not_of(' ', 1), "- ");
    std::string_view label, name;
    if (size_t col = enumerator(line, label); col > 0 && starts_list(lines, i)) return list_item(lines, i, col, label);
    if (size_t col = field_marker(line, name)) return field(lines, i, col, name);
    if (is_adornment(line) && (i + 1 == lines.size() || blank(lines[i + 1]))) return i + 1;  // a transition
    return paragraph(lines, i);
  }

  // Appends a block of Markdown with a blank line before it.
  void add(std::string_view md, bool body = true) {
    md = trim(md);
    if (md.empty()) return;
    if (!out_.empty()) out_ += "\n";
    out_ += md;
    out_ += '\n';
    if (body) doc_.body_seen = true;
    last_was_item_ = false;
  }

  std::string inline_text(std::string_view text) const { return InlineConverter(text, doc_, true).run(); }

  // The content of a list item, directive or quote, converted on its own.
  std::string nested(const Lines& lines) {
    if (depth_ + 1 >= kMaxNesting) return join_lines(lines);
    return RstConverter(doc_, depth_ + 1).convert(lines);
  }

  // A title underlined, or over- and underlined, with one punctuation
  // character at least as long as the title. Returns the next line, or 0.
  size_t section(const Lines& lines, size_t i) {
    const std::string_view line = lines[i];
    if (is_adornment(line) && i + 2 < lines.size() && !blank(lines[i + 1]) && lines[i + 2] == line &&
        width(trim(lines[i + 1])) <= line.size()) {
      heading(trim(lines[i + 1]), line[0], true);
      return i + 3;
    }
    if (is_adornment(line) || i + 1 >= lines.size()) return 0;
    const std::string_view under = lines[i + 1];
    if (!is_adornment(under) || under.size() < width(line)) return 0;
    heading(line, under[0], false);
    return i + 2;
  }

  void heading(std::string_view title, char ch, bool overline) {
    auto style = std::find(doc_.styles.begin(), doc_.styles.end(), std::pair(ch, overline));
    const size_t index = static_cast<size_t>(style - doc_.styles.begin());
    if (style == doc_.styles.end()) doc_.styles.emplace_back(ch, overline);
    doc_.level = static_cast<int>(std::min<size_t>(index + 1, 6));
    add(std::string(static_cast<size_t>(doc_.level), '#') + " " + inline_text(title), false);
  }

  // An indented block that no construct above introduced: a block quote,
  // read as prose.
  size_t quote(const Lines& lines, size_t i) {
    const size_t end = indented_end(lines, i, 1);
    add(nested(dedent(lines, i, end)));
    return end;
  }

  size_t paragraph(const Lines& lines, size_t i) {
    size_t end = i;
    std::string text;
    for (; end < lines.size() && !blank(lines[end]) && indent_of(lines[end]) == 0; ++end) {
      if (end > i && is_adornment(lines[end]) && lines[end].size() >= 3) continue;  // a short underline
      if (!text.empty()) text += '\n';
      text += lines[end];
    }
    if (end == i + 1 && end < lines.size() && !blank(lines[end]) && !text.ends_with("::"))
      return definition(lines, i);
    if (text.ends_with("::")) return literal_paragraph(lines, end, text);
    add(inline_text(text));
    return end;
  }

  // "Paragraph::" then an indented block: the block is code. The marker
  // becomes ':' after a word, disappears after a space or alone.
  size_t literal_paragraph(const Lines& lines, size_t end, std::string text) {
    text.resize(text.size() - 2);
    if (!text.empty() && text.back() != ' ' && text.back() != '\n') text += ':';
    add(inline_text(text));
    size_t from = end;
    while (from < lines.size() && blank(lines[from])) ++from;
    if (from == lines.size() || indent_of(lines[from]) == 0) return from;
    const size_t block_end = indented_end(lines, from, 1);
    add(code_fence(doc_.highlight, join_lines(dedent(lines, from, block_end))));
    return block_end;
  }

  // "term" then an indented definition: "term: definition".
  size_t definition(const Lines& lines, size_t i) {
    const size_t end = indented_end(lines, i + 1, 1);
    add(with_lead(inline_text(lines[i]), nested(dedent(lines, i + 1, end))));
    return end;
  }

  // An enumerator starts a list only when the next line is blank, indented
  // or another item: "A. Smith wrote" is a paragraph.
  static bool starts_list(const Lines& lines, size_t i) {
    if (i + 1 >= lines.size() || blank(lines[i + 1]) || indent_of(lines[i + 1]) > 0) return true;
    std::string_view label;
    return enumerator(lines[i + 1], label) > 0;
  }

  // Which list an item belongs to: "-", "*", "+", or an enumerator's
  // style ("(1)", "a.", "#."): another style starts another list.
  static std::string list_family(std::string_view label) {
    std::string family;
    for (char c : label) {
      const char k = std::isdigit(static_cast<unsigned char>(c)) ? '1' : std::isalpha(static_cast<unsigned char>(c)) ? 'a' : c;
      if (family.empty() || family.back() != k || (k != '1' && k != 'a')) family += k;
    }
    return family;
  }

  // One list item; the items after it come back here one by one.
  size_t list_item(const Lines& lines, size_t i, size_t col, std::string_view label) {
    if (col == std::string_view::npos) col = lines[i].size();
    const size_t end = indented_end(lines, i + 1, 1);
    Lines body{lines[i].substr(std::min(col, lines[i].size()))};
    Lines rest = dedent(lines, i + 1, end);
    body.insert(body.end(), rest.begin(), rest.end());
    if (!last_was_item_ || list_family(label == "- " ? lines[i].substr(0, 1) : label) != list_family_) auto_number_ = 0;
    std::string marker = markdown_marker(label);
    std::string md = marker;
    const std::string pad(marker.size(), ' ');
    bool first = true;
    const std::string content = nested(body);
    for (std::string_view l : rst_lines(content)) {
      if (!first) md += l.empty() ? "" : pad;
      md += l;
      md += '\n';
      first = false;
    }
    // Items of one list stay together, without a blank line between them.
    std::string family = list_family(label == "- " ? lines[i].substr(0, 1) : label);
    // A list whose items hold several paragraphs is a loose one in
    // Markdown: a blank line between its items.
    const bool loose = md.find("\n\n") != std::string::npos;
    if (last_was_item_ && family == list_family_ && !loose && !last_item_loose_) {
      out_ += trim(md);
      out_ += '\n';
    } else {
      add(md);
    }
    list_family_ = std::move(family);
    last_was_item_ = true;
    last_item_loose_ = loose;
    return end;
  }

  // "1." and "#." become Markdown's numbers; letters and roman numerals
  // keep their label in a bullet item.
  std::string markdown_marker(std::string_view label) {
    if (label == "- ") return "- ";
    std::string_view core = label;
    if (core.starts_with('(')) core.remove_prefix(1);
    core.remove_suffix(1);
    if (core == "#") return std::to_string(++auto_number_) + ". ";
    if (std::isdigit(static_cast<unsigned char>(core[0]))) {
      auto_number_ = std::atoi(std::string(core).c_str());
      return std::string(core) + ". ";
    }
    return "- " + std::string(label) + " ";
  }

  // ":name: value" (and its indented continuation). Before any body
  // element it is the document's docinfo, as front matter is in Markdown.
  size_t field(const Lines& lines, size_t i, size_t col, std::string_view name) {
    const size_t end = indented_end(lines, i + 1, 1);
    Lines body{lines[i].substr(std::min(col, lines[i].size()))};
    Lines rest = dedent(lines, i + 1, end);
    body.insert(body.end(), rest.begin(), rest.end());
    if (depth_ == 0 && !doc_.body_seen) {
      std::string key = to_lower(name);
      if (std::find(std::begin(kSphinxFields), std::end(kSphinxFields), key) == std::end(kSphinxFields)) {
        std::string value;
        for (std::string_view l : body) value += std::string(trim(l)) + (l.empty() ? "" : " ");
        doc_.docinfo.emplace_back(std::move(key), std::string(trim(value)));
      }
      return end;
    }
    add(with_lead(inline_text(name), nested(body)));
    return end;
  }

  size_t doctest(const Lines& lines, size_t i) {
    size_t end = i;
    while (end < lines.size() && !blank(lines[end])) ++end;
    add(code_fence("pycon", join_lines(Lines(lines.begin() + static_cast<long>(i), lines.begin() + static_cast<long>(end)))));
    return end;
  }

  size_t line_block(const Lines& lines, size_t i) {
    std::string text;
    size_t end = i;
    for (; end < lines.size() && !blank(lines[end]); ++end) {
      std::string_view l = lines[end];
      if (l[0] == '|') l = trim(l.substr(1));
      text += std::string(trim(l)) + "\n";
    }
    add(inline_text(text));
    return end;
  }

  // Rows of cells joined by " | "; a row split over several lines has
  // its cells' lines joined.
  static std::string table_rows(const std::vector<std::vector<std::string>>& rows, size_t header_rows) {
    std::string out;
    for (size_t r = 0; r < rows.size(); ++r) {
      out += "| " + join(rows[r], " | ") + " |\n";
      if (r + 1 == header_rows) {
        std::vector<std::string> dashes(rows[r].size(), "---");
        out += "| " + join(dashes, " | ") + " |\n";
      }
    }
    return out;
  }

  static void add_cells(std::vector<std::string>& row, std::string_view line, const std::vector<size_t>& starts,
                        size_t skip) {
    row.resize(starts.size());
    for (size_t c = 0; c < starts.size(); ++c) {
      if (starts[c] + skip >= line.size()) continue;
      size_t to = c + 1 < starts.size() ? starts[c + 1] : line.size();
      std::string_view cell = trim(line.substr(starts[c] + skip, to > starts[c] + skip ? to - starts[c] - skip : 0));
      if (!cell.empty() && cell.back() == '|') cell = trim(cell.substr(0, cell.size() - 1));
      if (cell.empty()) continue;
      if (!row[c].empty()) row[c] += ' ';
      row[c] += cell;
    }
  }

  size_t grid_table(const Lines& lines, size_t i) {
    std::vector<size_t> starts;
    for (size_t k = 0; k + 1 < lines[i].size(); ++k)
      if (lines[i][k] == '+') starts.push_back(k);
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    size_t header_rows = 0, end = i + 1;
    for (; end < lines.size() && !blank(lines[end]) && (lines[end][0] == '+' || lines[end][0] == '|'); ++end) {
      if (lines[end][0] == '|') {
        add_cells(row, lines[end], starts, 1);
        continue;
      }
      if (!row.empty()) rows.push_back(std::move(row));
      row.clear();
      if (lines[end].find('=') != std::string_view::npos) header_rows = rows.size();
    }
    if (!row.empty()) rows.push_back(std::move(row));
    add(inline_text(table_rows(rows, header_rows)));
    return end;
  }

  size_t simple_table(const Lines& lines, size_t i) {
    std::vector<size_t> starts;
    for (size_t k = 0; k < lines[i].size(); ++k)
      if (lines[i][k] == '=' && (k == 0 || lines[i][k - 1] == ' ')) starts.push_back(k);
    std::vector<std::vector<std::string>> rows;
    size_t borders = 1, header_rows = 0, end = i + 1;
    for (; end < lines.size() && !blank(lines[end]); ++end) {
      std::string_view l = lines[end];
      if (l.find_first_not_of("= ") == std::string_view::npos) {
        if (++borders == 2) header_rows = rows.size();
        continue;
      }
      if (l.find_first_not_of("- ") == std::string_view::npos) continue;  // column-span underline
      const bool continuation = !rows.empty() && starts.size() > 1 && trim(l.substr(0, starts[1])).empty();
      if (!continuation) rows.emplace_back();
      add_cells(rows.back(), l, starts, 0);
    }
    if (borders < 3) header_rows = 0;  // one border pair: no header
    add(inline_text(table_rows(rows, header_rows)));
    return end;
  }

  // ".. " blocks: directives, targets, substitutions, footnotes, comments.
  size_t explicit_markup(const Lines& lines, size_t i) {
    const std::string_view line = lines[i];
    if (line == ".." && (i + 1 == lines.size() || blank(lines[i + 1]))) return i + 1;  // an empty comment
    const size_t end = indented_end(lines, i + 1, 1);
    std::string_view rest = trim(line.substr(2));
    if (rest.starts_with('[')) {  // a footnote or citation: its text is prose
      size_t close = rest.find(']');
      if (close != std::string_view::npos) {
        Lines body{rest.substr(close + 1)};
        Lines more = dedent(lines, i + 1, end);
        body.insert(body.end(), more.begin(), more.end());
        add(std::string(rest.substr(0, close + 1)) + " " + nested(body));
      }
      return end;
    }
    // "name:: args"; anything else is a target (".. _label:"), a
    // substitution definition (read before the walk) or a comment: nothing
    // a reader sees.
    const size_t marker = rest.find("::");
    if (marker == std::string_view::npos || marker == 0 || role_name_length(rest, 0) < marker ||
        (marker + 2 < rest.size() && rest[marker + 2] != ' '))
      return end;
    directive(rest.substr(0, marker), trim(rest.substr(marker + 2)), dedent(lines, i + 1, end));
    return end;
  }

  void directive(std::string_view name, std::string_view args, const Lines& body) {
    Directive d = describe_directive(name, args);
    const size_t from = skip_options(body, 0);
    Lines content;
    if (!d.first_line.empty()) content.push_back(d.first_line);
    content.insert(content.end(), body.begin() + static_cast<long>(std::min(from, body.size())), body.end());
    switch (d.kind) {
      case DirectiveKind::kProse: {
        const std::string md = nested(content);
        if (trim(md).empty() && !d.lead_alone) return;  // a tab whose content was dropped
        return add(with_lead(d.lead.empty() ? d.lead : inline_text(d.lead), md, d.label));
      }
      case DirectiveKind::kHeading:
        return add(std::string(static_cast<size_t>(std::clamp(doc_.level + 1, 2, 6)), '#') + " " + inline_text(d.lead) +
                   "\n\n" + nested(content));
      case DirectiveKind::kCode:
        if (content.empty()) return;
        return add(code_fence(d.language.empty() ? doc_.highlight : d.language, join_lines(content)));
      case DirectiveKind::kDrop:
        if (to_lower(name) == "highlight") doc_.highlight = std::string(args.substr(0, args.find(' ')));
        return;
      case DirectiveKind::kOther:
        if (!content.empty()) add(code_fence("", join_lines(content)));
        return;
    }
  }

  RstDocument& doc_;
  int depth_;
  std::string out_;
  int auto_number_ = 0;
  bool last_was_item_ = false;
  bool last_item_loose_ = false;
  std::string list_family_;
};

// ".. |name| replace:: text" definitions, wherever they are in the file:
// a reference may come before its definition.
void read_substitutions(const Lines& lines, RstDocument& doc) {
  for (std::string_view l : lines) {
    l = trim(l);
    if (!l.starts_with(".. |")) continue;
    size_t bar = l.find('|', 4);
    if (bar == std::string_view::npos || bar - 4 > kMaxNameBytes) continue;
    std::string_view rest = trim(l.substr(bar + 1));
    if (!rest.starts_with("replace::")) continue;
    doc.substitutions.emplace(std::string(l.substr(4, bar - 4)), std::string(trim(rest.substr(9))));
  }
}

}  // namespace

std::string rst_to_markdown(std::string_view rst, std::vector<std::pair<std::string, std::string>>* docinfo) {
  if (rst.substr(0, 3) == "\xEF\xBB\xBF") rst.remove_prefix(3);
  const std::string text = expand_tabs(rst);
  const Lines lines = rst_lines(text);
  RstDocument doc;
  read_substitutions(lines, doc);
  std::string md = RstConverter(doc, 0).convert(lines);
  if (docinfo) *docinfo = std::move(doc.docinfo);
  return md;
}

Status parse_rst(const FileInput& in) {
  if (looks_binary(in.bytes)) return Status::invalid_argument("binary content in a reStructuredText file; skipped");
  std::vector<std::pair<std::string, std::string>> docinfo;
  std::string markdown = rst_to_markdown(in.bytes, &docinfo);
  Document doc;
  for (const auto& [key, value] : docinfo) apply_field(doc, key, {value});
  return emit_markdown(in, std::move(doc), std::move(markdown));
}

}  // namespace ragd::connectors
