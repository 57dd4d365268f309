#include "api/multipart.h"

#include <algorithm>
#include <cctype>

namespace ragd::api {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Value of `param` in a header such as: form-data; name="file"; filename="a.pdf"
std::string header_param(std::string_view header, std::string_view param) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t semi = header.find(';', pos);
    std::string_view piece = trim(header.substr(pos, semi == std::string_view::npos ? header.npos : semi - pos));
    pos = semi == std::string_view::npos ? header.size() : semi + 1;
    size_t eq = piece.find('=');
    if (eq == std::string_view::npos) continue;
    if (lower(trim(piece.substr(0, eq))) != param) continue;
    std::string_view v = trim(piece.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
      std::string out;
      for (size_t i = 1; i + 1 < v.size(); ++i) {
        if (v[i] == '\\' && i + 2 < v.size()) ++i;
        out.push_back(v[i]);
      }
      return out;
    }
    return std::string(v);
  }
  return {};
}

}  // namespace

std::string multipart_boundary(std::string_view content_type) {
  return header_param(content_type, "boundary");
}

Result<std::vector<MultipartPart>> parse_multipart(std::string_view body, std::string_view content_type) {
  std::string boundary = multipart_boundary(content_type);
  if (boundary.empty()) return Status::invalid_argument("multipart body without a boundary parameter");
  const std::string delim = "--" + boundary;
  std::vector<MultipartPart> parts;
  size_t pos = body.find(delim);
  if (pos == std::string_view::npos) return Status::invalid_argument("multipart body: boundary not found");
  pos += delim.size();
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // closing delimiter
    if (body.substr(pos, 2) != "\r\n") return Status::invalid_argument("multipart body: malformed delimiter line");
    pos += 2;
    size_t hdr_end = body.find("\r\n\r\n", pos);
    if (hdr_end == std::string_view::npos) {
      return Status::invalid_argument("multipart part " + std::to_string(parts.size()) + ": headers not terminated");
    }
    MultipartPart part;
    std::string_view headers = body.substr(pos, hdr_end - pos);
    size_t hp = 0;
    while (hp <= headers.size()) {
      size_t eol = headers.find("\r\n", hp);
      std::string_view line = headers.substr(hp, eol == std::string_view::npos ? headers.npos : eol - hp);
      hp = eol == std::string_view::npos ? headers.size() + 1 : eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name = lower(trim(line.substr(0, colon)));
      std::string_view value = trim(line.substr(colon + 1));
      if (name == "content-disposition") {
        part.name = header_param(value, "name");
        part.filename = header_param(value, "filename");
      } else if (name == "content-type") {
        part.content_type = std::string(value);
      }
    }
    size_t data_start = hdr_end + 4;
    size_t next = body.find("\r\n" + delim, data_start);
    if (next == std::string_view::npos) {
      return Status::invalid_argument("multipart part " + std::to_string(parts.size()) +
                                      ": body ends before the closing boundary (truncated upload?)");
    }
    part.data = body.substr(data_start, next - data_start);
    parts.push_back(std::move(part));
    pos = next + 2 + delim.size();
  }
}

}  // namespace ragd::api
