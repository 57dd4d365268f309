// Text normalisation: valid UTF-8, NFC, no control characters, collapsed
// whitespace with line and paragraph breaks kept.
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "ingest/chunker.h"
#include "ragd/chunk_text.h"

namespace ragd {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Decodes one UTF-8 sequence at s[i]; advances i. Invalid bytes (overlong,
// surrogates, out of range, truncated) decode to U+FFFD one byte at a time.
char32_t decode(std::string_view s, size_t& i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { ++i; return c; }
  int len;
  char32_t cp;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
  else { ++i; return kReplacement; }
  if (i + len > s.size()) { ++i; return kReplacement; }
  for (int k = 1; k < len; ++k) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) { ++i; return kReplacement; }
    cp = (cp << 6) | (d & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return kReplacement;
  }
  i += len;
  return cp;
}

void encode(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

enum class CharClass { kKeep, kSpace, kNewline, kParagraph, kDrop };

CharClass classify(char32_t cp) {
  if (cp == '\n' || cp == 0x85) return CharClass::kNewline;  // LF, NEL
  if (cp == ' ' || cp == '\t' || cp == '\v' || cp == '\f') return CharClass::kSpace;
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) return CharClass::kDrop;
  if (cp < 0x80) return CharClass::kKeep;
  if (cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F ||
      cp == 0x3000)
    return CharClass::kSpace;
  if (cp == 0x2028) return CharClass::kNewline;
  if (cp == 0x2029) return CharClass::kParagraph;
  if (cp == 0xFEFF || cp == 0x200B || cp == 0xAD || cp == 0x2060) return CharClass::kDrop;  // BOM, ZWSP, SHY
  if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return CharClass::kDrop;  // noncharacters
  return CharClass::kKeep;
}

// False only when NFC surely leaves `cp` alone whatever surrounds it, so
// that text without such code points skips utf8proc (most of ingest time
// otherwise). True for combining marks, composition exclusions, singleton
// and non-starter decompositions, and scripts whose starters compose.
bool may_change_under_nfc(char32_t cp) {
  if (cp < 0x300) return false;  // ASCII, Latin-1, Latin Extended A/B: stable
  if ((cp >= 0x0900 && cp <= 0x0DFF) || (cp >= 0x1000 && cp <= 0x11FF) || (cp >= 0x1B00 && cp <= 0x1B7F))
    return true;  // Indic vowel signs, Myanmar, Hangul jamo, Balinese: starters that compose
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  if (p->combining_class != 0 || p->comp_exclusion) return true;
  if (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) {  // a canonical decomposition
    utf8proc_int32_t d[8];
    int last_boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), d, 8,
                                                 UTF8PROC_DECOMPOSE, &last_boundclass);
    if (n <= 0) return true;
    // Stable when it composes back to itself: "é" does, ANGSTROM SIGN (a
    // singleton) and non-starter decompositions do not.
    n = utf8proc_normalize_utf32(d, n, static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_STABLE));
    return n != 1 || d[0] != static_cast<utf8proc_int32_t>(cp);
  }
  return false;
}

std::string single_line(std::string_view s) {
  std::string t = normalize_text(s);
  for (char& c : t) if (c == '\n') c = ' ';
  std::string out;
  out.reserve(t.size());
  for (char c : t) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

bool valid_id(std::string_view id) {
  size_t i = 0;
  while (i < id.size()) {
    char32_t cp = decode(id, i);
    if (cp == kReplacement || cp < 0x20 || cp == 0x7F) return false;
  }
  return true;
}

// A prose line: trimmed, each run of spaces one space.
void append_collapsed(std::string_view line, std::string& out) {
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) break;
    size_t end = i;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
    if (!out.empty() && out.back() != '\n' && i > 0) out += ' ';
    out.append(line, i, end - i);
    i = end;
  }
}

// A line of fenced code: tabs become spaces to the next multiple of 4
// columns, then up to `indent` columns go (the fence's own indentation,
// as CommonMark reads it) and trailing spaces; the rest stays.
void append_code_line(std::string_view line, size_t indent, std::string& out) {
  const size_t begin = out.size();
  size_t col = 0;
  bool leading = true;
  for (char c : line) {
    if (c == '\t' || (c == ' ' && leading)) {
      const size_t next = c == '\t' ? (col / 4 + 1) * 4 : col + 1;
      for (; col < next; ++col)
        if (!leading || col >= indent) out += ' ';
      continue;
    }
    leading = false;
    out += c;
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++col;  // columns are code points
  }
  while (out.size() > begin && out.back() == ' ') out.pop_back();
}

}  // namespace

std::string normalize_text(std::string_view text) {
  // Pass 1: valid UTF-8 without controls, one '\n' per line break, every
  // space a ' ' (tabs kept for pass 2), nothing collapsed yet.
  std::string clean;
  clean.reserve(text.size());
  bool needs_nfc = false;
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp;
    const unsigned char b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      cp = b;
      ++i;
      if (cp == '\r') {  // CRLF and lone CR are line breaks
        if (i < text.size() && text[i] == '\n') ++i;
        cp = '\n';
      }
    } else {
      cp = decode(text, i);
    }
    switch (classify(cp)) {
      case CharClass::kDrop: continue;
      case CharClass::kSpace: clean += cp == '\t' ? '\t' : ' '; continue;
      case CharClass::kNewline: clean += '\n'; continue;
      case CharClass::kParagraph: clean += "\n\n"; continue;
      case CharClass::kKeep: break;
    }
    if (cp < 0x80) {
      clean += static_cast<char>(cp);
    } else {
      needs_nfc = needs_nfc || may_change_under_nfc(cp);
      encode(cp, clean);
    }
  }
  // Pass 2, line by line: prose lines are trimmed with their runs of spaces
  // collapsed, and one or more blank lines between them become one; lines of
  // fenced code keep their indentation, inner spaces and blank lines.
  std::string out;
  out.reserve(clean.size());
  CodeFenceReader fences(kAnyFenceIndent);
  bool blank_before = false;  // prose: a blank line since the last line written
  size_t pos = 0;
  while (pos <= clean.size()) {
    size_t nl = clean.find('\n', pos);
    if (nl == std::string::npos) nl = clean.size();
    const std::string_view line(clean.data() + pos, nl - pos);
    pos = nl + 1;
    if (fences.next(line) == CodeFenceReader::Line::kCode) {
      out += '\n';
      append_code_line(line, fences.fence().indent, out);
      blank_before = false;
      continue;
    }
    const size_t before = out.size();
    if (!out.empty()) out += blank_before ? "\n\n" : "\n";
    const size_t text_begin = out.size();
    append_collapsed(line, out);
    if (out.size() == text_begin) {  // a blank line
      out.resize(before);
      blank_before = !out.empty();
    } else {
      blank_before = false;
    }
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();  // an open fence's last blank lines
  if (!needs_nfc) return out;
  utf8proc_uint8_t* nfc = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(out.data()),
                                    static_cast<utf8proc_ssize_t>(out.size()), &nfc,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0 || !nfc) return out;  // cannot happen for valid UTF-8; keep the text rather than lose it
  std::string composed(reinterpret_cast<const char*>(nfc), static_cast<size_t>(n));
  std::free(nfc);
  return composed;
}

Status normalize_document(Document& doc) {
  std::string_view id = doc.id;
  while (!id.empty() && (id.front() == ' ' || id.front() == '\t')) id.remove_prefix(1);
  while (!id.empty() && (id.back() == ' ' || id.back() == '\t')) id.remove_suffix(1);
  const std::string where = doc.origin.empty() ? std::string() : doc.origin + ": ";
  if (id.empty()) return Status::invalid_argument(where + "document has no id");
  if (id.size() > kMaxDocumentIdBytes)
    return Status::invalid_argument(where + "document id is longer than " + std::to_string(kMaxDocumentIdBytes) + " bytes");
  if (!valid_id(id))
    return Status::invalid_argument(where + "document id '" + single_line(id) +
                                    "' has control characters or invalid UTF-8");
  doc.id = std::string(id);

  doc.title = single_line(doc.title);
  doc.kind = single_line(doc.kind);
  std::transform(doc.kind.begin(), doc.kind.end(), doc.kind.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (doc.kind.empty()) doc.kind = "document";
  doc.source = single_line(doc.source);
  doc.url = single_line(doc.url);
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : doc.metadata) {
    std::string key = single_line(k);
    std::string value = single_line(v);
    if (!key.empty() && !value.empty()) meta[key] = value;
  }
  doc.metadata = std::move(meta);
  std::set<std::string> seen;
  std::vector<std::string> acl;
  for (const auto& g : doc.acl) {
    std::string group = single_line(g);
    if (!group.empty() && seen.insert(group).second) acl.push_back(group);
  }
  doc.acl = std::move(acl);

  doc.text = normalize_text(doc.text);
  std::vector<Block> blocks;
  for (auto& b : doc.blocks) {
    b.text = normalize_text(b.text);
    if (b.text.empty()) continue;
    std::vector<std::string> path;
    for (const auto& p : b.section_path) {
      std::string s = single_line(p);
      if (!s.empty()) path.push_back(std::move(s));
    }
    b.section_path = std::move(path);
    b.role = single_line(b.role);
    if (b.role.empty()) b.role = "body";
    blocks.push_back(std::move(b));
  }
  doc.blocks = std::move(blocks);
  if (doc.text.empty() && !doc.blocks.empty()) {
    // The whole text, for display: blocks in order, each new heading on its own line.
    const std::vector<std::string>* last_path = nullptr;
    for (const auto& b : doc.blocks) {
      if (!doc.text.empty()) doc.text += "\n\n";
      if (!b.section_path.empty() && (!last_path || *last_path != b.section_path)) {
        doc.text += b.section_path.back();
        doc.text += "\n\n";
      }
      last_path = &b.section_path;
      doc.text += b.text;
    }
  }
  if (doc.text.empty() && doc.title.empty())
    return Status::invalid_argument(where + "document '" + doc.id + "' has no text");
  return Status::ok();
}

}  // namespace ragd
