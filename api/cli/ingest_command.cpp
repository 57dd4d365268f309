// `ragd ingest PATH...`: files, directories and exports into the store.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/cli/cli.h"
#include "connectors/connector.h"
#include "ingest/pipeline.h"
#include "service/collections.h"

namespace ragd::cli {
namespace {

struct IngestArgs {
  CommonOptions common;
  std::vector<std::string> paths;
  std::string format = "auto";
  std::vector<std::string> csv_map;  // field=column
  bool quiet = false;
  std::string collection;  // "" = the default collection (the data directory itself)
};

// One line redrawn in place: "[#####.....] 120 docs  340 chunks  85.2 docs/s".
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled), start_(Clock::now()) {}
  void update(const IngestStats& s, bool force = false) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? static_cast<double>(s.seen) / secs : 0.0;
    static const char kSpin[] = "|/-\\";
    std::fprintf(stdout, "\r%c %llu docs  %llu new  %llu unchanged  %llu chunks  %llu errors  %.1f docs/s   ",
                 kSpin[(spin_++) % 4], static_cast<unsigned long long>(s.seen),
                 static_cast<unsigned long long>(s.ingested), static_cast<unsigned long long>(s.unchanged),
                 static_cast<unsigned long long>(s.chunks), static_cast<unsigned long long>(s.failed), rate);
    std::fflush(stdout);
  }
  void finish() {
    if (enabled_) std::fputc('\n', stdout);
  }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  Clock::time_point start_;
  Clock::time_point last_{};
  unsigned spin_ = 0;
};

int run_ingest(const IngestArgs& args) {
  FetchOptions fo;
  auto fmt = parse_source_format(args.format);
  if (!fmt) return fail(Status::invalid_argument("--format: unknown format '" + args.format + "'"));
  fo.format = *fmt;
  for (const auto& m : args.csv_map) {
    auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) {
      return fail(Status::invalid_argument("--csv-map: expected field=column, got '" + m + "'"));
    }
    fo.csv_columns[m.substr(0, eq)] = m.substr(eq + 1);
  }

  CommonOptions common = args.common;
  if (!args.collection.empty()) {
    if (Status s = Collections::check_name(args.collection); !s.is_ok()) return fail(s);
    const std::filesystem::path dir = Collections::dir_of(common.data, args.collection);
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      return fail(Status::not_found("no collection '" + args.collection + "' in " + common.data +
                                    ": create it with `ragd collections create " + args.collection + "`"));
    }
    common.data = dir.string();
  }
  auto svc = open_service(common, EmbedderLoad::kRequired);
  if (!svc.is_ok()) return fail(svc.status());
  ServiceContext& s = **svc;

  ProgressLine progress(!args.quiet && isatty(STDOUT_FILENO) == 1);
  Ingestor ingestor(s.store(), *s.embedder(), s.options().ingest);
  ingestor.on_progress = [&](const IngestStats& st) { progress.update(st); };
  std::vector<std::string> fetch_errors;
  int exit_code = 0;
  FetchSink sink;
  sink.on_document = [&](Document&& d) { ingestor.add(std::move(d)); };
  sink.on_error = [&](const Status& e) { fetch_errors.push_back(e.message()); };
  for (const auto& p : args.paths) {
    Status st = fetch_path(p, fo, sink);
    if (!st.is_ok()) {
      fetch_errors.push_back(st.message());
      exit_code = 1;
    }
  }
  ingestor.flush();
  const IngestStats& st = ingestor.stats();
  progress.update(st, true);
  progress.finish();
  Status closed = s.close();

  double secs = progress.seconds();
  std::printf("ingested %llu documents (%llu unchanged, %llu failed), %llu chunks in %.2f s (%.1f docs/s)\n",
              static_cast<unsigned long long>(st.ingested), static_cast<unsigned long long>(st.unchanged),
              static_cast<unsigned long long>(st.failed), static_cast<unsigned long long>(st.chunks), secs,
              secs > 0 ? static_cast<double>(st.seen) / secs : 0.0);
  size_t n_errors = fetch_errors.size() + st.errors.size();
  if (n_errors > 0) {
    std::printf("%zu error(s):\n", n_errors);
    for (const auto& e : fetch_errors) std::printf("  %s\n", e.c_str());
    for (const auto& e : st.errors) std::printf("  %s\n", e.c_str());
  }
  if (!closed.is_ok()) return fail(closed.with_context("closing the store"));
  return exit_code;
}

}  // namespace

void add_ingest_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<IngestArgs>();
  CLI::App* cmd = app.add_subcommand("ingest", "ingest files, directories and ticket exports");
  add_common_options(*cmd, args->common);
  cmd->add_option("paths", args->paths, "files or directories")->required();
  cmd->add_option("--format", args->format,
                  "force a connector: auto, markdown, rst, html, text, pdf, docx, servicenow, jira, zendesk, csv, jsonl")
      ->capture_default_str();
  cmd->add_option("--csv-map", args->csv_map, "CSV column mapping field=column (id, title, text, kind, url, "
                                              "acl, updated_at, meta:<name>)")
      ->delimiter(',');
  cmd->add_flag("--quiet", args->quiet, "no progress line");
  cmd->add_option("--collection", args->collection,
                  "ingest into this collection (made by `ragd collections create`) instead of the default");
  cmd->callback([args, &exit_code] { exit_code = run_ingest(*args); });
}

}  // namespace ragd::cli
