#include "generate/sentences.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <unordered_set>

#include "ragd/chunk_text.h"

namespace ragd {
namespace {

const std::unordered_set<std::string>& abbreviations() {
  static const std::unordered_set<std::string> kSet = {
      "e.g", "i.e", "eg", "ie", "vs", "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "no", "nos",
      "fig", "figs", "approx", "incl", "cf", "al", "inc", "ltd", "co", "corp", "dept", "ver", "v",
      "ca", "resp", "esp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
      "nov", "dec", "u.s", "a.m", "p.m", "approx", "min", "max", "ext", "tel", "ref", "vol", "pp",
      "ed", "eds", "et", "viz", "sec", "op", "ex", "est"};
  return kSet;
}

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Drops "# ", "- ", "* ", "+ ", "> ", "1. ", "1) " from the start of a line.
std::string_view strip_marker(std::string_view line) {
  line = trim(line);
  for (int round = 0; round < 3; ++round) {
    size_t i = 0;
    if (!line.empty() && (line[0] == '#' || line[0] == '>')) {
      while (i < line.size() && (line[i] == '#' || line[i] == '>')) ++i;
    } else if (line.size() > 1 && (line[0] == '-' || line[0] == '*' || line[0] == '+') && line[1] == ' ') {
      i = 1;
    } else {
      while (i < line.size() && i < 3 && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
      if (i == 0 || i >= line.size() || (line[i] != '.' && line[i] != ')') || i + 1 >= line.size() ||
          line[i + 1] != ' ')
        return line;
      ++i;
    }
    if (i == 0 || i >= line.size() || line[i] != ' ') return line;
    line = trim(line.substr(i));
  }
  return line;
}

// The word before position `dot` (back to whitespace or an opening bracket).
std::string word_before(std::string_view s, size_t dot) {
  size_t b = dot;
  while (b > 0 && !std::isspace(static_cast<unsigned char>(s[b - 1])) && s[b - 1] != '(' && s[b - 1] != '[')
    --b;
  std::string w(s.substr(b, dot - b));
  for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return w;
}

bool starts_sentence(unsigned char c) {
  return std::isupper(c) || std::isdigit(c) || c == '"' || c == '\'' || c == '(' || c == '[' || c == '`' ||
         c >= 0x80;
}

void split_line(std::string_view line, std::vector<std::string>& out) {
  size_t start = 0;
  bool in_code = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '`') in_code = !in_code;
    if (in_code || (c != '.' && c != '!' && c != '?')) continue;
    // Closing quotes and brackets stay with the sentence they end.
    size_t end = i + 1;
    while (end < line.size() && (line[end] == '"' || line[end] == '\'' || line[end] == ')' || line[end] == ']'))
      ++end;
    if (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) continue;  // 2.4.1, a.conf
    size_t next = end;
    while (next < line.size() && std::isspace(static_cast<unsigned char>(line[next]))) ++next;
    if (next < line.size()) {
      if (!starts_sentence(static_cast<unsigned char>(line[next]))) continue;
      if (c == '.') {
        std::string w = word_before(line, i);
        while (!w.empty() && (w.front() == '"' || w.front() == '\'')) w.erase(w.begin());
        if (abbreviations().count(w)) continue;
        if (w.size() == 1 && std::isalpha(static_cast<unsigned char>(w[0]))) continue;  // initials: J. Smith
        if (w.size() == 3 && std::isalpha(static_cast<unsigned char>(w[0])) && w[1] == '.' &&
            std::isalpha(static_cast<unsigned char>(w[2])))
          continue;  // "U.S." style
      }
    }
    std::string_view s = trim(line.substr(start, end - start));
    if (!s.empty()) out.emplace_back(s);
    start = end;
    i = end - 1;
  }
  std::string_view rest = trim(line.substr(std::min(start, line.size())));
  if (!rest.empty()) out.emplace_back(rest);
}

}  // namespace

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  CodeFenceReader fences;
  size_t pos = 0;
  // Lines joined until a blank line, a list item or a fence: a paragraph
  // wrapped over several lines is one piece of running text.
  std::string para;
  auto flush = [&] {
    if (!para.empty()) split_line(para, out);
    para.clear();
  };
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    pos = nl + 1;
    std::string_view t = trim(raw);
    const CodeFenceReader::Line kind = fences.next(raw);
    if (kind == CodeFenceReader::Line::kOpen || kind == CodeFenceReader::Line::kClose) {
      flush();
      continue;
    }
    if (kind == CodeFenceReader::Line::kCode) {  // each line one piece; indentation means nothing in a line alone
      if (!t.empty()) out.emplace_back(t);
      continue;
    }
    if (t.empty()) {
      flush();
      continue;
    }
    std::string_view body = strip_marker(t);
    bool item = body.size() != t.size();
    if (item) flush();
    if (!para.empty()) para.push_back(' ');
    para.append(body);
    if (item) flush();
    if (nl == text.size()) break;
  }
  flush();
  return out;
}

}  // namespace ragd
