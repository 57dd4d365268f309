// Test helpers: a temp directory, a sink that collects, and writers for small
// real PDF and DOCX files.
#pragma once

#include <gtest/gtest.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "connectors/connector.h"

namespace ragd::testing {

class TempDir {
 public:
  TempDir() {
    std::mt19937_64 rng(std::random_device{}());
    path_ = std::filesystem::temp_directory_path() / ("ragd-conn-" + std::to_string(rng()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& rel, const std::string& bytes) const {
    auto p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

 private:
  std::filesystem::path path_;
};

struct Collected {
  std::vector<Document> docs;
  std::vector<Status> errors;
  FetchSink sink() {
    return FetchSink{[this](Document&& d) { docs.push_back(std::move(d)); },
                     [this](const Status& s) { errors.push_back(s); }};
  }
  const Document* find(const std::string& id) const {
    for (const auto& d : docs)
      if (d.id == id) return &d;
    return nullptr;
  }
  std::string error_text() const {
    std::string out;
    for (const auto& e : errors) out += e.to_string() + "\n";
    return out;
  }
};

inline std::string pdf_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The bytes of a PDF file of `objs` (object n is objs[n-1], the catalog
// first) with a cross-reference table; `trailer` adds to the trailer
// dictionary ("/Info 7 0 R").
inline std::string pdf_file(const std::vector<std::string>& objs, const std::string& trailer) {
  std::string out = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  const size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%010zu 00000 n \n", off);
    out += buf;
  }
  out += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R " + trailer + ">>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return out;
}

// A valid PDF, one page per entry of `pages`, each line of a page a text line
// in Helvetica; `title` goes into the Info dictionary.
inline std::string make_pdf(const std::vector<std::vector<std::string>>& pages, const std::string& title) {
  std::vector<std::string> objs;  // object n is objs[n-1]
  const size_t n_pages = pages.size();
  const size_t font = 3 + 2 * n_pages, info = font + 1;
  objs.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  std::string kids;
  for (size_t i = 0; i < n_pages; ++i) kids += std::to_string(3 + 2 * i) + " 0 R ";
  std::string pages_obj = "<< /Type /Pages /Kids [";
  pages_obj += kids;
  pages_obj += "] /Count ";
  pages_obj += std::to_string(n_pages);
  pages_obj += " >>";
  objs.push_back(pages_obj);
  for (size_t i = 0; i < n_pages; ++i) {
    objs.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 " +
                   std::to_string(font) + " 0 R >> >> /Contents " + std::to_string(4 + 2 * i) + " 0 R >>");
    std::string content = "BT /F1 11 Tf 14 TL 72 720 Td\n";
    for (const auto& line : pages[i]) {
      content += '(';
      content += pdf_escape(line);
      content += ") Tj T*\n";
    }
    content += "ET\n";
    objs.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "endstream");
  }
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  objs.push_back("<< /Title (" + pdf_escape(title) + ") >>");
  return pdf_file(objs, "/Info " + std::to_string(info) + " 0 R ");
}

// A line of a styled PDF page: its text, face ('R' Helvetica, 'B'
// Helvetica-Bold, 'M' Courier), size in points, the space above it in
// points beyond the line's own height, and its left margin.
struct PdfLine {
  std::string text;
  char face = 'R';
  double size = 11;
  double space_above = 3;
  double left = 72;
};

// A valid PDF whose lines have their own face, size and place (no Info
// title: a title must come from the page).
inline std::string make_styled_pdf(const std::vector<std::vector<PdfLine>>& pages) {
  std::vector<std::string> objs;  // object n is objs[n-1]
  const size_t n_pages = pages.size();
  const size_t fonts = 3 + 2 * n_pages;  // R, B, M
  objs.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  std::string kids;
  for (size_t i = 0; i < n_pages; ++i) kids += std::to_string(3 + 2 * i) + " 0 R ";
  objs.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(n_pages) + " >>");
  for (size_t i = 0; i < n_pages; ++i) {
    objs.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /R " +
                   std::to_string(fonts) + " 0 R /B " + std::to_string(fonts + 1) + " 0 R /M " +
                   std::to_string(fonts + 2) + " 0 R >> >> /Contents " + std::to_string(4 + 2 * i) + " 0 R >>");
    std::string content;
    double y = 740;
    for (const auto& line : pages[i]) {
      y -= line.size + line.space_above;
      char buf[96];
      std::snprintf(buf, sizeof buf, "BT /%c %.1f Tf %.1f %.1f Td (", line.face, line.size, line.left, y);
      content += buf;
      content += pdf_escape(line.text);
      content += ") Tj ET\n";
    }
    objs.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "endstream");
  }
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>");
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>");
  return pdf_file(objs, "");
}

// A zip archive (stored in memory) with the given members.
inline std::string make_zip(const std::vector<std::pair<std::string, std::string>>& members) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  zip_source_keep(src);
  zip_t* z = zip_open_from_source(src, ZIP_TRUNCATE, &err);
  EXPECT_NE(z, nullptr);
  for (const auto& [name, data] : members) {
    // libzip copies lazily: keep the bytes alive until zip_close.
    zip_source_t* s = zip_source_buffer(z, data.data(), data.size(), 0);
    zip_file_add(z, name.c_str(), s, ZIP_FL_OVERWRITE);
  }
  zip_close(z);
  std::string out;
  zip_source_open(src);
  zip_source_seek(src, 0, SEEK_END);
  zip_int64_t size = zip_source_tell(src);
  zip_source_seek(src, 0, SEEK_SET);
  out.resize(static_cast<size_t>(size));
  zip_source_read(src, out.data(), static_cast<zip_uint64_t>(size));
  zip_source_close(src);
  zip_source_free(src);
  zip_error_fini(&err);
  return out;
}

// paragraphs: (style id or "", text); a row list becomes a table after them.
inline std::string make_docx(const std::vector<std::pair<std::string, std::string>>& paragraphs,
                             const std::vector<std::vector<std::string>>& table, const std::string& title) {
  std::string body;
  for (const auto& [style, text] : paragraphs) {
    body += "<w:p>";
    if (!style.empty()) body += "<w:pPr><w:pStyle w:val=\"" + style + "\"/></w:pPr>";
    body += "<w:r><w:t xml:space=\"preserve\">" + text + "</w:t></w:r></w:p>";
  }
  if (!table.empty()) {
    body += "<w:tbl>";
    for (const auto& row : table) {
      body += "<w:tr>";
      for (const auto& cell : row) body += "<w:tc><w:p><w:r><w:t>" + cell + "</w:t></w:r></w:p></w:tc>";
      body += "</w:tr>";
    }
    body += "</w:tbl>";
  }
  const std::string ns = "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"";
  std::string document = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><w:document " + ns +
                         "><w:body>" + body + "</w:body></w:document>";
  std::string styles = "<?xml version=\"1.0\"?><w:styles " + ns +
                       "><w:style w:type=\"paragraph\" w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/></w:style>"
                       "<w:style w:type=\"paragraph\" w:styleId=\"Berschrift2\"><w:name w:val=\"heading 2\"/></w:style>"
                       "</w:styles>";
  std::string core =
      "<?xml version=\"1.0\"?><cp:coreProperties "
      "xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
      "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\">"
      "<dc:title>" + title + "</dc:title><dcterms:modified>2024-05-01T12:00:00Z</dcterms:modified>"
      "</cp:coreProperties>";
  std::string types = "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
  return make_zip({{"[Content_Types].xml", types}, {"word/document.xml", document}, {"word/styles.xml", styles},
                   {"docProps/core.xml", core}});
}

}  // namespace ragd::testing
