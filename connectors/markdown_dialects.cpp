// Markdown dialects of documentation sites as plain Markdown, before the
// chunker reads the text: MyST (Sphinx) directive fences, colon fences,
// roles and targets; Docusaurus admonitions (":::note"); MkDocs admonitions
// ("!!! note"). Their content is prose, so it must not reach the chunker as
// a code fence, and their markup should not reach an answer.
#include <algorithm>
#include <cctype>
#include <optional>
#include <unordered_map>

#include "connectors/internal.h"
#include "ragd/chunk_text.h"

namespace ragd::connectors {

namespace {

// Directives nested deeper than this keep their lines as they are: the
// walk is recursive and input is untrusted.
constexpr int kMaxNesting = 32;

// Docusaurus admonitions, written ":::note" without MyST's braces. Other
// colon fences (Pandoc's "::: {.class}") stay as they are.
constexpr std::string_view kDocusaurus[] = {"note", "tip", "info", "caution", "danger", "warning", "important"};

using Lines = std::vector<std::string_view>;

size_t indent_of(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && (line[n] == ' ' || line[n] == '\t')) ++n;
  return n;
}

bool blank(std::string_view line) { return trim(line).empty(); }

// An opening fence: "```lang", "````{tab} Unix", ":::{note}", ":::tip Title".
struct Fence {
  char ch = '`';
  size_t len = 0;
  size_t indent = 0;
  bool directive = false;
  bool docusaurus = false;  // ":::note[Title]": the argument is a title
  std::string_view name, args;
};

// "{name} args" after the fence characters.
bool braced_directive(std::string_view rest, Fence& f) {
  if (rest.empty() || rest.front() != '{') return false;
  const size_t n = role_name_length(rest, 1);
  if (n == 0 || !std::isalpha(static_cast<unsigned char>(rest[1])) || n + 1 >= rest.size() || rest[n + 1] != '}') return false;
  f.directive = true;
  f.name = rest.substr(1, n);
  f.args = trim(rest.substr(n + 2));
  return true;
}

// "note Title" or "note[Title]" after ":::".
bool docusaurus_directive(std::string_view rest, Fence& f) {
  size_t n = 0;
  while (n < rest.size() && rest[n] >= 'a' && rest[n] <= 'z') ++n;
  std::string_view name = rest.substr(0, n);
  if (std::find(std::begin(kDocusaurus), std::end(kDocusaurus), name) == std::end(kDocusaurus)) return false;
  std::string_view args = trim(rest.substr(n));
  if (args.size() >= 2 && args.front() == '[' && args.back() == ']') args = trim(args.substr(1, args.size() - 2));
  else if (!args.empty() && n < rest.size() && rest[n] != ' ' && rest[n] != '\t') return false;  // ":::notes"
  f.directive = f.docusaurus = true;
  f.name = name;
  f.args = args;
  return true;
}

// Code fences are read as ingest and the answerer read them
// (ragd/chunk_text.h), with any indentation: a fence under a list item is
// indented, and this reader does not follow list items.
std::optional<Fence> open_fence(std::string_view line) {
  Fence f;
  f.indent = indent_of(line);
  std::string_view t = line.substr(f.indent);
  if (t.empty() || (t[0] != '`' && t[0] != '~' && t[0] != ':')) return std::nullopt;
  if (t[0] != ':') {
    const CodeFence code = open_code_fence(line, kAnyFenceIndent);
    if (!code) return std::nullopt;  // "```x``` y" is inline code
    f.ch = code.marker;
    f.len = code.length;
    braced_directive(code.info, f);
    return f;
  }
  f.ch = ':';
  while (f.len < t.size() && t[f.len] == f.ch) ++f.len;
  if (f.len < 3) return std::nullopt;
  std::string_view rest = trim(t.substr(f.len));
  if (braced_directive(rest, f) || docusaurus_directive(rest, f)) return f;
  return std::nullopt;
}

bool closes(const Fence& f, std::string_view line) {
  return closes_code_fence(CodeFence{f.ch, f.len, f.indent, {}}, line, kAnyFenceIndent);
}

// The index of the line closing `f` (opened just before `begin`), or
// lines.size() when it runs to the end, as CommonMark says. A backtick
// fence closes at the first bare run at least as long; a colon fence counts
// colon fences of its own length opened inside it and skips code fences.
size_t find_close(const Lines& lines, size_t begin, const Fence& f) {
  int depth = 0;
  for (size_t i = begin; i < lines.size(); ++i) {
    if (f.ch == ':') {
      if (std::optional<Fence> inner = open_fence(lines[i])) {
        if (inner->ch == ':' && inner->len == f.len) {
          ++depth;
          continue;
        }
        if (inner->ch != ':') {
          size_t j = i + 1;
          while (j < lines.size() && !closes(*inner, lines[j])) ++j;
          i = j;
          continue;
        }
      }
    }
    if (!closes(f, lines[i])) continue;
    if (depth == 0) return i;
    --depth;
  }
  return lines.size();
}

// Lines with up to `indent` leading blanks removed.
Lines dedent(const Lines& lines, size_t from, size_t to, size_t indent) {
  Lines out;
  for (size_t i = from; i < to && i < lines.size(); ++i) {
    std::string_view l = lines[i];
    l.remove_prefix(std::min(indent, indent_of(l)));
    out.push_back(l);
  }
  return out;
}

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

// ":caption: x", ":linenos:"
bool is_option_line(std::string_view line) {
  std::string_view t = trim(line);
  size_t n = 1;
  while (n < t.size() && is_name_char(t[n])) ++n;
  return t.size() > 2 && t[0] == ':' && n > 1 && n < t.size() && t[n] == ':' && (n + 1 == t.size() || t[n + 1] == ' ');
}

// ":name: value" option lines, or a "---" YAML block, at the top of a
// directive's content; returns the index of the first content line.
size_t skip_options(const Lines& body) {
  size_t i = 0;
  if (!body.empty() && trim(body[0]) == "---") {
    size_t j = 1;
    while (j < body.size() && trim(body[j]) != "---") ++j;
    if (j < body.size()) i = j + 1;
  } else {
    while (i < body.size() && is_option_line(body[i])) ++i;
  }
  while (i < body.size() && blank(body[i])) ++i;
  return i;
}
// Prefixes every non-empty line of `text` with `indent`, so that a
// directive inside a list item stays in the item.
std::string reindent(std::string_view text, std::string_view indent) {
  if (indent.empty()) return std::string(text);
  std::string out;
  for (std::string_view l : split_lines(text)) {
    if (!l.empty()) out += indent;
    out += l;
    out += '\n';
  }
  return out;
}

std::string capitalised(std::string_view word) {
  std::string out(word);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

// Roles in one line of text; false when there is none. Code spans (a run
// of backticks up to the next run of the same length) are copied as they
// are. Runs are matched through a precomputed "next run of this length",
// so a long line of unmatched backticks stays linear.
bool convert_roles(std::string_view line, std::string& out) {
  struct Run { size_t pos, len; };
  std::vector<Run> runs;
  for (size_t i = 0; i < line.size();) {
    if (line[i] == '\\') { i += 2; continue; }
    if (line[i] != '`') { ++i; continue; }
    size_t j = i;
    while (j < line.size() && line[j] == '`') ++j;
    runs.push_back({i, j - i});
    i = j;
  }
  if (runs.size() < 2) return false;
  std::vector<size_t> next(runs.size(), SIZE_MAX);
  std::unordered_map<size_t, size_t> later;  // run length -> index of the next such run
  for (size_t r = runs.size(); r-- > 0;) {
    auto it = later.find(runs[r].len);
    if (it != later.end()) next[r] = it->second;
    later[runs[r].len] = r;
  }
  bool changed = false;
  size_t copied = 0;
  for (size_t r = 0; r < runs.size();) {
    if (next[r] == SIZE_MAX) { ++r; continue; }
    const Run open = runs[r], close = runs[next[r]];
    size_t b = open.pos;  // "{name}" right before the run makes it a role
    if (b >= 3 && line[b - 1] == '}') {
      size_t s = b - 1;
      while (s > 0 && role_name_length(line.substr(s - 1, 1), 0) == 1) --s;
      if (s > 0 && line[s - 1] == '{' && s < b - 1) {
        std::string_view name = line.substr(s, b - 1 - s);
        std::string_view content = line.substr(open.pos + open.len, close.pos - open.pos - open.len);
        out.append(line.substr(copied, s - 1 - copied));
        out += role_to_markdown(name, content);
        copied = close.pos + close.len;
        changed = true;
      }
    }
    r = next[r] + 1;
  }
  if (changed) out.append(line.substr(copied));
  return changed;
}

// ": text", indented at most three blanks: a definition of the term line
// above it.
bool definition_of(std::string_view line) {
  const size_t n = indent_of(line);
  return n < 4 && line.size() > n + 1 && line[n] == ':' && (line[n + 1] == ' ' || line[n + 1] == '\t');
}

// MyST's "(label)=" target line.
bool is_target_line(std::string_view line) {
  std::string_view t = trim(line);
  return t.size() > 3 && t.front() == '(' && t.ends_with(")=") && t.find(' ') == std::string_view::npos;
}

// "!!! note \"Title\"", "??? tip", "???+ warning": type and title.
bool mkdocs_admonition(std::string_view line, std::string& lead) {
  std::string_view t = trim(line);
  if (!t.starts_with("!!! ") && !t.starts_with("??? ") && !t.starts_with("???+ ")) return false;
  t = trim(t.substr(t.find(' ')));
  size_t n = 0;
  while (n < t.size() && (std::isalnum(static_cast<unsigned char>(t[n])) || t[n] == '-' || t[n] == '_')) ++n;
  if (n == 0) return false;
  std::string_view rest = trim(t.substr(n));
  size_t q = rest.find('"');
  if (q != std::string_view::npos && rest.size() >= q + 2 && rest.back() == '"') {
    lead = std::string(rest.substr(q + 1, rest.size() - q - 2));  // "" asks for no title
  } else {
    std::string type = to_lower(t.substr(0, n));
    Directive d = describe_directive(type, "");
    lead = d.lead.empty() ? capitalised(type) : d.lead;
  }
  return true;
}

class DialectNormalizer {
 public:
  explicit DialectNormalizer(int depth) : depth_(depth) {}

  // Appends `lines`, each with a '\n', to out().
  void add(const Lines& lines) {
    for (size_t i = 0; i < lines.size();) i = add_one(lines, i);
  }
  std::string& out() { return out_; }
  bool changed() const { return changed_; }

 private:
  size_t add_one(const Lines& lines, size_t i) {
    std::string_view line = lines[i];
    if (std::optional<Fence> f = open_fence(line)) {
      const size_t close = find_close(lines, i + 1, *f);
      const size_t end = std::min(close + 1, lines.size());
      if (!f->directive || depth_ >= kMaxNesting) {  // code, or nested too deep: as it is
        for (size_t k = i; k < end; ++k) add_line(lines[k]);
        return end;
      }
      Lines body = dedent(lines, i + 1, close, f->indent);
      return block(directive(*f, body), line.substr(0, f->indent), lines, end);
    }
    std::string lead;
    if (depth_ < kMaxNesting && mkdocs_admonition(line, lead)) return admonition(lines, i, lead);
    if (is_target_line(line)) return block("", "", lines, i + 1);
    if (depth_ < kMaxNesting && i + 1 < lines.size() && definition_of(lines[i + 1]) && is_prose_line(line) &&
        !definition_of(line) && indent_of(line) < 4) {
      return definitions(lines, i);
    }
    std::string converted;
    if (convert_roles(line, converted)) {
      changed_ = true;
      add_line(converted);
    } else {
      add_line(line);
    }
    return i + 1;
  }

  // A definition list (MyST, Pandoc, PHP Markdown Extra): a term line,
  // then ": definition" lines, each with the lines indented under it or
  // continuing it. Each definition becomes "term: definition" (with_lead),
  // so the term stays with what it defines.
  size_t definitions(const Lines& lines, size_t i) {
    changed_ = true;
    const std::string_view term = trim(lines[i]);
    size_t k = i + 1;
    while (k < lines.size() && definition_of(lines[k])) {
      const size_t end = definition_end(lines, k);
      std::string_view first = lines[k].substr(indent_of(lines[k]) + 1);
      const size_t body_indent = indent_of(lines[k]) + 1 + indent_of(first);
      Lines body = dedent(lines, k + 1, end, body_indent);
      body.insert(body.begin(), trim(first));
      std::string md = with_lead(term, prose(body, 0, ""));
      if (!md.ends_with('\n')) md += '\n';
      out_ += md;
      k = end;
    }
    return k;
  }

  // The line after the definition whose ':' line is lines[k]: it takes the
  // lines indented under it, blank lines between them, and unindented lines
  // that continue its paragraph. The next ':' line, a new unindented
  // paragraph, an unindented line that starts a block (a fence, a heading,
  // a list item, a table) or is the next term (a ':' line follows it) ends
  // it. A fence indented under it is taken whole, to its closing line, so
  // that neither its blank lines nor its text end the definition.
  static size_t definition_end(const Lines& lines, size_t k) {
    size_t end = k + 1;
    while (end < lines.size() && !definition_of(lines[end])) {
      if (blank(lines[end])) {
        size_t next = end;
        while (next < lines.size() && blank(lines[next])) ++next;
        if (next == lines.size() || indent_of(lines[next]) < 2 || definition_of(lines[next])) break;
        end = next;
        continue;
      }
      if (indent_of(lines[end]) < 2) {
        if (!is_prose_line(lines[end]) || (end + 1 < lines.size() && definition_of(lines[end + 1]))) break;
        ++end;
        continue;
      }
      if (std::optional<Fence> f = open_fence(lines[end])) {
        end = std::min(find_close(lines, end + 1, *f) + 1, lines.size());
        continue;
      }
      ++end;
    }
    return end;
  }

  void add_line(std::string_view line) {
    out_ += line;
    out_ += '\n';
  }

  // Markdown made from one directive, set apart from the text around it by
  // blank lines so that it neither joins the paragraph before it nor the
  // one after. Returns the line to go on from: a dropped directive takes
  // the blank lines after it along, so none pile up.
  size_t block(const std::string& md, std::string_view indent, const Lines& lines, size_t next) {
    changed_ = true;
    if (md.empty()) {
      while (next < lines.size() && blank(lines[next]) && (out_.empty() || out_.ends_with("\n\n"))) ++next;
      return next;
    }
    if (!out_.empty() && !out_.ends_with("\n\n")) out_ += '\n';
    out_ += reindent(md, indent);
    if (next < lines.size() && !blank(lines[next])) out_ += '\n';
    return next;
  }

  std::string prose(const Lines& body, size_t from, std::string_view first_line) {
    DialectNormalizer inner(depth_ + 1);
    Lines content;
    if (!first_line.empty()) content.push_back(first_line);
    content.insert(content.end(), body.begin() + static_cast<long>(std::min(from, body.size())), body.end());
    inner.add(content);
    return inner.out_;
  }

  std::string directive(const Fence& f, const Lines& body) {
    Directive d = describe_directive(f.name, f.args);
    if (f.docusaurus) {
      if (!f.args.empty()) d.lead = f.args;  // ":::tip[Pro tip]" names its own lead
      d.first_line.clear();
    }
    const size_t from = skip_options(body);
    if (f.name == "eval-rst") return rst_to_markdown(join_lines(body, from), nullptr);
    switch (d.kind) {
      case DirectiveKind::kProse: {
        const std::string content = prose(body, from, d.first_line);
        return trim(content).empty() && !d.lead_alone ? "" : with_lead(d.lead, content, d.label);
      }
      case DirectiveKind::kHeading: {
        std::string rest = prose(body, from, "");
        return d.lead.empty() ? rest : "**" + d.lead + "**\n" + (rest.empty() ? "" : "\n" + rest);
      }
      case DirectiveKind::kCode: return from < body.size() ? code_fence(d.language, join_lines(body, from)) : "";
      case DirectiveKind::kDrop: return "";
      case DirectiveKind::kOther: return from < body.size() ? code_fence("", join_lines(body, from)) : "";
    }
    return "";
  }

  // An MkDocs admonition at lines[i]: the block indented under it, ended by
  // the first line indented less (trailing blank lines stay outside).
  size_t admonition(const Lines& lines, size_t i, const std::string& lead) {
    const size_t base = indent_of(lines[i]);
    size_t end = i + 1, last = i;
    for (; end < lines.size(); ++end) {
      if (blank(lines[end])) continue;
      std::string_view l = lines[end];
      const bool tab = l.size() > base && l[base] == '\t';
      if (!tab && indent_of(l) < base + 4) break;
      last = end;
    }
    Lines body;
    for (size_t k = i + 1; k <= last; ++k) {
      std::string_view l = lines[k];
      const size_t tab = l.size() > base && l[base] == '\t' ? 1 : 0;
      l.remove_prefix(std::min(indent_of(l), base + (tab ? 1 : 4)));
      body.push_back(l);
    }
    return block(with_lead(lead, prose(body, 0, "")), lines[i].substr(0, base), lines, last + 1);
  }

  int depth_;
  std::string out_;
  bool changed_ = false;
};

// Cheap test for text that surely holds no dialect markup.
bool may_hold_dialect(std::string_view text) {
  return text.find('{') != std::string_view::npos || text.find(":::") != std::string_view::npos ||
         text.find("!!! ") != std::string_view::npos || text.find("??? ") != std::string_view::npos ||
         text.find("???+ ") != std::string_view::npos || text.find(")=") != std::string_view::npos ||
         text.find("\n:") != std::string_view::npos || text.find("\n :") != std::string_view::npos ||
         text.find("\n  :") != std::string_view::npos || text.find("\n   :") != std::string_view::npos;
}

}  // namespace

std::string normalize_markdown_dialects(std::string_view markdown) {
  if (!may_hold_dialect(markdown)) return std::string(markdown);
  DialectNormalizer n(0);
  n.add(split_lines(markdown));
  if (!n.changed()) return std::string(markdown);
  std::string& out = n.out();
  if (!markdown.ends_with('\n') && out.ends_with('\n')) out.pop_back();
  return std::move(out);
}

}  // namespace ragd::connectors
