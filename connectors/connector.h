// Connectors turn files and exports into Documents. Each record that fails
// to parse becomes an error naming the file and the record; the rest of the
// batch still comes through.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/document.h"
#include "ragd/status.h"

namespace ragd {

enum class SourceFormat {
  kAuto,        // by extension and, for JSON, by shape
  kMarkdown, kHtml, kText, kPdf, kDocx,
  kRst,         // reStructuredText, read as Markdown
  kServiceNow,  // {"result":[...]} or {"records":[...]}
  kJira,        // {"issues":[...]}
  kZendesk,     // {"tickets":[...]} (comments inline or in a sibling file)
  kCsv,         // with a column mapping
  kJsonl,       // BEIR corpus lines: _id/id, title, text [, kind, metadata, acl]
};

const char* source_format_name(SourceFormat f);
std::optional<SourceFormat> parse_source_format(std::string_view name);

struct FetchOptions {
  SourceFormat format = SourceFormat::kAuto;
  // CSV: document field -> CSV column name. Recognised fields: id, title,
  // text, kind, url, acl, updated_at, and "meta:<name>" for metadata.
  // Default: columns with those names.
  std::map<std::string, std::string> csv_columns;
  // Kind given to files found by the directory crawler when the path or
  // front matter says nothing. Default: by folder name ("runbooks" ->
  // "runbook", "policies" -> "policy"), else "document".
  std::string default_kind;
  // Files larger than this are skipped with an error. Default: 64 MiB.
  size_t max_file_bytes = 64u << 20;
  // DOCX (zip): bytes the parts read from one archive may expand to, in
  // total. Checked against the sizes in the zip directory before anything is
  // decompressed. Default: 64 MiB.
  size_t max_decompressed_bytes = 64u << 20;
  // DOCX (zip): decompressed bytes per byte of the archive, once more than
  // 1 MiB is decompressed. Text compresses about 10:1, a zip bomb 1000:1.
  // Default: 100.
  size_t max_compression_ratio = 100;
};

// Called for every document as soon as it is parsed, and for every error.
struct FetchSink {
  std::function<void(Document&&)> on_document;
  std::function<void(const Status&)> on_error;
};

// A file or a directory (crawled recursively, hidden entries skipped).
// Returns a non-ok Status only when the path itself cannot be read; every
// per-file and per-record problem goes to sink.on_error.
Status fetch_path(const std::filesystem::path& path, const FetchOptions& options,
                  const FetchSink& sink);

// The same for bytes already in memory (an HTTP upload); `filename` picks the
// format when options.format is kAuto.
Status fetch_buffer(std::string_view bytes, const std::string& filename,
                    const FetchOptions& options, const FetchSink& sink);

namespace connectors {
// Unix seconds from "2024-03-02 10:11:12", "2024-03-02T10:11:12Z",
// "...T10:11:12.000+0000" or "+01:00", "2024-03-02", or unix seconds (or
// milliseconds) as digits; nullopt when not recognised. The one timestamp
// reader of the exports and of sync/'s vendor APIs.
std::optional<int64_t> parse_timestamp(std::string_view s);
}  // namespace connectors

}  // namespace ragd
