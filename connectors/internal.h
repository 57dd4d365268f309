// Shared by the connector parsers; not part of the public wall.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/connector.h"

namespace ragd::connectors {

// One file (or uploaded buffer) being parsed.
struct FileInput {
  std::string_view bytes;
  std::string name;       // for messages and origins: path relative to the crawl root
  std::string doc_id;     // id for single-document files (= name)
  std::string kind_hint;  // from the folder name or FetchOptions::default_kind; may be ""
  int64_t mtime = 0;      // unix seconds, 0 = unknown
  const FetchOptions* options = nullptr;
  const FetchSink* sink = nullptr;

  void emit(Document&& doc) const { if (sink->on_document) sink->on_document(std::move(doc)); }
  void error(const Status& s) const { if (sink->on_error) sink->on_error(s); }
};

// Single-document files. A non-ok Status means the file was skipped.
Status parse_markdown(const FileInput& in);
Status parse_rst(const FileInput& in);
Status parse_text(const FileInput& in);
Status parse_html(const FileInput& in);
Status parse_pdf(const FileInput& in);
Status parse_docx(const FileInput& in);

// Record files: per-record errors go to in.error(); a non-ok Status means
// the file as a whole could not be read (e.g. not JSON at all).
Status parse_json_export(const FileInput& in, SourceFormat format);  // kAuto: by shape
Status parse_jsonl(const FileInput& in);
Status parse_csv(const FileInput& in);

// ---- helpers (text_util.cpp) ----

// parse_timestamp() is public: connectors/connector.h.

// True when the first bytes look binary (NUL bytes, many control bytes).
bool looks_binary(std::string_view bytes);

std::string_view trim(std::string_view s);
// The lines of `text` split at '\n' (views into it); a final line break
// gives no empty last line.
std::vector<std::string_view> split_lines(std::string_view text);
// lines[from..] each followed by '\n'.
std::string join_lines(const std::vector<std::string_view>& lines, size_t from = 0);
// `code` as a Markdown code span: a backtick run longer than any inside it,
// padded with spaces when the code starts or ends with a backtick.
std::string code_span(std::string_view code);
std::string to_lower(std::string_view s);
// Splits "a, b;c" into trimmed non-empty items.
std::vector<std::string> split_list(std::string_view s);
std::string join(const std::vector<std::string>& items, std::string_view sep);

// Kind from a folder name: "runbooks" -> "runbook", "policies" -> "policy",
// "tickets" -> "ticket"; "" when the folder says nothing.
std::string kind_from_folder(std::string_view folder);

// Applies a key/value from front matter or an HTML <meta> to a document:
// title, kind/type, id, url, acl/groups, tags, created/updated/date, source;
// anything else goes to metadata. `values` holds one item for scalars.
void apply_field(Document& doc, std::string_view key, const std::vector<std::string>& values);

// Finishes a file document: defaults for kind, source, updated_at.
void finish_file_document(Document& doc, const FileInput& in);

// Blocks of a document built from a walk over headings and text (HTML,
// DOCX): text gathers in `buf` until a heading or the end closes the block,
// and each block carries the headings above it as its section path.
struct SectionBuilder {
  Document doc;
  std::vector<std::pair<int, std::string>> path;  // heading level, text
  std::string buf;

  // Ends the current block, if it holds any text, under the current path.
  void flush();
  // Starts a section: ends the block, drops headings at `level` or deeper,
  // then pushes this one (unless empty). The first level-1 heading is the
  // title when the document has none.
  void heading(int level, std::string text);
  // The level of the innermost open section; 0 before any heading.
  int level() const { return path.empty() ? 0 : path.back().first; }
  // Ends the block and closes the sections deeper than `level`, so that text
  // after a structure that opened sections of its own (an HTML definition
  // list's terms) goes back to the section that held it.
  void close_sections_below(int level);
};

// File stem of a relative name: "runbooks/vpn-setup.md" -> "vpn-setup".
std::string file_stem(std::string_view name);

// ---- documentation markup (directives.cpp, markdown_dialects.cpp, rst.cpp) ----

// What a Sphinx/MyST directive's content is once it is plain Markdown.
enum class DirectiveKind {
  kProse,    // admonitions, tabs, version notes: the content, under `lead`
  kHeading,  // a rubric: `lead` is a heading of its own
  kCode,     // code-block and friends: a fence in `language`
  kDrop,     // toctree, image, include: nothing a reader needs
  kOther,    // unknown: the content kept as a code fence, since it may be anything
};

struct Directive {
  DirectiveKind kind = DirectiveKind::kProse;
  std::string lead;        // "Note", "New in version 6.0", a tab's label; may be ""
  std::string first_line;  // argument text that starts the content (".. note:: Text")
  std::string language;    // kCode: the fence's info string; may be ""
  bool lead_alone = false;  // an empty note still says its lead ("New in version 6.0.")
  // The lead labels what the content applies to (a tab's "Unix"): on a line
  // of its own, never joined to the content's first sentence.
  bool label = false;
};

// `name` as written ("note", "code-block", "py:function"); `args` the rest of
// the directive's line.
Directive describe_directive(std::string_view name, std::string_view args);

// Markdown `body` under `lead`: "Note: first line..." when the body starts
// with prose and the lead is no `label`, else the lead on a line of its
// own; "Note." alone when the body is empty. The body itself when the lead
// is "".
std::string with_lead(std::string_view lead, std::string_view body, bool label = false);

// False for Markdown lines that are not a paragraph's text: fences, headings,
// list items, tables, quotes, indented code.
bool is_prose_line(std::string_view line);

// `code` in a fence longer than any backtick run that starts one of its lines.
std::string code_fence(std::string_view info, std::string_view code);

// Length of the role name at s[pos] (letters, digits, "-_:.+"); 0 if none.
size_t role_name_length(std::string_view s, size_t pos);

// A role's content as Markdown: {ref}`text <target>` -> text, {ref}`target`
// -> target, {file}`x` -> `x`, {pep}`517` -> PEP 517, others their text.
std::string role_to_markdown(std::string_view role, std::string_view content);

// MyST, MkDocs and Docusaurus markup (directive and colon fences,
// admonitions, roles, targets) as plain Markdown. Text that uses none of it
// comes back byte for byte; code fences and inline code are never changed.
std::string normalize_markdown_dialects(std::string_view markdown);

// reStructuredText as plain Markdown (rst.cpp). The docinfo field list at
// the top (":Author: x") goes to `docinfo` as lower-case key, value.
std::string rst_to_markdown(std::string_view rst, std::vector<std::pair<std::string, std::string>>* docinfo);

// Emits a document whose text is `markdown` (text_files.cpp): the first
// "# " heading is its title unless `doc` has one.
Status emit_markdown(const FileInput& in, Document doc, std::string markdown);

}  // namespace ragd::connectors
