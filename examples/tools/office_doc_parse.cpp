// Parses the Markdown-like text sources of the generated office documents.
#include <fstream>
#include <sstream>

#include "office_doc.h"

namespace ragd::examples {
namespace {

bool is_valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    if (c < 0x80) extra = 0;
    else if ((c & 0xE0) == 0xC0 && c >= 0xC2) extra = 1;
    else if ((c & 0xF0) == 0xE0) extra = 2;
    else if ((c & 0xF8) == 0xF0 && c <= 0xF4) extra = 3;
    else return false;
    for (size_t k = 1; k <= extra; ++k) {
      if (i + k >= s.size()) return false;
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

Result<OfficeDoc> parse_office_source(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error(path.string() + ": cannot open");
  std::stringstream buf;
  buf << in.rdbuf();
  std::string all = buf.str();
  if (all.size() >= 3 && all.compare(0, 3, "\xEF\xBB\xBF") == 0) all.erase(0, 3);
  if (!is_valid_utf8(all)) return Status::invalid_argument(path.string() + ": not valid UTF-8");

  OfficeDoc doc;
  std::istringstream lines(all);
  std::string line;
  bool in_body = false;  // a body paragraph is open and takes continuation lines
  while (std::getline(lines, line)) {
    const std::string t = trim(line);
    if (t.empty()) {
      in_body = false;
      continue;
    }
    if (t.rfind("## ", 0) == 0) {
      doc.paragraphs.push_back({ParagraphStyle::kHeading, trim(t.substr(3))});
      in_body = false;
    } else if (t.rfind("# ", 0) == 0) {
      doc.paragraphs.push_back({ParagraphStyle::kTitle, trim(t.substr(2))});
      if (doc.title.empty()) doc.title = doc.paragraphs.back().text;
      in_body = false;
    } else if (t.rfind("- ", 0) == 0) {
      doc.paragraphs.push_back({ParagraphStyle::kBullet, trim(t.substr(2))});
      in_body = true;  // an indented continuation line belongs to the item
    } else if (in_body) {
      doc.paragraphs.back().text += " " + t;
    } else {
      doc.paragraphs.push_back({ParagraphStyle::kBody, t});
      in_body = true;
    }
  }
  if (doc.title.empty()) return Status::invalid_argument(path.string() + ": no '# ' title line");
  return doc;
}

Status replace_file(const std::filesystem::path& tmp, const std::filesystem::path& out) {
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return Status::io_error(out.string() + ": cannot rename from " + tmp.string() + ": " + ec.message());
  return Status::ok();
}

}  // namespace ragd::examples
