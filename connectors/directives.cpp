// What Sphinx/MyST directives and roles mean as plain Markdown: shared by
// the Markdown dialect normaliser and the reStructuredText converter, so a
// `{note}` fence and a `.. note::` read the same in answers.
#include <algorithm>
#include <cctype>

#include "connectors/internal.h"
#include "ragd/chunk_text.h"

namespace ragd::connectors {

namespace {

struct Named {
  std::string_view name;
  std::string_view label;
};

// Admonitions whose content is prose under a fixed lead.
constexpr Named kAdmonitions[] = {
    {"note", "Note"},           {"warning", "Warning"},     {"caution", "Caution"}, {"tip", "Tip"},
    {"important", "Important"}, {"attention", "Attention"}, {"danger", "Danger"},   {"error", "Error"},
    {"hint", "Hint"},           {"seealso", "See also"},    {"info", "Info"},       {"todo", "To do"},
};

// Version notes: the first argument is the version, the rest is content.
constexpr Named kVersions[] = {
    {"versionadded", "New in version"},
    {"versionchanged", "Changed in version"},
    {"deprecated", "Deprecated since version"},
    {"versionremoved", "Removed in version"},
};

// Prose whose argument is a title or label: it leads the content.
constexpr std::string_view kTitled[] = {"admonition", "tab", "tab-item", "dropdown", "topic", "sidebar", "card"};

// Object descriptions (an option, a function, a setting): the signature,
// as inline code, leads its description. Matched without the domain
// ("py:function" is "function").
constexpr std::string_view kDescriptions[] = {
    "option", "cmdoption", "describe", "object", "envvar",    "confval",   "function",
    "class",  "method",    "attribute", "data",  "exception", "decorator", "property",
};

// Containers whose content is prose and whose argument says nothing to a
// reader (a build condition, a class name).
constexpr std::string_view kContainers[] = {
    "only", "container", "tab-set", "tabs",    "grid",     "grid-item", "grid-item-card",
    "glossary", "hlist", "compound", "epigraph", "highlights", "pull-quote", "figure",
    "list-table", "table", "csv-table", "class", "centered",
};

// Code whose language is the first argument.
constexpr std::string_view kCode[] = {"code-block", "code", "sourcecode", "code-cell", "literalinclude",
                                      "parsed-literal", "doctest", "testcode", "testoutput", "math",
                                      "productionlist", "prompt"};

// Nothing a reader needs: a list of other files, a picture, build settings.
constexpr std::string_view kDropped[] = {
    "toctree", "contents", "include", "image", "meta", "index", "highlight", "sectnum", "raw",
    "tabularcolumns", "currentmodule", "module", "program", "default-role", "role", "autosummary",
    "bibliography", "footbibliography", "rst-class", "moduleauthor", "sectionauthor", "codeauthor",
};

template <size_t N>
bool listed(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

// "py:function" -> "function"; "versionadded" stays.
std::string_view without_domain(std::string_view name) {
  size_t colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

std::pair<std::string_view, std::string_view> first_word(std::string_view s) {
  s = trim(s);
  size_t sp = s.find_first_of(" \t");
  if (sp == std::string_view::npos) return {s, {}};
  return {s.substr(0, sp), trim(s.substr(sp))};
}

bool is_role_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.' || c == '+';
}

// Roles whose text is something to type or a name on disk: inline code.
constexpr std::string_view kCodeRoles[] = {"file", "command", "envvar", "option", "samp", "kbd", "code",
                                           "program", "makevar", "literal", "regexp", "mailheader"};

}  // namespace

Directive describe_directive(std::string_view raw_name, std::string_view args) {
  const std::string name = to_lower(trim(raw_name));
  const std::string_view bare = without_domain(name);
  args = trim(args);
  Directive d;
  for (const Named& a : kAdmonitions) {
    if (name == a.name) {
      d.lead = a.label;
      d.first_line = args;
      d.lead_alone = true;  // ".. note:: Text" starts the note's text
      return d;
    }
  }
  for (const Named& v : kVersions) {
    if (name == v.name) {
      auto [version, rest] = first_word(args);
      d.lead = std::string(v.label) + " " + std::string(version);
      d.first_line = rest;
      d.lead_alone = true;
      return d;
    }
  }
  if (name == "rubric") {
    d.kind = DirectiveKind::kHeading;
    d.lead = args;
  } else if (listed(kTitled, name)) {
    d.lead = args;
    d.label = name == "tab" || name == "tab-item";
  } else if (listed(kDescriptions, bare)) {
    if (!args.empty()) d.lead = "`" + std::string(args) + "`";
  } else if (listed(kContainers, name)) {
    if (name == "centered") d.first_line = args;
  } else if (listed(kCode, name)) {
    d.kind = DirectiveKind::kCode;
    // literalinclude's argument is a file name the document does not hold.
    if (name != "literalinclude" && name != "math") d.language = first_word(args).first;
  } else if (listed(kDropped, name)) {
    d.kind = DirectiveKind::kDrop;
  } else {
    d.kind = DirectiveKind::kOther;
  }
  return d;
}

bool is_prose_line(std::string_view line) {
  std::string_view t = trim(line);
  if (t.empty() || line.starts_with("    ") || line.starts_with('\t')) return false;
  if (open_code_fence(line, kAnyFenceIndent) || t.front() == '#' || t.front() == '|' ||
      t.front() == '>' || t.front() == '<')
    return false;
  if (t.size() >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && t[1] == ' ') return false;
  size_t digits = 0;
  while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits]))) ++digits;
  return !(digits > 0 && digits + 1 < t.size() && (t[digits] == '.' || t[digits] == ')') && t[digits + 1] == ' ');
}

std::string with_lead(std::string_view lead, std::string_view body, bool label) {
  lead = trim(lead);
  while (!body.empty() && body.front() == '\n') body.remove_prefix(1);
  if (lead.empty()) return std::string(body);
  std::string out(lead);
  const bool punctuated = std::string_view(".:!?").find(out.back()) != std::string_view::npos;
  if (trim(body).empty()) {
    if (!punctuated) out += '.';
    return out + "\n";
  }
  if (!punctuated) out += ':';
  size_t nl = body.find('\n');
  if (!label && is_prose_line(body.substr(0, nl))) return out + " " + std::string(body);
  return out + "\n\n" + std::string(body);
}

std::string code_fence(std::string_view info, std::string_view code) {
  const std::string fence = fence_for(code);
  std::string out = fence + std::string(info) + "\n" + std::string(code);
  if (!out.ends_with('\n')) out += '\n';
  return out + fence + "\n";
}

size_t role_name_length(std::string_view s, size_t pos) {
  size_t i = pos;
  while (i < s.size() && is_role_name_char(s[i])) ++i;
  return i - pos;
}

std::string role_to_markdown(std::string_view role, std::string_view content) {
  const std::string name = to_lower(role);
  const std::string_view bare = without_domain(name);
  if (listed(kCodeRoles, bare)) {
    // Verbatim ("{samp}`pip install <name>`").
    return code_span(content);
  }
  // "text <target>" shows the text; a bare target shows itself.
  std::string_view text = content;
  bool explicit_title = false;
  if (text.ends_with('>')) {
    size_t lt = text.rfind('<');
    if (lt != std::string_view::npos && lt > 0 && !trim(text.substr(0, lt)).empty()) {
      text = trim(text.substr(0, lt));
      explicit_title = true;
    }
  }
  if (!explicit_title && !text.empty() && (text.front() == '!' || text.front() == '~')) {
    // Sphinx: '!' suppresses the link, '~' shows the last dotted component.
    const bool last_only = text.front() == '~';
    text.remove_prefix(1);
    if (last_only) {
      size_t dot = text.rfind('.');
      if (dot != std::string_view::npos && dot + 1 < text.size()) text = text.substr(dot + 1);
    }
  }
  if (!explicit_title && (bare == "pep" || bare == "rfc")) return (bare == "pep" ? "PEP " : "RFC ") + std::string(text);
  return std::string(text);
}

}  // namespace ragd::connectors
