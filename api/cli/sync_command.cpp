// `ragd sync --config FILE [--source NAME] [--full | --prune]`: one pass over the
// [[source]] tables of the config file (sync/), with per-source counts.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "api/cli/cli.h"
#include "api/cli/config.h"
#include "sync/engine.h"
#include "sync/source.h"

namespace ragd::cli {
namespace {

struct SyncArgs {
  CommonOptions common;
  std::string source;
  bool full = false;
  bool prune = false;
  bool quiet = false;
};

unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

int run_sync(const SyncArgs& args) {
  const std::string& file = effective_config_file();
  if (file.empty()) {
    return fail(Status::invalid_argument("sync needs a config file with [[source]] tables: --config FILE "
                                         "(or $RAGD_CONFIG)"));
  }
  auto sources = sync::read_sources(file);
  if (!sources.is_ok()) return fail(sources.status());
  std::vector<sync::SourceConfig> chosen;
  for (const auto& s : *sources) {
    if (args.source.empty() || s.name == args.source) chosen.push_back(s);
  }
  if (chosen.empty()) {
    return fail(Status::invalid_argument(args.source.empty() ? file + ": no [[source]] tables"
                                                             : file + ": no source named '" + args.source + "'"));
  }

  auto svc = open_service(args.common, EmbedderLoad::kRequired);
  if (!svc.is_ok()) return fail(svc.status());
  ServiceContext& s = **svc;

  const bool tty = !args.quiet && isatty(STDOUT_FILENO) == 1;
  sync::SyncEngine engine(s.store(), *s.embedder(), s.options().ingest);
  const auto start = std::chrono::steady_clock::now();
  engine.on_page = [&](const sync::SourceConfig& src, const sync::SyncCounts& c, std::optional<uint64_t> total) {
    if (!tty) return;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string of = total ? "/" + std::to_string(*total) : "";
    std::fprintf(stdout, "\r%s: page %llu  %llu%s records  %llu new  %llu updated  %llu deleted  %llu failed  %.0f rec/s   ",
                 src.name.c_str(), ull(c.pages), ull(c.fetched), of.c_str(), ull(c.added), ull(c.updated),
                 ull(c.deleted), ull(c.failed), secs > 0 ? static_cast<double>(c.fetched) / secs : 0.0);
    std::fflush(stdout);
  };
  sync::SyncRunOptions run;
  run.full = args.full;
  int exit_code = 0;
  for (const auto& src : chosen) {
    auto t0 = std::chrono::steady_clock::now();
    sync::SyncResult r = engine.run(src, run);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (tty) std::fputc('\n', stdout);
    const auto& c = r.counts;
    std::printf("%s (%s): fetched %llu, new %llu, updated %llu, unchanged %llu, deleted %llu, failed %llu "
                "(%llu pages, %llu retries, %.2f s)%s\n",
                src.name.c_str(), sync::source_type_name(src.type), ull(c.fetched), ull(c.added), ull(c.updated),
                ull(c.unchanged), ull(c.deleted), ull(c.failed), ull(c.pages), ull(c.retries), secs,
                r.status.is_ok() ? "" : " STOPPED");
    for (const auto& e : r.errors) std::printf("  %s\n", e.c_str());
    if (args.prune && r.status.is_ok()) {
      t0 = std::chrono::steady_clock::now();
      sync::SyncResult p = engine.prune(src);
      secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%s: prune: listed %llu ids (%llu pages), deleted %llu (%.2f s)%s\n", src.name.c_str(),
                  ull(p.counts.fetched), ull(p.counts.pages), ull(p.counts.deleted), secs,
                  p.status.is_ok() ? "" : " STOPPED");
      r.status = p.status;
    }
    if (!r.status.is_ok()) {
      std::fprintf(stderr, "ragd: %s\n", r.status.message().c_str());
      exit_code = 1;
    }
    std::fflush(stdout);
  }
  Status closed = s.close();
  if (!closed.is_ok()) return fail(closed.with_context("closing the store"));
  return exit_code;
}

}  // namespace

void add_sync_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SyncArgs>();
  CLI::App* cmd = app.add_subcommand("sync", "one sync pass over the [[source]] tables of the config file");
  add_common_options(*cmd, args->common);
  cmd->add_option("--source", args->source, "only this source (its name)");
  cmd->add_flag("--full", args->full,
                "start from the beginning and remove documents the source no longer lists (pruning)");
  cmd->add_flag("--prune", args->prune,
                "after the pass, list the ids the source holds (ids only) and remove documents it no longer "
                "lists; refused above the source's prune_max_fraction")
      ->excludes("--full");
  cmd->add_flag("--quiet", args->quiet, "no progress line");
  cmd->callback([args, &exit_code] { exit_code = run_sync(*args); });
}

}  // namespace ragd::cli
