// Small helpers shared by the connector parsers: timestamps, lists, kinds.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "connectors/internal.h"

namespace ragd::connectors {

namespace {

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool read_digits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

}  // namespace

std::optional<int64_t> parse_timestamp(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  if (std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    if (v > 100000000000LL) v /= 1000;  // milliseconds
    return v;
  }
  size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, pos, 4, y) || pos >= s.size() || s[pos++] != '-') return std::nullopt;
  if (!read_digits(s, pos, 2, mo) || pos >= s.size() || s[pos++] != '-') return std::nullopt;
  if (!read_digits(s, pos, 2, d)) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ' || s[pos] == 't')) {
    ++pos;
    if (!read_digits(s, pos, 2, h) || pos >= s.size() || s[pos++] != ':') return std::nullopt;
    if (!read_digits(s, pos, 2, mi)) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!read_digits(s, pos, 2, sec)) return std::nullopt;
    }
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    }
    while (pos < s.size() && s[pos] == ' ') ++pos;
    if (pos < s.size()) {
      char c = s[pos];
      if (c == 'Z' || c == 'z') {
        ++pos;
      } else if (c == '+' || c == '-') {
        ++pos;
        int oh = 0, om = 0;
        if (!read_digits(s, pos, 2, oh)) return std::nullopt;
        if (pos < s.size() && s[pos] == ':') ++pos;
        if (pos < s.size() && !read_digits(s, pos, 2, om)) return std::nullopt;
        offset = (oh * 3600 + om * 60) * (c == '+' ? 1 : -1);
      } else if (s.substr(pos) == "UTC" || s.substr(pos) == "GMT") {
        pos = s.size();
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
         h * 3600 + mi * 60 + sec - offset;
}

bool looks_binary(std::string_view bytes) {
  const size_t n = std::min<size_t>(bytes.size(), 8192);
  size_t control = 0;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == 0) return true;
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f') ++control;
  }
  return n > 0 && control * 10 > n;  // more than 10% control bytes
}

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ',' || s[i] == ';') {
      std::string_view item = trim(s.substr(start, i - start));
      if (item.size() >= 2 && (item.front() == '"' || item.front() == '\'') && item.back() == item.front())
        item = item.substr(1, item.size() - 2);
      if (!item.empty()) out.emplace_back(item);
      start = i + 1;
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

std::string kind_from_folder(std::string_view folder) {
  std::string f = to_lower(folder);
  if (f == "runbooks" || f == "runbook" || f == "playbooks") return "runbook";
  if (f == "policies" || f == "policy") return "policy";
  if (f == "tickets" || f == "ticket" || f == "incidents") return "ticket";
  if (f == "kb" || f == "articles" || f == "knowledge") return "article";
  return "";
}

void apply_field(Document& doc, std::string_view raw_key, const std::vector<std::string>& values) {
  const std::string key = to_lower(trim(raw_key));
  if (values.empty()) return;
  const std::string& v = values.front();
  if (key == "title") {
    doc.title = v;
  } else if (key == "kind" || key == "type") {
    doc.kind = to_lower(v);
  } else if (key == "id") {
    doc.id = v;
  } else if (key == "url" || key == "link") {
    doc.url = v;
  } else if (key == "source") {
    doc.source = v;
  } else if (key == "acl" || key == "groups" || key == "access") {
    for (const auto& g : values)
      for (auto& item : split_list(g)) doc.acl.push_back(item);
  } else if (key == "updated" || key == "updated_at" || key == "date" || key == "last_updated" ||
             key == "modified") {
    if (auto t = parse_timestamp(v)) doc.updated_at = *t;
  } else if (key == "created" || key == "created_at") {
    if (auto t = parse_timestamp(v)) doc.created_at = *t;
  } else if (!key.empty()) {
    doc.metadata[key] = join(values, ",");
  }
}

std::string file_stem(std::string_view name) {
  size_t slash = name.find_last_of('/');
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  size_t dot = name.find_last_of('.');
  if (dot != std::string_view::npos && dot > 0) name = name.substr(0, dot);
  return std::string(name);
}

void finish_file_document(Document& doc, const FileInput& in) {
  if (doc.id.empty()) doc.id = in.doc_id;
  if (doc.kind.empty()) doc.kind = in.kind_hint.empty() ? "document" : in.kind_hint;
  if (doc.source.empty()) doc.source = "file";
  if (doc.updated_at == 0) doc.updated_at = in.mtime;
  if (doc.title.empty()) doc.title = file_stem(in.name);
  doc.origin = in.name;
}

void SectionBuilder::flush() {
  std::string_view t = trim(buf);
  if (!t.empty()) {
    Block b;
    for (const auto& [level, text] : path) b.section_path.push_back(text);
    b.text = std::string(t);
    doc.blocks.push_back(std::move(b));
  }
  buf.clear();
}

void SectionBuilder::heading(int level, std::string text) {
  flush();
  while (!path.empty() && path.back().first >= level) path.pop_back();
  if (level == 1 && doc.title.empty()) doc.title = text;
  if (!text.empty()) path.emplace_back(level, std::move(text));
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string_view>& lines, size_t from) {
  std::string out;
  for (size_t i = from; i < lines.size(); ++i) {
    out += lines[i];
    out += '\n';
  }
  return out;
}

std::string code_span(std::string_view code) {
  size_t longest = 0, run = 0;
  for (char c : code) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string ticks(longest + 1, '`');
  const bool pad = !code.empty() && (code.front() == '`' || code.back() == '`');
  return ticks + (pad ? " " : "") + std::string(code) + (pad ? " " : "") + ticks;
}

void SectionBuilder::close_sections_below(int level) {
  flush();
  while (!path.empty() && path.back().first > level) path.pop_back();
}

}  // namespace ragd::connectors
