// DOCX files (libzip + libxml2): paragraphs of word/document.xml, Heading
// styles as the section path, tables as " | "-separated rows.
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "connectors/internal.h"

namespace ragd::connectors {

namespace {

constexpr size_t kMaxXmlBytes = 64u << 20;
// Below this many decompressed bytes the ratio is not checked: a small,
// highly compressible DOCX is harmless.
constexpr size_t kRatioFloorBytes = 1u << 20;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct XmlDocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocFree>;

// The decompression budget of one archive (FetchOptions::
// max_decompressed_bytes and max_compression_ratio). Each part is charged
// its size from the zip directory before it is decompressed, and never more
// than that size is read, so a zip bomb costs a directory lookup.
struct ZipBudget {
  size_t archive_bytes = 0;
  size_t max_bytes = 0;
  size_t max_ratio = 0;
  size_t used = 0;

  Status charge(const char* name, zip_uint64_t size) {
    const size_t total = used + static_cast<size_t>(std::min<zip_uint64_t>(size, SIZE_MAX - used));
    if (total > max_bytes) {
      return Status::resource_exhausted(std::string(name) + " would expand the DOCX to " + std::to_string(total) +
                                        " bytes, over the limit of " + std::to_string(max_bytes) +
                                        " (max_decompressed_bytes); skipped as a possible zip bomb");
    }
    if (total > kRatioFloorBytes && max_ratio > 0 && total / max_ratio > archive_bytes) {
      return Status::resource_exhausted(std::string(name) + " would expand the DOCX from " +
                                        std::to_string(archive_bytes) + " to " + std::to_string(total) +
                                        " bytes, more than " + std::to_string(max_ratio) +
                                        " times its size (max_compression_ratio); skipped as a possible zip bomb");
    }
    used = total;
    return Status::ok();
  }
};

// Reads one archive member; nullopt when absent.
Result<std::optional<std::string>> read_member(zip_t* zip, const char* name, ZipBudget& budget) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(zip, name, 0, &st) != 0) return std::optional<std::string>();
  if (!(st.valid & ZIP_STAT_SIZE) || st.size > kMaxXmlBytes)
    return Status::resource_exhausted(std::string(name) + " is too large");
  RAGD_RETURN_IF_ERROR(budget.charge(name, st.size));
  zip_file_t* f = zip_fopen(zip, name, 0);
  if (!f) return Status::invalid_argument(std::string("cannot open ") + name + " in the archive");
  std::string data(st.size, '\0');
  zip_int64_t n = zip_fread(f, data.data(), st.size);
  zip_fclose(f);
  if (n < 0 || static_cast<zip_uint64_t>(n) != st.size)
    return Status::invalid_argument(std::string("cannot read ") + name + " (damaged archive)");
  return std::optional<std::string>(std::move(data));
}

XmlDocPtr parse_xml(const std::string& data) {
  // No network, no entity expansion, quiet: the input is untrusted.
  return XmlDocPtr(xmlReadMemory(data.data(), static_cast<int>(data.size()), "part.xml", nullptr,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
}

bool is(const xmlNode* n, const char* local) {
  return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, reinterpret_cast<const xmlChar*>(local)) == 0;
}

std::string attr(const xmlNode* n, const char* local) {
  for (const xmlAttr* a = n->properties; a; a = a->next) {
    if (xmlStrcmp(a->name, reinterpret_cast<const xmlChar*>(local)) == 0 && a->children && a->children->content)
      return reinterpret_cast<const char*>(a->children->content);
  }
  return "";
}

// Heading level of a style name or id ("Heading2", "heading 2", "Title" -> 0);
// -1 when it is not a heading.
int heading_level(std::string name) {
  name = to_lower(name);
  std::string compact;
  for (char c : name) if (c != ' ') compact += c;
  if (compact == "title") return 0;
  if (compact.rfind("heading", 0) == 0 && compact.size() > 7 && std::isdigit(static_cast<unsigned char>(compact[7])))
    return compact[7] - '0';
  return -1;
}

struct DocxWalker : SectionBuilder {
  std::map<std::string, std::string> style_names;  // styleId -> name
  // numbering.xml: numId -> abstractNumId, and per abstract numbering and
  // level its format ("bullet", "decimal", "lowerLetter", ...).
  std::map<std::string, std::string> num_abstract;
  std::map<std::pair<std::string, int>, std::string> level_format;
  // The next number of each list level (numId, ilvl).
  std::map<std::pair<std::string, int>, int> counters;
  int real_level = 0;  // the level of the last heading set by a style

  // A paragraph's list membership: numId and ilvl from its w:numPr (or its
  // style's name: "List Bullet", "List Number 2").
  struct ListItem {
    std::string num_id;
    int ilvl = 0;
    bool numbered = false;
  };
  std::optional<ListItem> list_item(const xmlNode* p) const {
    for (const xmlNode* c = p->children; c; c = c->next) {
      if (!is(c, "pPr")) continue;
      for (const xmlNode* d = c->children; d; d = d->next) {
        if (is(d, "numPr")) {
          ListItem item;
          for (const xmlNode* e = d->children; e; e = e->next) {
            if (is(e, "numId")) item.num_id = attr(e, "val");
            if (is(e, "ilvl")) item.ilvl = std::clamp(std::atoi(attr(e, "val").c_str()), 0, 8);
          }
          if (item.num_id.empty() || item.num_id == "0") return std::nullopt;  // numbering removed
          auto abs = num_abstract.find(item.num_id);
          auto fmt = abs == num_abstract.end() ? level_format.end() : level_format.find({abs->second, item.ilvl});
          item.numbered = fmt != level_format.end() && fmt->second != "bullet" && fmt->second != "none";
          return item;
        }
        if (is(d, "pStyle")) {
          const std::string id = attr(d, "val");
          auto it = style_names.find(id);
          const std::string name = to_lower(it != style_names.end() ? it->second : id);
          if (name.rfind("list bullet", 0) == 0 || name.rfind("listbullet", 0) == 0 ||
              name.rfind("list number", 0) == 0 || name.rfind("listnumber", 0) == 0) {
            ListItem item;
            item.num_id = "style:" + name;
            item.numbered = name.find("number") != std::string::npos;
            const char last = name.back();
            if (std::isdigit(static_cast<unsigned char>(last))) item.ilvl = std::clamp(last - '1', 0, 8);
            return item;
          }
        }
      }
    }
    return std::nullopt;
  }

  // Every run of text of the paragraph is bold (w:b, not w:b w:val="0").
  static bool all_bold(const xmlNode* p) {
    bool any = false;
    for (const xmlNode* r = p->children; r; r = r->next) {
      if (is(r, "hyperlink") || is(r, "ins") || is(r, "smartTag")) {
        if (!all_bold(r)) return false;
        continue;
      }
      if (!is(r, "r")) continue;
      std::string text;
      runs_text(r, text);
      if (trim(text).empty()) continue;
      bool bold = false;
      for (const xmlNode* c = r->children; c; c = c->next) {
        if (!is(c, "rPr")) continue;
        for (const xmlNode* d = c->children; d; d = d->next) {
          if (!is(d, "b")) continue;
          const std::string v = attr(d, "val");
          bold = v.empty() || (v != "0" && v != "false" && v != "off");
        }
      }
      if (!bold) return false;
      any = true;
    }
    return any;
  }

  static void runs_text(const xmlNode* n, std::string& out) {
    for (const xmlNode* c = n->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE) continue;
      if (is(c, "t") || is(c, "delText")) {
        if (is(c, "delText")) continue;  // deleted in tracked changes
        xmlChar* s = xmlNodeGetContent(c);
        if (s) { out += reinterpret_cast<const char*>(s); xmlFree(s); }
      } else if (is(c, "tab")) {
        out += '\t';
      } else if (is(c, "br") || is(c, "cr")) {
        out += '\n';
      } else if (is(c, "pPr") || is(c, "rPr") || is(c, "instrText")) {
        continue;
      } else {
        runs_text(c, out);  // r, hyperlink, smartTag, ins, sdtContent, fldSimple ...
      }
    }
  }

  int paragraph_level(const xmlNode* p) const {
    for (const xmlNode* c = p->children; c; c = c->next) {
      if (!is(c, "pPr")) continue;
      for (const xmlNode* d = c->children; d; d = d->next) {
        if (is(d, "pStyle")) {
          std::string id = attr(d, "val");
          auto it = style_names.find(id);
          int level = heading_level(it != style_names.end() ? it->second : id);
          if (level < 0 && it != style_names.end()) level = heading_level(id);
          if (level >= 0) return level;
        } else if (is(d, "outlineLvl")) {
          std::string v = attr(d, "val");
          if (!v.empty() && std::isdigit(static_cast<unsigned char>(v[0])) && v[0] < '9') return v[0] - '0' + 1;
        }
      }
    }
    return -1;
  }

  void paragraph(const xmlNode* p) {
    std::string text;
    runs_text(p, text);
    std::string_view t = trim(text);
    int level = paragraph_level(p);
    if (level == 0) {
      if (doc.title.empty()) doc.title = std::string(t);
      return;
    }
    if (level > 0 && !t.empty()) {
      heading(level, std::string(t));
      real_level = level;
      counters.clear();
      return;
    }
    if (t.empty()) return;
    // A list item: "- item", or "3. step" numbered per list and level; a
    // deeper level indented under it.
    if (const std::optional<ListItem> item = list_item(p)) {
      for (auto it = counters.begin(); it != counters.end();)  // a new item ends the deeper levels' counts
        it = it->first.first == item->num_id && it->first.second > item->ilvl ? counters.erase(it) : std::next(it);
      std::string marker = "- ";
      if (item->numbered) marker = std::to_string(++counters[{item->num_id, item->ilvl}]) + ". ";
      buf += std::string(static_cast<size_t>(item->ilvl) * 3, ' ') + marker;
      buf += t;
      buf += "\n\n";
      return;
    }
    // A short paragraph all in bold that ends no sentence, in the body's
    // style: a heading written by hand, one level below the last styled one.
    const char last = t.back();
    if (t.size() <= 80 && last != '.' && last != ',' && last != ';' && last != ':' && all_bold(p)) {
      heading(real_level + 1, std::string(t));
      return;
    }
    buf += t;
    buf += "\n\n";
  }

  void table(const xmlNode* tbl) {
    for (const xmlNode* tr = tbl->children; tr; tr = tr->next) {
      if (!is(tr, "tr")) continue;
      std::string row;
      for (const xmlNode* tc = tr->children; tc; tc = tc->next) {
        if (!is(tc, "tc")) continue;
        std::string cell;
        runs_text(tc, cell);
        if (!row.empty()) row += " | ";
        row += std::string(trim(cell));
      }
      if (!trim(row).empty()) { buf += row; buf += '\n'; }
    }
    buf += '\n';
  }

  void body(const xmlNode* n) {
    for (const xmlNode* c = n->children; c; c = c->next) {
      if (is(c, "p")) paragraph(c);
      else if (is(c, "tbl")) table(c);
      else if (is(c, "sdt") || is(c, "sdtContent") || is(c, "customXml")) body(c);
    }
  }
};

const xmlNode* find_child(const xmlNode* n, const char* local) {
  for (const xmlNode* c = n ? n->children : nullptr; c; c = c->next)
    if (is(c, local)) return c;
  return nullptr;
}

void read_styles(zip_t* zip, ZipBudget& budget, DocxWalker& w) {
  auto styles = read_member(zip, "word/styles.xml", budget);
  if (!styles.is_ok() || !*styles) return;
  XmlDocPtr x = parse_xml(**styles);
  if (!x) return;
  const xmlNode* root = xmlDocGetRootElement(x.get());
  for (const xmlNode* s = root ? root->children : nullptr; s; s = s->next) {
    if (!is(s, "style")) continue;
    const xmlNode* name = find_child(s, "name");
    if (name) w.style_names[attr(s, "styleId")] = attr(name, "val");
  }
}

void read_numbering(zip_t* zip, ZipBudget& budget, DocxWalker& w) {
  auto numbering = read_member(zip, "word/numbering.xml", budget);
  if (!numbering.is_ok() || !*numbering) return;
  XmlDocPtr x = parse_xml(**numbering);
  if (!x) return;
  const xmlNode* root = xmlDocGetRootElement(x.get());
  for (const xmlNode* n = root ? root->children : nullptr; n; n = n->next) {
    if (is(n, "abstractNum")) {
      const std::string id = attr(n, "abstractNumId");
      for (const xmlNode* lvl = n->children; lvl; lvl = lvl->next) {
        if (!is(lvl, "lvl")) continue;
        const int ilvl = std::clamp(std::atoi(attr(lvl, "ilvl").c_str()), 0, 8);
        if (const xmlNode* fmt = find_child(lvl, "numFmt")) w.level_format[{id, ilvl}] = attr(fmt, "val");
      }
    } else if (is(n, "num")) {
      if (const xmlNode* abs = find_child(n, "abstractNumId")) w.num_abstract[attr(n, "numId")] = attr(abs, "val");
    }
  }
}

void read_core(zip_t* zip, ZipBudget& budget, Document& doc) {
  auto core = read_member(zip, "docProps/core.xml", budget);
  if (!core.is_ok() || !*core) return;
  XmlDocPtr x = parse_xml(**core);
  if (!x) return;
  const xmlNode* root = xmlDocGetRootElement(x.get());
  for (const xmlNode* c = root ? root->children : nullptr; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    xmlChar* s = xmlNodeGetContent(c);
    std::string v = s ? std::string(trim(reinterpret_cast<const char*>(s))) : "";
    if (s) xmlFree(s);
    if (v.empty()) continue;
    if (is(c, "title")) doc.title = v;
    else if (is(c, "creator")) doc.metadata["author"] = v;
    else if (is(c, "modified")) { if (auto t = parse_timestamp(v)) doc.updated_at = *t; }
    else if (is(c, "created")) { if (auto t = parse_timestamp(v)) doc.created_at = *t; }
    else if (is(c, "keywords")) apply_field(doc, "tags", {v});
  }
}

}  // namespace

Status parse_docx(const FileInput& in) {
  // libxml2 wants one initialisation before threads use it (HTTP uploads may
  // parse concurrently); a function-local static makes that happen once.
  static const bool xml_ready = [] {
    xmlInitParser();
    return true;
  }();
  (void)xml_ready;
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(in.bytes.data(), in.bytes.size(), 0, &err);
  if (!src) {
    zip_error_fini(&err);
    return Status::internal("cannot create a zip source");
  }
  std::unique_ptr<zip_t, ZipCloser> zip(zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!zip) {
    zip_source_free(src);
    std::string why = zip_error_strerror(&err);
    zip_error_fini(&err);
    return Status::invalid_argument("not a DOCX (not a readable zip archive: " + why + ")");
  }
  zip_error_fini(&err);
  ZipBudget budget;
  budget.archive_bytes = in.bytes.size();
  budget.max_bytes = in.options ? in.options->max_decompressed_bytes : kMaxXmlBytes;
  budget.max_ratio = in.options ? in.options->max_compression_ratio : 0;
  RAGD_ASSIGN_OR_RETURN(auto main, read_member(zip.get(), "word/document.xml", budget));
  if (!main) return Status::invalid_argument("not a DOCX (zip archive without word/document.xml)");
  XmlDocPtr x = parse_xml(*main);
  if (!x) return Status::invalid_argument("word/document.xml is not well-formed XML");
  DocxWalker w;
  read_styles(zip.get(), budget, w);
  read_numbering(zip.get(), budget, w);
  const xmlNode* root = xmlDocGetRootElement(x.get());
  const xmlNode* body = find_child(root, "body");
  if (!body) return Status::invalid_argument("word/document.xml has no w:body");
  w.body(body);
  w.flush();
  Document doc = std::move(w.doc);
  if (doc.blocks.empty()) return Status::invalid_argument("DOCX has no text; skipped");
  std::string body_title = doc.title;
  read_core(zip.get(), budget, doc);
  if (doc.title.empty()) doc.title = body_title;
  finish_file_document(doc, in);
  in.emit(std::move(doc));
  return Status::ok();
}

}  // namespace ragd::connectors
