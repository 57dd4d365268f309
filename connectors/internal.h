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
};

// File stem of a relative name: "runbooks/vpn-setup.md" -> "vpn-setup".
std::string file_stem(std::string_view name);

}  // namespace ragd::connectors
