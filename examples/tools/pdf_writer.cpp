// A small PDF 1.4 writer: standard Helvetica fonts (no embedding), WinAnsi
// text, greedy word wrap with the Helvetica AFM widths, A4 pages with a
// footer, and a cross-reference table with exact byte offsets.
#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "office_doc.h"

namespace ragd::examples {
namespace {

constexpr double kPageWidth = 595;   // A4 in points
constexpr double kPageHeight = 842;
constexpr double kMarginLeft = 64;
constexpr double kMarginRight = 64;
constexpr double kMarginTop = 72;
constexpr double kMarginBottom = 72;
constexpr double kBulletIndent = 18;

// Helvetica advance widths (1/1000 em) for the printable ASCII range 32..126,
// from the standard Adobe AFM file.
constexpr std::array<int, 95> kHelveticaWidths = {
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,  // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,  // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,  // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,  // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584};      // p..~

struct FontStyle {
  const char* resource;  // "/F1" regular, "/F2" bold
  double size;           // points
  double leading;        // baseline to baseline, points
  double space_before;   // points
  double space_after;    // points
  bool bold;
};

constexpr FontStyle kTitleFont{"/F2", 18, 23, 0, 10, true};
constexpr FontStyle kHeadingFont{"/F2", 13, 17, 10, 4, true};
constexpr FontStyle kBodyFont{"/F1", 10.5, 14, 0, 6, false};

// Decodes UTF-8 (already validated) and maps each code point to a WinAnsi
// byte; characters outside WinAnsi become '?'.
std::string to_winansi(const std::string& utf8) {
  std::string out;
  for (size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    uint32_t cp = c;
    size_t n = 1;
    if (c >= 0xF0) { cp = c & 0x07; n = 4; }
    else if (c >= 0xE0) { cp = c & 0x0F; n = 3; }
    else if (c >= 0xC0) { cp = c & 0x1F; n = 2; }
    for (size_t k = 1; k < n && i + k < utf8.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    i += n;
    if (cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF)) { out.push_back(static_cast<char>(cp)); continue; }
    switch (cp) {
      case 0x20AC: out.push_back('\x80'); break;  // euro
      case 0x2026: out.push_back('\x85'); break;  // ellipsis
      case 0x2018: out.push_back('\x91'); break;
      case 0x2019: out.push_back('\x92'); break;
      case 0x201C: out.push_back('\x93'); break;
      case 0x201D: out.push_back('\x94'); break;
      case 0x2022: out.push_back('\x95'); break;  // bullet
      case 0x2013: out.push_back('\x96'); break;  // en dash
      case 0x2014: out.push_back('\x97'); break;  // em dash
      case 0x2122: out.push_back('\x99'); break;  // trade mark
      default: out.push_back('?');
    }
  }
  return out;
}

double text_width(const std::string& winansi, const FontStyle& font) {
  double units = 0;
  for (char ch : winansi) {
    const auto c = static_cast<unsigned char>(ch);
    units += (c >= 32 && c <= 126) ? kHelveticaWidths[c - 32] : 556;
  }
  // Helvetica-Bold is up to ~10% wider; over-estimating keeps lines inside
  // the margin without a second width table.
  if (font.bold) units *= 1.1;
  return units * font.size / 1000.0;
}

// Greedy word wrap; a word longer than a line is broken by characters.
std::vector<std::string> wrap(const std::string& winansi, const FontStyle& font, double max_width) {
  std::vector<std::string> lines;
  std::string line;
  size_t i = 0;
  while (i < winansi.size()) {
    while (i < winansi.size() && winansi[i] == ' ') ++i;
    const size_t j = winansi.find(' ', i);
    std::string word = winansi.substr(i, j == std::string::npos ? std::string::npos : j - i);
    i = j == std::string::npos ? winansi.size() : j;
    if (word.empty()) break;
    const std::string candidate = line.empty() ? word : line + " " + word;
    if (text_width(candidate, font) <= max_width) { line = candidate; continue; }
    if (!line.empty()) lines.push_back(line);
    line.clear();
    while (text_width(word, font) > max_width) {
      size_t cut = word.size();
      while (cut > 1 && text_width(word.substr(0, cut), font) > max_width) --cut;
      lines.push_back(word.substr(0, cut));
      word.erase(0, cut);
    }
    line = word;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

// A PDF literal string: ( ) and \ escaped, bytes outside printable ASCII
// written as octal escapes so the file body stays 7-bit.
std::string pdf_literal(const std::string& winansi) {
  std::string out = "(";
  for (char ch : winansi) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '(' || ch == ')' || ch == '\\') { out.push_back('\\'); out.push_back(ch); }
    else if (c < 32 || c > 126) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    } else out.push_back(ch);
  }
  return out + ")";
}

// A PDF text string for /Info: UTF-16BE with a byte order mark, as hex.
std::string pdf_text_string(const std::string& utf8) {
  std::string out = "<FEFF";
  char buf[8];
  for (size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    uint32_t cp = c;
    size_t n = 1;
    if (c >= 0xF0) { cp = c & 0x07; n = 4; }
    else if (c >= 0xE0) { cp = c & 0x0F; n = 3; }
    else if (c >= 0xC0) { cp = c & 0x1F; n = 2; }
    for (size_t k = 1; k < n && i + k < utf8.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    i += n;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      std::snprintf(buf, sizeof buf, "%04X", 0xD800 + (cp >> 10));
      out += buf;
      cp = 0xDC00 + (cp & 0x3FF);
    }
    std::snprintf(buf, sizeof buf, "%04X", cp);
    out += buf;
  }
  return out + ">";
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Lays the paragraphs out into per-page content streams (without footers).
std::vector<std::string> layout(const OfficeDoc& doc) {
  std::vector<std::string> pages(1);
  double y = kPageHeight - kMarginTop;
  const double width = kPageWidth - kMarginLeft - kMarginRight;
  bool first_on_page = true;
  for (const Paragraph& p : doc.paragraphs) {
    const FontStyle& font = p.style == ParagraphStyle::kTitle     ? kTitleFont
                            : p.style == ParagraphStyle::kHeading ? kHeadingFont
                                                                  : kBodyFont;
    const bool bullet = p.style == ParagraphStyle::kBullet;
    const double indent = bullet ? kBulletIndent : 0;
    const std::vector<std::string> lines = wrap(to_winansi(p.text), font, width - indent);
    if (!first_on_page) y -= font.space_before;
    // Keep a heading with at least two lines of what follows.
    const double needed = font.leading * (p.style == ParagraphStyle::kHeading ? 3 : 1);
    for (size_t i = 0; i < lines.size(); ++i) {
      if (y - (i == 0 ? needed : font.leading) < kMarginBottom) {
        pages.emplace_back();
        y = kPageHeight - kMarginTop;
      }
      y -= font.leading;
      std::string& s = pages.back();
      if (bullet && i == 0) {
        s += "BT /F1 " + fmt(font.size) + " Tf " + fmt(kMarginLeft + 4) + " " + fmt(y) +
             " Td " + pdf_literal("\x95") + " Tj ET\n";
      }
      s += std::string("BT ") + font.resource + " " + fmt(font.size) + " Tf " +
           fmt(kMarginLeft + indent) + " " + fmt(y) + " Td " + pdf_literal(lines[i]) + " Tj ET\n";
    }
    y -= font.space_after;
    first_on_page = false;
  }
  return pages;
}

}  // namespace

Status write_pdf(const OfficeDoc& doc, const std::filesystem::path& out) {
  std::vector<std::string> pages = layout(doc);
  const size_t n_pages = pages.size();
  for (size_t i = 0; i < n_pages; ++i) {
    const std::string footer = to_winansi(doc.title) + " \x97 Page " + std::to_string(i + 1) +
                               " of " + std::to_string(n_pages);
    pages[i] += "BT /F1 8.00 Tf " + fmt(kMarginLeft) + " 40.00 Td " + pdf_literal(footer) + " Tj ET\n";
  }

  // Object numbers: 1 catalog, 2 page tree, 3 and 4 fonts, 5 info, then a
  // page object and its content stream for every page.
  std::vector<std::string> objects(5 + 2 * n_pages);
  objects[0] = "<< /Type /Catalog /Pages 2 0 R >>";
  std::string kids;
  for (size_t i = 0; i < n_pages; ++i) kids += std::to_string(6 + 2 * i) + " 0 R ";
  objects[1] = "<< /Type /Pages /Kids [ " + kids + "] /Count " + std::to_string(n_pages) + " >>";
  objects[2] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";
  objects[3] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>";
  objects[4] = "<< /Title " + pdf_text_string(doc.title) +
               " /Author (Northwind Logistics IT) /Producer (ragd make_office_docs) >>";
  for (size_t i = 0; i < n_pages; ++i) {
    objects[5 + 2 * i] = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 " + fmt(kPageWidth) + " " +
                         fmt(kPageHeight) + "] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents " +
                         std::to_string(7 + 2 * i) + " 0 R >>";
    objects[6 + 2 * i] = "<< /Length " + std::to_string(pages[i].size()) + " >>\nstream\n" + pages[i] +
                         "endstream";
  }

  std::string pdf = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const size_t xref_at = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char entry[24];
    std::snprintf(entry, sizeof entry, "%010zu 00000 n \n", off);
    pdf += entry;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R /Info 5 0 R >>\nstartxref\n" +
         std::to_string(xref_at) + "\n%%EOF\n";

  const std::filesystem::path tmp = out.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status::io_error(tmp.string() + ": cannot create");
    f.write(pdf.data(), static_cast<std::streamsize>(pdf.size()));
    if (!f.flush()) return Status::io_error(tmp.string() + ": write failed");
  }
  return replace_file(tmp, out);
}

}  // namespace ragd::examples
