// Entry points: the directory crawler and format dispatch.
#include "connectors/connector.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <system_error>

#include "connectors/internal.h"

namespace ragd {

namespace fs = std::filesystem;
using connectors::FileInput;

const char* source_format_name(SourceFormat f) {
  switch (f) {
    case SourceFormat::kAuto: return "auto";
    case SourceFormat::kMarkdown: return "markdown";
    case SourceFormat::kRst: return "rst";
    case SourceFormat::kHtml: return "html";
    case SourceFormat::kText: return "text";
    case SourceFormat::kPdf: return "pdf";
    case SourceFormat::kDocx: return "docx";
    case SourceFormat::kServiceNow: return "servicenow";
    case SourceFormat::kJira: return "jira";
    case SourceFormat::kZendesk: return "zendesk";
    case SourceFormat::kCsv: return "csv";
    case SourceFormat::kJsonl: return "jsonl";
  }
  return "unknown";
}

std::optional<SourceFormat> parse_source_format(std::string_view name) {
  const std::string n = connectors::to_lower(name);
  if (n == "auto") return SourceFormat::kAuto;
  if (n == "markdown" || n == "md") return SourceFormat::kMarkdown;
  if (n == "rst" || n == "rest" || n == "restructuredtext") return SourceFormat::kRst;
  if (n == "html" || n == "htm") return SourceFormat::kHtml;
  if (n == "text" || n == "txt") return SourceFormat::kText;
  if (n == "pdf") return SourceFormat::kPdf;
  if (n == "docx") return SourceFormat::kDocx;
  if (n == "servicenow" || n == "snow") return SourceFormat::kServiceNow;
  if (n == "jira") return SourceFormat::kJira;
  if (n == "zendesk") return SourceFormat::kZendesk;
  if (n == "csv") return SourceFormat::kCsv;
  if (n == "jsonl" || n == "beir" || n == "ndjson") return SourceFormat::kJsonl;
  return std::nullopt;
}

namespace {

// Format from a file name; nullopt for extensions no connector reads.
// Plain ".json" maps to kAuto: the JSON parser decides by shape.
std::optional<SourceFormat> format_from_name(std::string_view filename) {
  const std::string lower = connectors::to_lower(filename);
  auto ends = [&](std::string_view suffix) {
    return lower.size() >= suffix.size() && lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".md") || ends(".markdown")) return SourceFormat::kMarkdown;
  if (ends(".rst") || ends(".rest")) return SourceFormat::kRst;
  if (ends(".html") || ends(".htm")) return SourceFormat::kHtml;
  if (ends(".txt") || ends(".text")) return SourceFormat::kText;
  if (ends(".pdf")) return SourceFormat::kPdf;
  if (ends(".docx")) return SourceFormat::kDocx;
  if (ends(".csv")) return SourceFormat::kCsv;
  if (ends(".jsonl") || ends(".ndjson")) return SourceFormat::kJsonl;
  if (ends(".json")) return SourceFormat::kAuto;
  return std::nullopt;
}

Status dispatch(const FileInput& in, SourceFormat format) {
  switch (format) {
    case SourceFormat::kMarkdown: return connectors::parse_markdown(in);
    case SourceFormat::kRst: return connectors::parse_rst(in);
    case SourceFormat::kHtml: return connectors::parse_html(in);
    case SourceFormat::kText: return connectors::parse_text(in);
    case SourceFormat::kPdf: return connectors::parse_pdf(in);
    case SourceFormat::kDocx: return connectors::parse_docx(in);
    case SourceFormat::kCsv: return connectors::parse_csv(in);
    case SourceFormat::kJsonl: return connectors::parse_jsonl(in);
    case SourceFormat::kAuto:
    case SourceFormat::kServiceNow:
    case SourceFormat::kJira:
    case SourceFormat::kZendesk: return connectors::parse_json_export(in, format);
  }
  return Status::internal("unknown format");
}

// Runs one parser; file-level failures go to the sink with the name.
void run_parser(const FileInput& in, SourceFormat format) {
  Status st;
  try {
    st = dispatch(in, format);
  } catch (const std::bad_alloc&) {
    st = Status::resource_exhausted("out of memory while parsing");
  } catch (const std::exception& e) {
    st = Status::internal(std::string("parser failed: ") + e.what());
  }
  if (!st.is_ok()) in.error(st.with_context(in.name));
}

// Picks the format (forced, else by extension) and parses.
void fetch_one(const FileInput& in, SourceFormat forced) {
  std::optional<SourceFormat> format = forced;
  if (forced == SourceFormat::kAuto) {
    format = format_from_name(in.name);
    if (!format) {
      in.error(Status::unimplemented(in.name + ": unsupported file type, skipped"));
      return;
    }
  }
  run_parser(in, *format);
}

int64_t mtime_of(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  if (ec) return 0;
  // libstdc++ 12 has no clock_cast; file_clock::to_sys does the same.
  auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::duration_cast<std::chrono::seconds>(sys.time_since_epoch()).count();
}

void fetch_file(const fs::path& file, const std::string& rel, const FetchOptions& options,
                const FetchSink& sink) {
  auto report = [&](Status s) { if (sink.on_error) sink.on_error(s); };
  std::error_code ec;
  const uintmax_t size = fs::file_size(file, ec);
  if (ec) return report(Status::io_error(rel + ": cannot stat: " + ec.message()));
  if (size > options.max_file_bytes) {
    return report(Status::resource_exhausted(rel + ": file is " + std::to_string(size) +
                                             " bytes, over the limit of " +
                                             std::to_string(options.max_file_bytes) + "; skipped"));
  }
  std::ifstream f(file, std::ios::binary);
  if (!f) return report(Status::io_error(rel + ": cannot open for reading"));
  std::string bytes(size, '\0');
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(f.gcount()) != size) return report(Status::io_error(rel + ": short read"));

  FileInput in;
  in.bytes = bytes;
  in.name = rel;
  in.doc_id = rel;
  fs::path rel_path(rel);
  std::string folder_kind;
  for (const auto& part : rel_path.parent_path()) {  // innermost folder that says something wins
    std::string k = connectors::kind_from_folder(part.string());
    if (!k.empty()) folder_kind = k;
  }
  in.kind_hint = !folder_kind.empty() ? folder_kind : options.default_kind;
  in.mtime = mtime_of(file);
  in.options = &options;
  in.sink = &sink;
  fetch_one(in, options.format);
}

bool hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

}  // namespace

Status fetch_path(const fs::path& path, const FetchOptions& options, const FetchSink& sink) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return Status::not_found(path.string() + ": no such file or directory");
  if (fs::is_regular_file(st)) {
    // A single file: its id is its name, its kind hint the folder it sits in.
    fs::path abs = fs::absolute(path, ec);
    std::string rel = path.filename().string();
    FetchOptions opts = options;
    if (opts.default_kind.empty() && !ec) opts.default_kind = connectors::kind_from_folder(abs.parent_path().filename().string());
    fetch_file(path, rel, opts, sink);
    return Status::ok();
  }
  if (!fs::is_directory(st)) return Status::invalid_argument(path.string() + ": not a regular file or directory");

  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Status::io_error(path.string() + ": cannot read directory: " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      if (sink.on_error) sink.on_error(Status::io_error(path.string() + ": " + ec.message()));
      break;
    }
    const fs::directory_entry& e = *it;
    if (hidden(e.path())) {
      if (e.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (e.is_regular_file(ec)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());  // stable order: ids and errors reproducible
  for (const auto& file : files) {
    std::string rel = fs::relative(file, path, ec).generic_string();
    if (ec || rel.empty()) rel = file.filename().string();
    fetch_file(file, rel, options, sink);
  }
  return Status::ok();
}

Status fetch_buffer(std::string_view bytes, const std::string& filename, const FetchOptions& options,
                    const FetchSink& sink) {
  if (bytes.size() > options.max_file_bytes)
    return Status::resource_exhausted(filename + ": " + std::to_string(bytes.size()) +
                                      " bytes, over the limit of " + std::to_string(options.max_file_bytes));
  FileInput in;
  in.bytes = bytes;
  in.name = filename.empty() ? std::string("upload") : filename;
  in.doc_id = in.name;
  in.kind_hint = options.default_kind;
  in.options = &options;
  in.sink = &sink;
  SourceFormat format = options.format;
  if (format == SourceFormat::kAuto && !format_from_name(in.name)) {
    // No useful extension: JSON by shape when it looks like JSON, else text.
    std::string_view t = connectors::trim(bytes);
    bool json = !t.empty() && (t.front() == '{' || t.front() == '[');
    run_parser(in, json ? SourceFormat::kAuto : SourceFormat::kText);
    return Status::ok();
  }
  fetch_one(in, format);
  return Status::ok();
}

}  // namespace ragd
