#include "govern/redact.h"

#include <algorithm>
#include <cctype>

namespace ragd::govern {
namespace {

const std::regex& email_re() {
  static const std::regex re(R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})");
  return re;
}

// IPv4 dotted quads and IPv6 with at least two groups and a "::" or eight
// groups (so "10:30" in a time is not one).
const std::regex& ip_re() {
  static const std::regex re(
      R"(\b(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\b)"
      R"(|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b)"
      R"(|\b(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}\b)?)");
  return re;
}

const std::regex& fqdn_re() {
  static const std::regex re(
      R"(\b[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){1,}\.[A-Za-z]{2,24}\b)");
  return re;
}

const std::regex& internal_host_re() {
  static const std::regex re(R"(\b[a-z][a-z0-9]*(?:-[a-z0-9]+)+-[0-9]{1,4}[a-z]?\b)");
  return re;
}

std::string replace_all(const std::string& text, const std::regex& re, const char* marker, int* count) {
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), re);
  auto end = std::sregex_iterator();
  size_t last = 0;
  for (auto it = begin; it != end; ++it) {
    const auto& m = *it;
    if (m.length(0) == 0) continue;
    out.append(text, last, static_cast<size_t>(m.position(0)) - last);
    out += marker;
    last = static_cast<size_t>(m.position(0) + m.length(0));
    ++*count;
  }
  out.append(text, last, std::string::npos);
  return out;
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whole-word, case-insensitive literal replacement.
std::string replace_name(const std::string& text, const std::string& name, int* count) {
  const std::string hay = lower(text);
  const std::string needle = lower(name);
  std::string out;
  size_t last = 0, pos = 0;
  while ((pos = hay.find(needle, pos)) != std::string::npos) {
    const size_t end = pos + needle.size();
    const bool whole = (pos == 0 || !word_char(text[pos - 1])) && (end == text.size() || !word_char(text[end]));
    if (!whole) {
      ++pos;
      continue;
    }
    out.append(text, last, pos - last);
    out += "[NAME]";
    last = pos = end;
    ++*count;
  }
  out.append(text, last, std::string::npos);
  return out;
}

}  // namespace

Result<Redactor> Redactor::make(const std::vector<std::string>& patterns) {
  Redactor r;
  for (const auto& p : patterns) {
    if (p.empty()) return Status::invalid_argument("redact pattern is empty");
    try {
      r.patterns_.emplace_back(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Status::invalid_argument("redact pattern \"" + p + "\" is not a valid regular expression: " + e.what());
    }
  }
  return r;
}

std::string Redactor::redact(std::string_view text, const std::vector<std::string>& names,
                             RedactionCounts* counts) const {
  RedactionCounts local;
  RedactionCounts& c = counts ? *counts : local;
  // Longest names first, so "Jane Doe" is replaced before "Jane".
  std::vector<std::string> sorted;
  for (const auto& n : names) {
    std::string t = n;
    t.erase(t.begin(), std::find_if(t.begin(), t.end(), [](unsigned char ch) { return !std::isspace(ch); }));
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    if (t.size() >= 3) sorted.push_back(std::move(t));
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  std::string out(text);
  out = replace_all(out, email_re(), "[EMAIL]", &c.emails);
  out = replace_all(out, ip_re(), "[IP]", &c.ips);
  out = replace_all(out, fqdn_re(), "[HOST]", &c.hosts);
  out = replace_all(out, internal_host_re(), "[HOST]", &c.hosts);
  for (const auto& n : sorted) out = replace_name(out, n, &c.names);
  for (const auto& re : patterns_) out = replace_all(out, re, "[REDACTED]", &c.patterns);
  return out;
}

}  // namespace ragd::govern
