// Writes a minimal but valid WordprocessingML (.docx) package with libzip.
#include <zip.h>

#include <string>
#include <utility>
#include <vector>

#include "office_doc.h"

namespace ragd::examples {
namespace {

constexpr const char* kXmlDecl = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
constexpr const char* kWordNs = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
// A fixed timestamp (2024-01-01T00:00:00Z) for every zip entry, so that the
// build is reproducible.
constexpr time_t kEntryMtime = 1704067200;

// Escapes the five XML specials and drops control characters that XML 1.0
// does not allow (tab is kept).
std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t') break;
        out.push_back(ch);
    }
  }
  return out;
}

std::string content_types_xml() {
  return std::string(kXmlDecl) +
         "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
         "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
         "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
         "<Override PartName=\"/word/document.xml\" ContentType=\"application/"
         "vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>"
         "<Override PartName=\"/word/styles.xml\" ContentType=\"application/"
         "vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/>"
         "<Override PartName=\"/docProps/core.xml\" ContentType=\"application/"
         "vnd.openxmlformats-package.core-properties+xml\"/>"
         "</Types>";
}

std::string package_rels_xml() {
  return std::string(kXmlDecl) +
         "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
         "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
         "relationships/officeDocument\" Target=\"word/document.xml\"/>"
         "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/"
         "relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>"
         "</Relationships>";
}

std::string document_rels_xml() {
  return std::string(kXmlDecl) +
         "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
         "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
         "relationships/styles\" Target=\"styles.xml\"/>"
         "</Relationships>";
}

std::string heading_style(const char* id, const char* name, int level, int half_points) {
  return std::string("<w:style w:type=\"paragraph\" w:styleId=\"") + id + "\"><w:name w:val=\"" + name +
         "\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:uiPriority w:val=\"9\"/><w:qFormat/>"
         "<w:pPr><w:keepNext/><w:spacing w:before=\"240\" w:after=\"120\"/><w:outlineLvl w:val=\"" +
         std::to_string(level) + "\"/></w:pPr><w:rPr><w:b/><w:sz w:val=\"" + std::to_string(half_points) +
         "\"/></w:rPr></w:style>";
}

std::string styles_xml() {
  return std::string(kXmlDecl) + "<w:styles xmlns:w=\"" + kWordNs + "\">" +
         "<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii=\"Calibri\" w:hAnsi=\"Calibri\" "
         "w:cs=\"Calibri\"/><w:sz w:val=\"22\"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr>"
         "<w:spacing w:after=\"120\"/></w:pPr></w:pPrDefault></w:docDefaults>"
         "<w:style w:type=\"paragraph\" w:default=\"1\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/>"
         "<w:qFormat/></w:style>" +
         heading_style("Heading1", "heading 1", 0, 32) + heading_style("Heading2", "heading 2", 1, 26) +
         "<w:style w:type=\"paragraph\" w:styleId=\"ListBullet\"><w:name w:val=\"List Bullet\"/>"
         "<w:basedOn w:val=\"Normal\"/><w:pPr><w:ind w:left=\"720\" w:hanging=\"360\"/></w:pPr></w:style>"
         "</w:styles>";
}

std::string paragraph_xml(const Paragraph& p) {
  const char* style = nullptr;
  std::string text = p.text;
  switch (p.style) {
    case ParagraphStyle::kTitle: style = "Heading1"; break;
    case ParagraphStyle::kHeading: style = "Heading2"; break;
    case ParagraphStyle::kBullet: style = "ListBullet"; text = "\xE2\x80\xA2\t" + text; break;
    case ParagraphStyle::kBody: break;
  }
  std::string out = "<w:p>";
  if (style) out += std::string("<w:pPr><w:pStyle w:val=\"") + style + "\"/></w:pPr>";
  // A tab inside w:t is not a tab in Word; it must be its own element.
  out += "<w:r>";
  size_t start = 0;
  while (true) {
    const size_t tab = text.find('\t', start);
    const std::string piece = text.substr(start, tab == std::string::npos ? std::string::npos : tab - start);
    if (!piece.empty()) out += "<w:t xml:space=\"preserve\">" + xml_escape(piece) + "</w:t>";
    if (tab == std::string::npos) break;
    out += "<w:tab/>";
    start = tab + 1;
  }
  return out + "</w:r></w:p>";
}

std::string document_xml(const OfficeDoc& doc) {
  std::string out = std::string(kXmlDecl) + "<w:document xmlns:w=\"" + kWordNs +
                    "\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><w:body>";
  for (const Paragraph& p : doc.paragraphs) out += paragraph_xml(p);
  out += "<w:sectPr><w:pgSz w:w=\"11906\" w:h=\"16838\"/><w:pgMar w:top=\"1440\" w:right=\"1440\" "
         "w:bottom=\"1440\" w:left=\"1440\" w:header=\"708\" w:footer=\"708\" w:gutter=\"0\"/></w:sectPr>";
  return out + "</w:body></w:document>";
}

std::string core_xml(const OfficeDoc& doc) {
  return std::string(kXmlDecl) +
         "<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/"
         "core-properties\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
         "xmlns:dcterms=\"http://purl.org/dc/terms/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
         "<dc:title>" + xml_escape(doc.title) + "</dc:title><dc:creator>Northwind Logistics IT</dc:creator>"
         "</cp:coreProperties>";
}

std::string zip_error_text(zip_t* za) { return zip_strerror(za); }

}  // namespace

Status write_docx(const OfficeDoc& doc, const std::filesystem::path& out) {
  // Every part is built before anything is added: libzip reads the buffers
  // only at zip_close, so they must not move until then.
  const std::vector<std::pair<std::string, std::string>> parts = {
      {"[Content_Types].xml", content_types_xml()},
      {"_rels/.rels", package_rels_xml()},
      {"word/document.xml", document_xml(doc)},
      {"word/styles.xml", styles_xml()},
      {"word/_rels/document.xml.rels", document_rels_xml()},
      {"docProps/core.xml", core_xml(doc)},
  };
  const std::filesystem::path tmp = out.string() + ".tmp";
  int err = 0;
  zip_t* za = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    Status st = Status::io_error(tmp.string() + ": cannot create zip: " + zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return st;
  }
  for (const auto& [name, data] : parts) {
    zip_source_t* src = zip_source_buffer(za, data.data(), data.size(), 0);
    if (!src) {
      Status st = Status::io_error(tmp.string() + ": " + name + ": " + zip_error_text(za));
      zip_discard(za);
      return st;
    }
    const zip_int64_t idx = zip_file_add(za, name.c_str(), src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      Status st = Status::io_error(tmp.string() + ": adding " + name + ": " + zip_error_text(za));
      zip_discard(za);
      return st;
    }
    const auto index = static_cast<zip_uint64_t>(idx);
    if (zip_set_file_compression(za, index, ZIP_CM_DEFLATE, 9) != 0 ||
        zip_file_set_mtime(za, index, kEntryMtime, 0) != 0) {
      Status st = Status::io_error(tmp.string() + ": " + name + ": " + zip_error_text(za));
      zip_discard(za);
      return st;
    }
  }
  if (zip_close(za) != 0) {
    Status st = Status::io_error(tmp.string() + ": writing zip: " + zip_error_text(za));
    zip_discard(za);
    return st;
  }
  return replace_file(tmp, out);
}

}  // namespace ragd::examples
