// HTML files (gumbo): visible text by heading section; script, style, nav
// and other page furniture dropped.
#include <gumbo.h>

#include <memory>

#include "connectors/internal.h"

namespace ragd::connectors {

namespace {

// Deeper elements are ignored: the walk is recursive and input is untrusted.
constexpr int kMaxDepth = 400;

struct HtmlWalker : SectionBuilder {
  bool in_pre = false;

  void para_break() {
    while (!buf.empty() && buf.back() == ' ') buf.pop_back();
    if (buf.empty() || buf.ends_with("\n\n")) return;
    buf += buf.back() == '\n' ? "\n" : "\n\n";
  }
  void line_break() {
    if (!buf.empty() && buf.back() != '\n') buf += '\n';
  }

  static void text_of(const GumboNode* node, std::string& out, int depth = 0) {
    if (depth > kMaxDepth) return;
    if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA || node->type == GUMBO_NODE_WHITESPACE) {
      out += node->v.text.text;
      return;
    }
    if (node->type != GUMBO_NODE_ELEMENT) return;
    GumboTag tag = node->v.element.tag;
    if (tag == GUMBO_TAG_SCRIPT || tag == GUMBO_TAG_STYLE) return;
    const GumboVector& kids = node->v.element.children;
    for (unsigned i = 0; i < kids.length; ++i) {
      text_of(static_cast<const GumboNode*>(kids.data[i]), out, depth + 1);
      if (tag == GUMBO_TAG_TR || tag == GUMBO_TAG_UL) out += ' ';
    }
  }

  static const char* attr(const GumboNode* node, const char* name) {
    const GumboAttribute* a = gumbo_get_attribute(&node->v.element.attributes, name);
    return a ? a->value : nullptr;
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
      buf += node->v.text.text;
      return;
    }
    if (node->type == GUMBO_NODE_WHITESPACE) {
      buf += in_pre ? node->v.text.text : " ";
      return;
    }
    if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_DOCUMENT) return;
    const GumboVector& kids =
        node->type == GUMBO_NODE_DOCUMENT ? node->v.document.children : node->v.element.children;
    GumboTag tag = node->type == GUMBO_NODE_DOCUMENT ? GUMBO_TAG_UNKNOWN : node->v.element.tag;
    switch (tag) {
      case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NAV: case GUMBO_TAG_NOSCRIPT:
      case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_SVG: case GUMBO_TAG_IFRAME: case GUMBO_TAG_CANVAS:
      case GUMBO_TAG_FOOTER: case GUMBO_TAG_BUTTON: case GUMBO_TAG_SELECT:
        return;
      case GUMBO_TAG_TITLE: {
        std::string t;
        text_of(node, t);
        if (doc.title.empty()) doc.title = std::string(trim(t));
        return;
      }
      case GUMBO_TAG_META: meta(node); return;
      case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3:
      case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6: {
        int level = 1 + static_cast<int>(tag - GUMBO_TAG_H1);
        std::string t;
        text_of(node, t);
        std::string heading;  // collapse inner whitespace
        for (char c : trim(t)) {
          bool sp = c == ' ' || c == '\n' || c == '\t' || c == '\r';
          if (sp) { if (!heading.empty() && heading.back() != ' ') heading += ' '; }
          else heading += c;
        }
        SectionBuilder::heading(level, std::move(heading));
        return;
      }
      case GUMBO_TAG_BR: line_break(); return;
      case GUMBO_TAG_HR: para_break(); return;
      case GUMBO_TAG_PRE: {
        para_break();
        bool was = in_pre;
        in_pre = true;
        for (unsigned i = 0; i < kids.length; ++i) walk(static_cast<const GumboNode*>(kids.data[i]), depth + 1);
        in_pre = was;
        para_break();
        return;
      }
      case GUMBO_TAG_LI: line_break(); buf += "- "; break;
      case GUMBO_TAG_TR: case GUMBO_TAG_DT: case GUMBO_TAG_DD: line_break(); break;
      case GUMBO_TAG_TD: case GUMBO_TAG_TH:
        if (!buf.empty() && buf.back() != '\n') buf += " | ";
        break;
      case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE:
      case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_TABLE: case GUMBO_TAG_BLOCKQUOTE:
      case GUMBO_TAG_DL: case GUMBO_TAG_MAIN: case GUMBO_TAG_HEADER: case GUMBO_TAG_FIGURE:
      case GUMBO_TAG_ASIDE: case GUMBO_TAG_CAPTION:
        para_break();
        break;
      default: break;
    }
    for (unsigned i = 0; i < kids.length; ++i) walk(static_cast<const GumboNode*>(kids.data[i]), depth + 1);
    if (tag == GUMBO_TAG_P || tag == GUMBO_TAG_DIV || tag == GUMBO_TAG_UL || tag == GUMBO_TAG_OL ||
        tag == GUMBO_TAG_TABLE || tag == GUMBO_TAG_BLOCKQUOTE || tag == GUMBO_TAG_SECTION)
      para_break();
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
