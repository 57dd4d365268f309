// Markdown (with YAML-ish front matter) and plain-text files.
#include "connectors/internal.h"
#include "ragd/chunk_text.h"

namespace ragd::connectors {

namespace {

std::string unquote(std::string_view v) {
  v = trim(v);
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
    v = v.substr(1, v.size() - 2);
  return std::string(v);
}

// Splits off "---\n...\n---\n" front matter. Returns the body; fills `fields`
// with key -> values (a flow list "[a, b]" or a block list "- a" gives many).
std::string_view split_front_matter(std::string_view text,
                                    std::vector<std::pair<std::string, std::vector<std::string>>>& fields) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (text.substr(0, 3) != "---") return text;
  size_t first_nl = text.find('\n');
  if (first_nl == std::string_view::npos || trim(text.substr(0, first_nl)) != "---") return text;
  size_t pos = first_nl + 1;
  std::vector<std::string_view> lines;
  bool closed = false;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    std::string_view t = trim(line);
    if (t == "---" || t == "...") { closed = true; break; }
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
  }
  if (!closed) return text;  // not front matter after all
  for (std::string_view line : lines) {
    std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    if (t.front() == '-' && !fields.empty()) {  // block list item of the last key
      fields.back().second.push_back(unquote(t.substr(1)));
      continue;
    }
    size_t colon = t.find(':');
    if (colon == std::string_view::npos) continue;
    std::string key(trim(t.substr(0, colon)));
    std::string_view value = trim(t.substr(colon + 1));
    std::vector<std::string> values;
    if (value.size() >= 2 && value.front() == '[' && value.back() == ']') {
      values = split_list(value.substr(1, value.size() - 2));
      for (auto& v : values) v = unquote(v);
    } else if (!value.empty()) {
      values.push_back(unquote(value));
    }
    fields.emplace_back(std::move(key), std::move(values));
  }
  return pos > text.size() ? std::string_view() : text.substr(pos);
}

// First "# Heading" line outside fenced code, or "".
std::string first_h1(std::string_view text) {
  size_t pos = 0;
  CodeFenceReader fences(kAnyFenceIndent);  // as normalize_text reads them
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    std::string_view t = trim(line);
    if (fences.next(line) == CodeFenceReader::Line::kProse && t.size() > 2 && t[0] == '#' && t[1] == ' ')
      return std::string(trim(t.substr(2)));
  }
  return "";
}

}  // namespace

Status parse_markdown(const FileInput& in) {
  if (looks_binary(in.bytes)) return Status::invalid_argument("binary content in a Markdown file; skipped");
  Document doc;
  std::vector<std::pair<std::string, std::vector<std::string>>> fields;
  std::string_view body = split_front_matter(in.bytes, fields);
  for (const auto& [key, values] : fields) apply_field(doc, key, values);
  // Documentation sites' dialects become plain Markdown first, so that a
  // note's prose is not read as code.
  return emit_markdown(in, std::move(doc), normalize_markdown_dialects(body));
}

Status emit_markdown(const FileInput& in, Document doc, std::string markdown) {
  // Markdown stays Markdown: the chunker reads its headings and code fences.
  doc.text = std::move(markdown);
  if (doc.title.empty()) doc.title = first_h1(doc.text);
  finish_file_document(doc, in);
  in.emit(std::move(doc));
  return Status::ok();
}

Status parse_text(const FileInput& in) {
  if (looks_binary(in.bytes)) return Status::invalid_argument("binary content in a text file; skipped");
  Document doc;
  std::string_view text = in.bytes;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  // A short first line reads as a title.
  size_t nl = text.find('\n');
  std::string_view first = trim(text.substr(0, nl));
  if (!first.empty() && first.size() <= 120) doc.title = std::string(first);
  doc.text = std::string(text);
  finish_file_document(doc, in);
  in.emit(std::move(doc));
  return Status::ok();
}

}  // namespace ragd::connectors
