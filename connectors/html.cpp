// HTML files (gumbo): visible text by heading section, read the way the rest
// of ragd reads Markdown; script, style, nav and other page furniture
// dropped. A <pre> becomes a code fence and inline <code>, <kbd>, <samp> and
// <tt> become code spans. A definition list used as a reference (a manual's
// configuration parameters, options, functions) gives each term a section of
// its own, one level below the section that holds the list; text after the
// list goes back to that section.
#include <gumbo.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "connectors/internal.h"

namespace ragd::connectors {

namespace {

// Deeper elements are ignored: the walk is recursive and input is untrusted.
constexpr int kMaxDepth = 400;

// A <dd> with this much text of its own (outside links and nested lists of
// terms) is a paragraph, not a one-line definition.
constexpr size_t kParagraphBytes = 100;

// A longer term is no section's name (a <dt> left open around a page's
// text); it stays text.
constexpr size_t kMaxTermBytes = 400;

// ---- reading nodes ----

const GumboVector& children_of(const GumboNode* node) {
  return node->type == GUMBO_NODE_DOCUMENT ? node->v.document.children : node->v.element.children;
}

const GumboNode* child(const GumboVector& kids, unsigned i) { return static_cast<const GumboNode*>(kids.data[i]); }

bool is_element(const GumboNode* node, GumboTag tag) {
  return node->type == GUMBO_NODE_ELEMENT && node->v.element.tag == tag;
}

bool is_text(const GumboNode* node) {
  return node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA || node->type == GUMBO_NODE_WHITESPACE;
}

const char* attr(const GumboNode* node, const char* name) {
  const GumboAttribute* a = gumbo_get_attribute(&node->v.element.attributes, name);
  return a ? a->value : nullptr;
}

bool has_class(const GumboNode* node, std::string_view name) {
  const char* value = attr(node, "class");
  if (!value) return false;
  std::string_view classes = value;
  size_t pos = 0;
  while (pos < classes.size()) {
    size_t end = classes.find(' ', pos);
    if (end == std::string_view::npos) end = classes.size();
    if (classes.substr(pos, end - pos) == name) return true;
    pos = end + 1;
  }
  return false;
}

// A link whose only text is a symbol: the "¶", "#" or "§" permalink after
// a heading (Apache's class="permalink", Hugo's and Docusaurus' anchors,
// Sphinx's headerlink). It is never part of the heading's words.
bool is_symbol_link(const GumboNode* node) {
  const GumboVector& kids = node->v.element.children;
  if (kids.length != 1) return false;
  const GumboNode* k = static_cast<const GumboNode*>(kids.data[0]);
  if (k->type != GUMBO_NODE_TEXT) return false;
  std::string_view t = k->v.text.text;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\n')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\n')) t.remove_suffix(1);
  return t == "\u00b6" || t == "#" || t == "\u00a7" || t == "\U0001f517";
}

// Page furniture: never text. Sphinx's headerlink is the "¶" after a
// heading or a term. Navigation bars that are not <nav>: an ARIA landmark
// role (Sphinx's "related" bar and sidebar say role="navigation"), DocBook's
// navheader/navfooter ("Prev | Up | Home | Next", PostgreSQL's and many GNU
// manuals'), breadcrumbs.
bool is_furniture(const GumboNode* node) {
  switch (node->v.element.tag) {
    case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NAV: case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_SVG: case GUMBO_TAG_IFRAME: case GUMBO_TAG_CANVAS:
    case GUMBO_TAG_FOOTER: case GUMBO_TAG_BUTTON: case GUMBO_TAG_SELECT:
      return true;
    case GUMBO_TAG_A: return has_class(node, "headerlink") || is_symbol_link(node);
    default: break;
  }
  if (const char* role = attr(node, "role")) {  // a list of role tokens
    const std::string_view roles = role;
    for (size_t pos = 0; pos < roles.size();) {
      size_t end = roles.find(' ', pos);
      if (end == std::string_view::npos) end = roles.size();
      const std::string_view r = roles.substr(pos, end - pos);
      if (r == "navigation" || r == "contentinfo" || r == "search") return true;
      pos = end + 1;
    }
  }
  return has_class(node, "navheader") || has_class(node, "navfooter") || has_class(node, "breadcrumb") ||
         has_class(node, "breadcrumbs");
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f'; }

// The text under `node` as written, <br> as `br`.
void raw_text(const GumboNode* node, std::string& out, std::string_view br = "\n", int depth = 0) {
  if (depth > kMaxDepth) return;
  if (is_text(node)) {
    out += node->v.text.text;
    return;
  }
  if (node->type != GUMBO_NODE_ELEMENT || is_furniture(node)) return;
  if (node->v.element.tag == GUMBO_TAG_BR) {
    out += br;
    return;
  }
  const GumboVector& kids = node->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) {
    raw_text(child(kids, i), out, br, depth + 1);
    GumboTag tag = node->v.element.tag;
    if (tag == GUMBO_TAG_TR || tag == GUMBO_TAG_UL) out += ' ';
  }
}

// `s` on one line: each run of white space one space.
std::string one_line_of(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (!is_space(c)) out += c;
    else if (out.empty() || out.back() != ' ') out += ' ';
  }
  return out;
}

// The text under `node` on one line, trimmed: a heading, a term, a code
// span. In a term, <br> separates alternatives ("-p port<br>--port=port").
std::string inline_text(const GumboNode* node, std::string_view br = " ") {
  std::string t;
  raw_text(node, t, br);
  std::string line = one_line_of(t);
  return std::string(trim(line));
}

// A <pre>'s text without the blank lines around it; the rest as written.
std::string_view without_blank_edges(std::string_view s) {
  size_t begin = 0;
  for (size_t i = 0; i < s.size() && is_space(s[i]); ++i)
    if (s[i] == '\n') begin = i + 1;
  size_t end = s.size();
  while (end > begin && is_space(s[end - 1])) --end;
  return s.substr(begin, end - begin);
}

// ---- definition lists ----

// What a <dd> holds, counted until it is clearly a paragraph.
struct DefinitionSize {
  size_t bytes = 0;        // its own text, each run of white space one byte
  bool code_or_table = false;
  bool paragraph() const { return code_or_table || bytes >= kParagraphBytes; }
};

// Links (a table of contents) and nested definition lists (judged on their
// own) are not the definition's own text.
void measure(const GumboNode* node, DefinitionSize& size, int depth = 0) {
  if (depth > kMaxDepth || size.paragraph()) return;
  if (is_text(node)) {
    bool space = true;
    for (const char* p = node->v.text.text; *p; ++p) {
      if (!is_space(*p)) ++size.bytes;
      else if (!space) ++size.bytes;
      space = is_space(*p);
    }
    return;
  }
  if (node->type != GUMBO_NODE_ELEMENT || is_furniture(node)) return;
  switch (node->v.element.tag) {
    case GUMBO_TAG_A: case GUMBO_TAG_DL: return;
    case GUMBO_TAG_PRE: case GUMBO_TAG_TABLE: size.code_or_table = true; return;
    default: break;
  }
  const GumboVector& kids = node->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) measure(child(kids, i), size, depth + 1);
}

// The rule for a <dl>: its terms become sub-headings when at least one
// <dd> holds a paragraph (kParagraphBytes of its own text, a code block or
// a table). A glossary of one-line definitions stays "term: definition"
// lines, and a table of contents (terms that are links, each <dd> a nested
// list of links) stays lines as it is. HTML5's <div> around a dt/dd group
// is looked into.
bool terms_are_headings(const GumboNode* dl, bool in_group = false) {
  const GumboVector& kids = dl->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i) {
    const GumboNode* k = child(kids, i);
    if (!in_group && is_element(k, GUMBO_TAG_DIV) && terms_are_headings(k, true)) return true;
    if (!is_element(k, GUMBO_TAG_DD)) continue;
    DefinitionSize size;
    measure(k, size);
    if (size.paragraph()) return true;
  }
  return false;
}

// A <dd> that reads on the line of its term: no lists, code, tables or
// nested terms, and one paragraph at most.
bool reads_on_one_line(const GumboNode* node, int& paragraphs, int depth = 0) {
  if (depth > kMaxDepth) return false;
  if (node->type != GUMBO_NODE_ELEMENT) return true;
  switch (node->v.element.tag) {
    case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_DL: case GUMBO_TAG_PRE: case GUMBO_TAG_TABLE:
    case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4:
    case GUMBO_TAG_H5: case GUMBO_TAG_H6:
      return false;
    case GUMBO_TAG_P: case GUMBO_TAG_DIV:
      if (++paragraphs > 1) return false;
      break;
    default: break;
  }
  const GumboVector& kids = node->v.element.children;
  for (unsigned i = 0; i < kids.length; ++i)
    if (!reads_on_one_line(child(kids, i), paragraphs, depth + 1)) return false;
  return true;
}

bool reads_on_one_line(const GumboNode* dd) {
  int paragraphs = 0;
  return reads_on_one_line(dd, paragraphs);
}

// ---- the walk ----

struct HtmlWalker : SectionBuilder {
  // One open <dl>.
  struct DefinitionList {
    int parent_level = 0;            // the section that holds the list
    int term_level = 0;              // its terms' heading level; 0: terms are lines
    std::vector<std::string> terms;  // terms waiting for their <dd>
    bool after_term = false;         // a term line was just written
  };
  std::vector<DefinitionList> lists;
  bool one_line = false;  // a definition on its term's line: breaks are spaces
  bool label_open = false;  // a box's title was just written: its text follows on the same line
  size_t label_end = std::string::npos;  // where the last box title ended in buf

  void para_break() {
    if (one_line) return space();
    if (label_open) {
      label_open = false;
      return;
    }
    while (!buf.empty() && buf.back() == ' ') buf.pop_back();
    if (buf.empty() || buf.ends_with("\n\n")) return;
    buf += buf.back() == '\n' ? "\n" : "\n\n";
  }
  void line_break() {
    if (one_line) return space();
    if (!buf.empty() && buf.back() != '\n') buf += '\n';
  }
  void space() {
    if (!buf.empty() && buf.back() != ' ') buf += ' ';
  }

  void meta(const GumboNode* node) {
    const char* name = attr(node, "name");
    const char* content = attr(node, "content");
    if (!name || !content) return;
    std::string n = to_lower(name);
    static const char* kKnown[] = {"kind", "id", "acl", "groups", "tags", "updated", "created", "date",
                                   "author", "category", "owner", "url", "keywords"};
    for (const char* k : kKnown) {
      if (n == k) {
        apply_field(doc, n == "keywords" ? "tags" : n, {content});
        return;
      }
    }
  }

  void walk(const GumboNode* node, int depth = 0) {
    if (depth > kMaxDepth) return;
    if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA) {
      label_open = false;
      buf += one_line ? one_line_of(node->v.text.text) : node->v.text.text;
      return;
    }
    if (node->type == GUMBO_NODE_WHITESPACE) {
      if (!label_open) buf += ' ';
      return;
    }
    if (node->type == GUMBO_NODE_DOCUMENT) return walk_children(node, depth);
    if (node->type != GUMBO_NODE_ELEMENT || is_furniture(node)) return;
    GumboTag tag = node->v.element.tag;
    switch (tag) {
      case GUMBO_TAG_TITLE: {
        std::string t;
        raw_text(node, t);
        if (doc.title.empty()) doc.title = std::string(trim(t));
        return;
      }
      case GUMBO_TAG_META: meta(node); return;
      case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3:
      case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6:
        label_open = false;
        heading(1 + static_cast<int>(tag - GUMBO_TAG_H1), inline_text(node));
        return;
      case GUMBO_TAG_BR: line_break(); return;
      case GUMBO_TAG_HR: para_break(); return;
      case GUMBO_TAG_PRE: code_block(node); return;
      case GUMBO_TAG_CODE: case GUMBO_TAG_KBD: case GUMBO_TAG_SAMP: case GUMBO_TAG_TT: code(node); return;
      case GUMBO_TAG_DL: definition_list(node, depth); return;
      case GUMBO_TAG_DT: term(node, depth); return;
      case GUMBO_TAG_DD: definition(node, depth); return;
      case GUMBO_TAG_LI: line_break(); buf += "- "; break;
      case GUMBO_TAG_TR: line_break(); break;
      case GUMBO_TAG_TD: case GUMBO_TAG_TH:
        if (!buf.empty() && buf.back() != '\n') buf += " | ";
        break;
      case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE:
      case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_TABLE: case GUMBO_TAG_BLOCKQUOTE:
      case GUMBO_TAG_MAIN: case GUMBO_TAG_HEADER: case GUMBO_TAG_FIGURE:
      case GUMBO_TAG_ASIDE: case GUMBO_TAG_CAPTION:
        para_break();
        break;
      default: break;
    }
    if (const GumboNode* title = admonition_title_of(node)) {
      const GumboVector& kids = children_of(node);
      for (unsigned i = 0; i < kids.length; ++i) {
        const GumboNode* k = child(kids, i);
        if (k == title) {
          box_title(k);
        } else {
          walk(k, depth + 1);
        }
      }
      label_open = false;
      return para_break();
    }
    walk_children(node, depth);
    if (tag == GUMBO_TAG_P || tag == GUMBO_TAG_DIV || tag == GUMBO_TAG_UL || tag == GUMBO_TAG_OL ||
        tag == GUMBO_TAG_TABLE || tag == GUMBO_TAG_BLOCKQUOTE || tag == GUMBO_TAG_SECTION)
      para_break();
  }

  // A note, tip or warning box (DocBook's and Apache's class="note",
  // Sphinx's "admonition note", role="note") whose first element is its
  // title: a heading, or Sphinx's <p class="admonition-title">. The title
  // ("Note", "Windows note") heads the box's text, not a section, so the
  // sections after the box stay where they are ("Variables > HISTSIZE", not
  // "Variables > Note > HISTSIZE"). Other headings in the box, and those
  // after a box that was never closed, open sections as anywhere else.
  static const GumboNode* admonition_title_of(const GumboNode* node) {
    const GumboTag tag = node->v.element.tag;
    if (tag != GUMBO_TAG_DIV && tag != GUMBO_TAG_ASIDE && tag != GUMBO_TAG_SECTION) return nullptr;
    bool box = false;
    if (const char* role = attr(node, "role"); role && std::string_view(role) == "note") box = true;
    for (const char* c : {"note", "tip", "warning", "caution", "important", "admonition", "attention", "danger",
                          "hint"})
      box |= has_class(node, c);
    if (!box) return nullptr;
    const GumboVector& kids = node->v.element.children;
    for (unsigned i = 0; i < kids.length; ++i) {
      const GumboNode* k = child(kids, i);
      if (k->type == GUMBO_NODE_WHITESPACE || k->type == GUMBO_NODE_COMMENT) continue;
      if (k->type != GUMBO_NODE_ELEMENT) return nullptr;
      const GumboTag t = k->v.element.tag;
      const bool heading = t >= GUMBO_TAG_H1 && t <= GUMBO_TAG_H6;
      return heading || (t == GUMBO_TAG_P && has_class(k, "admonition-title")) ? k : nullptr;
    }
    return nullptr;
  }
  // "Note: " on the line the box's text starts.
  void box_title(const GumboNode* node) {
    std::string title = inline_text(node);
    if (title.empty()) return;
    if (buf.size() != label_end) para_break();  // a box in a box: "Note: Careful: ..."
    if (title.back() != ':') title += ':';
    buf += title + ' ';
    label_end = buf.size();
    label_open = true;
  }

  void walk_children(const GumboNode* node, int depth) {
    const GumboVector& kids = children_of(node);
    for (unsigned i = 0; i < kids.length; ++i) walk(child(kids, i), depth + 1);
  }

  // A fence as long as it must be, so a fence in the text stays text; the
  // text keeps its white space.
  void code_block(const GumboNode* node) {
    std::string text;
    raw_text(node, text);
    const std::string_view code = without_blank_edges(text);
    para_break();
    if (code.empty()) return;
    if (!buf.empty() && buf.back() != '\n') {  // after a box's title
      while (!buf.empty() && buf.back() == ' ') buf.pop_back();
      buf += "\n\n";
    }
    buf += code_fence("", code);
    para_break();
  }

  void code(const GumboNode* node) {
    const std::string text = inline_text(node);
    if (!text.empty()) buf += code_span(text);
  }

  void definition_list(const GumboNode* node, int depth) {
    para_break();
    DefinitionList list;
    list.parent_level = level();
    // Never level 1: a term is not the page's title.
    if (list.parent_level < 6 && terms_are_headings(node)) list.term_level = std::max(list.parent_level, 1) + 1;
    lists.push_back(list);
    walk_children(node, depth);
    name_if_empty(open_term_section());  // a last <dt> without its <dd>
    list = std::move(lists.back());
    lists.pop_back();
    if (list.term_level) close_sections_below(list.parent_level);
  }

  // Consecutive terms share one section: "-a, --data-only".
  void term(const GumboNode* node, int depth) {
    if (!lists.empty() && lists.back().term_level) {
      std::string t = inline_text(node, ", ");
      while (t.ends_with(',')) t.pop_back();
      while (t.starts_with(',') || t.starts_with(' ')) t.erase(0, 1);
      if (t.size() <= kMaxTermBytes) {
        if (!t.empty()) lists.back().terms.push_back(std::move(t));
        return;
      }
      open_term_section();
    }
    line_break();
    walk_children(node, depth);
    if (!lists.empty()) lists.back().after_term = true;
  }

  void definition(const GumboNode* node, int depth) {
    const std::string opened = open_term_section();
    const bool after_term = !lists.empty() && std::exchange(lists.back().after_term, false);
    if (after_term && !one_line && !buf.empty() && buf.back() != '\n' && reads_on_one_line(node)) {
      while (!buf.empty() && (buf.back() == ' ' || buf.back() == ':')) buf.pop_back();
      buf += ": ";
      one_line = true;
      walk_children(node, depth);
      one_line = false;
      while (!buf.empty() && buf.back() == ' ') buf.pop_back();
      return;
    }
    line_break();
    walk_children(node, depth);
    name_if_empty(opened);
  }

  // Opens the section of the terms read so far; returns its name ("" when
  // there were none).
  std::string open_term_section() {
    if (lists.empty() || lists.back().terms.empty()) return "";
    DefinitionList& list = lists.back();
    std::string name = join(list.terms, ", ");
    heading(list.term_level, name);
    list.terms.clear();
    return name;
  }

  // A term whose section got no text (an empty <dd>, as Sphinx writes for
  // an undocumented member, or none) is the section's text: a section
  // without text is not kept, and the term would be lost.
  void name_if_empty(const std::string& term) {
    if (!term.empty() && trim(buf).empty()) buf += term;
  }
};

}  // namespace

Status parse_html(const FileInput& in) {
  if (looks_binary(in.bytes)) return Status::invalid_argument("binary content in an HTML file; skipped");
  GumboOptions opts = kGumboDefaultOptions;
  opts.max_errors = 100;
  std::unique_ptr<GumboOutput, void (*)(GumboOutput*)> out(
      gumbo_parse_with_options(&opts, in.bytes.data(), in.bytes.size()),
      [](GumboOutput* o) { gumbo_destroy_output(&kGumboDefaultOptions, o); });
  if (!out) return Status::invalid_argument("HTML parser failed");
  HtmlWalker w;
  w.walk(out->document);
  w.flush();
  Document doc = std::move(w.doc);
  if (doc.blocks.empty()) return Status::invalid_argument("no visible text in HTML; skipped");
  finish_file_document(doc, in);
  in.emit(std::move(doc));
  return Status::ok();
}

}  // namespace ragd::connectors
