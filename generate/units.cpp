#include "generate/units.h"

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "generate/sentences.h"
#include "index/analyzer.h"
#include "ragd/chunk_text.h"

namespace ragd {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A list marker at the start of a line: "- ", "* ", "+ ", "1. ", "1) ".
// Returns the marker's length (0 if none); *numbered says which kind.
size_t list_marker(std::string_view line, bool* numbered) {
  if (line.starts_with("\xe2\x80\xa2 ")) {  // "• " (PDF and Word bullets)
    *numbered = false;
    return 4;
  }
  if (line.size() > 1 && (line[0] == '-' || line[0] == '*' || line[0] == '+') && line[1] == ' ') {
    *numbered = false;
    return 2;
  }
  size_t i = 0;
  while (i < line.size() && i < 3 && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i > 0 && i + 1 < line.size() && (line[i] == '.' || line[i] == ')') && line[i + 1] == ' ') {
    *numbered = true;
    return i + 2;
  }
  return 0;
}

std::vector<std::string> cells_of(std::string_view line) {
  std::vector<std::string> cells;
  line = trim(line);
  if (!line.empty() && line.front() == '|') line.remove_prefix(1);
  if (!line.empty() && line.back() == '|') line.remove_suffix(1);
  size_t pos = 0;
  bool code = false;
  std::string cur;
  for (; pos < line.size(); ++pos) {
    char c = line[pos];
    if (c == '`') code = !code;
    if (c == '|' && !code) {
      cells.emplace_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  cells.emplace_back(trim(cur));
  return cells;
}

bool is_separator_row(const std::vector<std::string>& cells) {
  for (const auto& c : cells) {
    if (c.empty()) return false;
    for (char ch : c)
      if (ch != '-' && ch != ':' && ch != ' ') return false;
  }
  return !cells.empty();
}

bool looks_like_table(const std::vector<std::string_view>& lines) {
  if (lines.size() < 2) return false;
  for (auto l : lines) {
    bool pipe_row = !l.empty() && l.front() == '|';
    if (!pipe_row && l.find(" | ") == std::string_view::npos) return false;
  }
  return true;
}

void table_units(const std::vector<std::string_view>& lines, std::vector<Unit>& out) {
  std::vector<std::vector<std::string>> rows;
  for (auto l : lines) {
    auto cells = cells_of(l);
    if (is_separator_row(cells)) continue;
    for (auto& c : cells) c = clean_inline_markdown(c);
    rows.push_back(std::move(cells));
  }
  if (rows.empty()) return;
  const std::vector<std::string>& header = rows.front();
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    std::string text;
    for (size_t c = 0; c < row.size(); ++c) {
      if (row[c].empty()) continue;
      if (c == 0) {
        text += row[c];
        continue;
      }
      text += c == 1 && !text.empty() ? " — " : (text.empty() ? "" : "; ");
      if (c < header.size() && !header[c].empty()) text += header[c] + ": ";
      text += row[c];
    }
    if (!text.empty()) out.push_back({UnitKind::kTableRow, std::move(text), {}, 0});
  }
}

void paragraph_units(const std::vector<std::string_view>& lines, std::vector<Unit>& out) {
  if (looks_like_table(lines)) {
    table_units(lines, out);
    return;
  }
  std::string running;
  auto flush_running = [&] {
    for (std::string& s : split_sentences(running)) {
      std::string t = clean_inline_markdown(s);
      if (!t.empty()) out.push_back({UnitKind::kSentence, std::move(t), {}, 0});
    }
    running.clear();
  };
  bool in_item = false;
  for (auto line : lines) {
    bool numbered = false;
    size_t m = list_marker(line, &numbered);
    if (m > 0) {
      flush_running();
      out.push_back({numbered ? UnitKind::kNumbered : UnitKind::kBullet, clean_inline_markdown(trim(line.substr(m))), {}, 0});
      in_item = true;
      continue;
    }
    if (in_item && !out.empty()) {  // a wrapped list item
      out.back().text += ' ';
      out.back().text += clean_inline_markdown(line);
      continue;
    }
    // Heading lines moved into a body by the chunker, quotes.
    while (!line.empty() && (line.front() == '#' || line.front() == '>')) line.remove_prefix(1);
    line = trim(line);
    if (!running.empty()) running += ' ';
    running += line;
  }
  flush_running();
}

bool has_word(const std::string& lower, std::string_view word) {
  size_t pos = 0;
  while ((pos = lower.find(word, pos)) != std::string::npos) {
    bool left = pos == 0 || !std::isalpha(static_cast<unsigned char>(lower[pos - 1]));
    size_t end = pos + word.size();
    bool right = end >= lower.size() || !std::isalpha(static_cast<unsigned char>(lower[end]));
    if (left && right) return true;
    pos = end;
  }
  return false;
}

// The word before `lower[pos]` ("" at the start).
std::string_view word_before(const std::string& lower, size_t pos) {
  size_t end = pos;
  while (end > 0 && !std::isalnum(static_cast<unsigned char>(lower[end - 1]))) --end;
  size_t begin = end;
  while (begin > 0 && std::isalnum(static_cast<unsigned char>(lower[begin - 1]))) --begin;
  return std::string_view(lower).substr(begin, end - begin);
}

// Role words that are also technical nouns: "Dependency resolution", "DNS
// resolution", "Disaster recovery", "Backup restore", "Alert actions" name
// a topic, not the part of an article that says how to fix something. Such
// a word names the role only when nothing but a role word, a qualifier or a
// question's pronoun comes right before it ("Resolution", "Problem
// resolution", "Recommended actions", "How do I restore"). Steps are a
// procedure whatever they are for ("Handling steps"), except the "Next
// steps" after it.
bool names_role(const std::string& lower, std::string_view word) {
  static const std::unordered_set<std::string_view> kTopical = {"resolution", "resolutions", "recovery", "restore",
                                                               "restoring", "action", "actions", "steps"};
  if (!kTopical.count(word)) return has_word(lower, word);
  const bool steps = word == "steps";
  static const std::unordered_set<std::string_view> kBefore = {
      "", "the", "a", "an", "to", "of", "for", "i", "we", "you", "how", "possible", "suggested", "recommended",
      "proposed", "temporary", "permanent", "known", "quick", "manual", "alternative", "final", "immediate",
      "first", "further", "additional", "corrective", "remediation", "problem", "problems", "issue", "issues",
      "incident", "troubleshooting", "resolution", "symptoms", "symptom", "cause", "causes", "diagnosis",
      "workaround", "workarounds", "fix", "fixes"};
  // "Cause and resolution" names roles; "Backup and restore" a topic.
  auto qualifies = [&](size_t pos) {
    std::string_view before = word_before(lower, pos);
    if (before == "and" || before == "or")
      before = word_before(lower, static_cast<size_t>(before.data() - lower.data()));
    const bool number = !before.empty() && std::isdigit(static_cast<unsigned char>(before[0]));
    return number || kBefore.count(before) > 0;
  };
  for (size_t pos = lower.find(word); pos != std::string::npos; pos = lower.find(word, pos + 1)) {
    const size_t end = pos + word.size();
    const bool whole = (pos == 0 || !std::isalpha(static_cast<unsigned char>(lower[pos - 1]))) &&
                       (end >= lower.size() || !std::isalpha(static_cast<unsigned char>(lower[end])));
    if (!whole) continue;
    if (steps) {
      if (word_before(lower, pos) != "next") return true;
      continue;
    }
    if (qualifies(pos)) return true;
  }
  return false;
}

SectionRole heading_role(const std::string& heading) {
  std::string h;
  for (char c : heading) h += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::string_view kResolution[] = {
      "resolution", "resolutions", "resolve", "resolving", "solution", "solutions", "fix", "fixes", "fixing",
      "workaround", "workarounds", "remediation", "remedy", "mitigation", "steps", "procedure", "procedures",
      "instructions", "how to", "what to do", "recovery", "restore", "restoring", "repair", "action",
      "actions", "corrective", "resolved"};
  static constexpr std::string_view kCause[] = {"cause", "causes", "root cause", "reason", "reasons", "why"};
  static constexpr std::string_view kDiagnosis[] = {"diagnosis", "diagnose", "diagnostics", "troubleshooting",
                                                    "investigation", "checks", "detection"};
  static constexpr std::string_view kEscalation[] = {"escalation", "escalate", "escalating"};
  static constexpr std::string_view kSymptom[] = {"symptom", "symptoms", "problem", "issue", "description",
                                                  "error message"};
  for (auto w : kResolution) if (names_role(h, w)) return SectionRole::kResolution;
  for (auto w : kCause) if (has_word(h, w)) return SectionRole::kCause;
  for (auto w : kDiagnosis) if (has_word(h, w)) return SectionRole::kDiagnosis;
  for (auto w : kEscalation) if (has_word(h, w)) return SectionRole::kEscalation;
  for (auto w : kSymptom) if (has_word(h, w)) return SectionRole::kSymptom;
  return SectionRole::kOther;
}

bool is_role_label_word(const std::string& w) {
  static const std::unordered_set<std::string> kWords = {
      // heading_role's words
      "resolution", "resolutions", "resolve", "resolving", "resolved", "solution", "solutions", "fix", "fixes",
      "fixing", "workaround", "workarounds", "remediation", "remedy", "mitigation", "steps", "step", "procedure",
      "procedures", "instructions", "how", "to", "what", "do", "recovery", "restore", "restoring", "repair",
      "action", "actions", "corrective", "cause", "causes", "root", "reason", "reasons", "why", "diagnosis",
      "diagnose", "diagnostics", "troubleshooting", "investigation", "checks", "detection", "escalation",
      "escalate", "escalating", "symptom", "symptoms", "problem", "problems", "issue", "issues", "description",
      "error", "message",
      // the other sections of a knowledge article, and filler
      "more", "information", "info", "additional", "details", "summary", "overview", "introduction",
      "background", "prerequisites", "requirements", "before", "you", "begin", "notes", "note", "references",
      "see", "also", "next", "verification", "verify", "validation", "rollback", "status", "applies", "scope",
      "purpose", "method", "methods", "option", "options", "known", "possible", "common", "general", "the",
      "a", "an", "this", "that", "these", "of", "and", "or", "for", "if", "it", "is", "in"};
  return kWords.count(w) > 0;
}

// "[text][label]" at the start of `text_part` ("[text]") and `rest`
// ("[label]..."), after the character `before`: a reference-style link, not
// brackets that happen to touch ("[1][2]" citations, "[EXTERNAL][URGENT]"
// tags, "a[i][j]"). Link labels are written in lower case ("api-mvcc").
bool is_reference_link(std::string_view text_part, std::string_view rest, char before) {
  if (std::isalnum(static_cast<unsigned char>(before))) return false;
  size_t end = rest.find(']');
  if (end == std::string_view::npos || end < 2) return false;
  std::string_view label = rest.substr(1, end - 1);
  bool letter = false;
  for (char c : label) {
    if (std::isupper(static_cast<unsigned char>(c)) || c == ' ' || c == '[') return false;
    letter |= std::islower(static_cast<unsigned char>(c)) != 0;
  }
  bool lower_text = false;
  for (char c : text_part) lower_text |= std::islower(static_cast<unsigned char>(c)) != 0;
  return letter && lower_text;
}

// A Markdown link reference definition ("[label]: url" or
// "[label]: url "title""): where a link points, not something the text says.
bool is_link_definition(std::string_view line) {
  if (!line.starts_with("[") || line.starts_with("[^")) return false;
  size_t close = line.find("]:");
  if (close == std::string_view::npos || close < 2 || line.substr(1, close - 1).find(']') != std::string_view::npos) {
    return false;
  }
  std::string_view rest = trim(line.substr(close + 2));
  if (rest.empty()) return false;
  size_t space = rest.find(' ');
  // A destination: <...>, a URL, a path or an anchor ("[Status]: Resolved"
  // is a field, not a link).
  const std::string_view dest = rest.substr(0, space);
  // A dot followed by a letter: "api.md", "example.com"; not "3.5.2" or
  // "Resolved.".
  bool dotted_name = false;
  for (size_t i = 0; i + 1 < dest.size(); ++i)
    dotted_name |= dest[i] == '.' && std::isalpha(static_cast<unsigned char>(dest[i + 1]));
  const bool looks_like_link = dest.front() == '<' || dest.front() == '/' || dest.front() == '#' ||
                               dest.find("://") != std::string_view::npos || dotted_name;
  if (!looks_like_link) return false;
  if (space == std::string_view::npos) return true;
  std::string_view title = trim(rest.substr(space));
  return title.size() >= 2 && (title.front() == '"' || title.front() == '\'' || title.front() == '(');
}

}  // namespace

namespace {

// The units of a chunk's text; with `headings`, a heading line alone in its
// paragraph (not indented) is no unit but the heading of the units after it.
std::vector<Unit> units_of(std::string_view text, bool headings) {
  std::vector<Unit> out;
  std::vector<std::string_view> para;
  CodeFenceReader fences;
  std::string code;
  size_t pos = 0;
  std::string heading;
  int level = 0;
  bool indented = false;  // the paragraph's first line
  auto flush = [&] {
    std::string_view h;
    int l = 0;
    if (headings && para.size() == 1 && !indented && (l = markdown_heading(para.front(), h)) > 0) {
      heading = std::string(h);
      level = l;
    } else if (!para.empty()) {
      const size_t first = out.size();
      paragraph_units(para, out);
      for (size_t i = first; i < out.size(); ++i) {
        out[i].heading = heading;
        out[i].heading_level = level;
      }
    }
    para.clear();
  };
  auto push_code = [&] {
    while (!code.empty() && code.back() == '\n') code.pop_back();
    if (!code.empty()) out.push_back({UnitKind::kCode, code, heading, level});
    code.clear();
  };
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view raw = text.substr(pos, nl - pos);
    std::string_view line = trim(raw);
    pos = nl + 1;
    const CodeFenceReader::Line kind = fences.next(raw);
    if (kind == CodeFenceReader::Line::kOpen) {
      flush();
    } else if (kind == CodeFenceReader::Line::kClose) {
      push_code();
    } else if (kind == CodeFenceReader::Line::kCode) {
      // Lines as written (indentation is YAML's and Python's syntax), the
      // block's leading blank lines dropped.
      std::string_view l = code_line(fences.fence(), raw);
      while (!l.empty() && (l.back() == ' ' || l.back() == '\r')) l.remove_suffix(1);
      if (!code.empty()) code += '\n';
      if (!code.empty() || !l.empty()) code += l;
    } else if (line.empty()) {
      flush();
    } else if (!is_link_definition(line)) {
      if (para.empty()) indented = !raw.starts_with(line.substr(0, 1));  // code or a quote, not a heading
      para.push_back(line);
    }
    if (nl >= text.size()) break;
  }
  push_code();  // a fence left open runs to the end
  flush();
  return out;
}

}  // namespace

std::vector<Unit> split_units(std::string_view text) { return units_of(text, false); }

std::vector<Unit> chunk_units(std::string_view text, const std::vector<std::string>& chunk_path) {
  if (chunk_path.empty() || text.find('#') == std::string_view::npos) return units_of(text, false);
  std::vector<Unit> out = units_of(text, true);
  // The chunker's heading lines end with the chunk's own section's, at its
  // depth, and none is deeper; otherwise "# ..." lines are someone else's
  // (a shell comment of a code block cut across chunks) and stay text. The
  // own line is compared as it reads back (markdown_heading drops a
  // trailing "#", ATX has six levels).
  const int depth = static_cast<int>(chunk_path.size());
  const std::string own_line = markdown_heading_line(chunk_path.size(), chunk_path.back());
  std::string_view own_text;
  const int own_level = markdown_heading(own_line, own_text);
  bool own = false;
  for (Unit& u : out) {
    if (u.heading_level > own_level) return units_of(text, false);
    if (u.heading_level == own_level && u.heading == own_text) {
      own = true;
      u.heading = chunk_path.back();
    }
    // Six levels at most: a heading at the last one, in a deeper chunk, is
    // the chunk's sibling.
    if (u.heading_level == 6 && depth > 6) u.heading_level = depth;
  }
  return own ? out : units_of(text, false);
}

bool is_role_label(std::string_view heading) {
  const std::vector<std::string> words = analyze_words(heading);
  if (words.empty()) return false;
  auto number = [](const std::string& w) {
    return std::all_of(w.begin(), w.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  // Only words that name parts of an article ("More information").
  if (std::all_of(words.begin(), words.end(), [&](const std::string& w) { return number(w) || is_role_label_word(w); }))
    return true;
  // Or it opens with a role, whatever qualifies it: "Resolution (Service
  // Desk)", "Workaround 2: restart the agent", "Steps to resolve".
  static const std::unordered_set<std::string> kLead = {"to", "the", "a", "an", "how", "step", "steps", "method",
                                                        "option", "known", "possible", "suggested", "recommended",
                                                        "temporary", "permanent", "this", "for"};
  static const std::unordered_set<std::string> kRole = {
      "resolution", "resolutions", "resolve", "resolving", "resolved", "solution", "solutions", "fix", "fixes",
      "fixing", "workaround", "workarounds", "remediation", "remedy", "mitigation", "procedure", "procedures",
      "instructions", "corrective", "cause", "causes", "root", "reason", "reasons", "diagnosis", "diagnostics",
      "troubleshooting", "symptom", "symptoms", "escalation"};
  for (const std::string& w : words) {
    if (number(w) || kLead.count(w)) continue;
    return kRole.count(w) > 0;
  }
  return false;
}

std::vector<std::string> unit_section(const std::vector<std::string>& chunk_path, const Unit& unit) {
  if (unit.heading.empty() || unit.heading_level < 1 || chunk_path.empty() ||
      std::find(chunk_path.begin(), chunk_path.end(), unit.heading) != chunk_path.end()) {
    return chunk_path;
  }
  // A section at depth heading_level: the chunk's path above that depth,
  // then its heading.
  const size_t above = std::min(chunk_path.size(), static_cast<size_t>(unit.heading_level - 1));
  std::vector<std::string> path(chunk_path.begin(), chunk_path.begin() + static_cast<std::ptrdiff_t>(above));
  path.push_back(unit.heading);
  return path;
}

const char* section_role_name(SectionRole role) {
  switch (role) {
    case SectionRole::kOther: return "other";
    case SectionRole::kSymptom: return "symptom";
    case SectionRole::kCause: return "cause";
    case SectionRole::kResolution: return "resolution";
    case SectionRole::kDiagnosis: return "diagnosis";
    case SectionRole::kEscalation: return "escalation";
  }
  return "other";
}

SectionRole section_role(const std::vector<std::string>& section_path, const std::string& chunk_role) {
  if (chunk_role == "resolution") return SectionRole::kResolution;
  if (chunk_role == "problem") return SectionRole::kSymptom;
  if (chunk_role == "comment") return SectionRole::kOther;
  for (size_t i = section_path.size(); i-- > 0;) {
    SectionRole r = heading_role(section_path[i]);
    if (r != SectionRole::kOther) return r;
  }
  return SectionRole::kOther;
}

std::string clean_inline_markdown(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool code = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '`') {
      code = !code;
      out += c;
      continue;
    }
    if (code) {
      out += c;
      continue;
    }
    if ((c == '*' || c == '_') && i + 1 < s.size() && s[i + 1] == c) {  // **bold**, __bold__
      ++i;
      continue;
    }
    if (c == '*') {
      // Emphasis, unless between two letters or digits (a*b outside code)
      // or with white space on both sides, which CommonMark never reads as
      // emphasis ("SELECT * FROM t", "const char * der").
      bool prev_alnum = i > 0 && std::isalnum(static_cast<unsigned char>(s[i - 1]));
      bool next_alnum = i + 1 < s.size() && std::isalnum(static_cast<unsigned char>(s[i + 1]));
      bool prev_space = i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1]));
      bool next_space = i + 1 == s.size() || std::isspace(static_cast<unsigned char>(s[i + 1]));
      if (!(prev_alnum && next_alnum) && !(prev_space && next_space)) continue;
    }
    if (c == '[') {  // [text](url) and [text][label] -> text
      size_t close = s.find(']', i);
      if (close != std::string_view::npos && close + 1 < s.size() && s[close + 1] == '(') {
        size_t end = s.find(')', close + 1);
        if (end != std::string_view::npos) {
          out += clean_inline_markdown(s.substr(i + 1, close - i - 1));
          i = end;
          continue;
        }
      }
      if (close != std::string_view::npos && close + 1 < s.size() && s[close + 1] == '[' &&
          is_reference_link(s.substr(i, close - i + 1), s.substr(close + 1), i > 0 ? s[i - 1] : ' ')) {
        out += clean_inline_markdown(s.substr(i + 1, close - i - 1));
        i = s.find(']', close + 1);
        continue;
      }
    }
    out += c;
  }
  return std::string(trim(out));
}

std::string markdown_to_plain(std::string_view markdown) {
  std::string out;
  CodeFenceReader fences;
  out.reserve(markdown.size());
  size_t pos = 0;
  while (pos <= markdown.size()) {
    size_t nl = markdown.find('\n', pos);
    if (nl == std::string_view::npos) nl = markdown.size();
    std::string_view line = markdown.substr(pos, nl - pos);
    pos = nl + 1;
    const CodeFenceReader::Line kind = fences.next(line);
    if (kind == CodeFenceReader::Line::kOpen || kind == CodeFenceReader::Line::kClose) {
      if (nl >= markdown.size()) break;
      continue;
    }
    if (kind == CodeFenceReader::Line::kCode) {  // as written: backticks and brackets are the code's
      out += line;
      if (nl >= markdown.size()) break;
      out += '\n';
      continue;
    }
    std::string cleaned = clean_inline_markdown(line);
    size_t lead = 0;
    while (lead < line.size() && line[lead] == ' ') ++lead;
    out.append(lead, ' ');
    for (char c : cleaned)
      if (c != '`') out += c;
    if (nl >= markdown.size()) break;
    out += '\n';
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace ragd
