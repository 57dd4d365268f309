// `ragd sync --config FILE [--source NAME] [--full | --prune] [--cluster FILE]`:
// one pass over the [[source]] tables of the config file (sync/), with
// per-source counts. Into the data directory's store, or with --cluster
// through the cluster's log as a node's sync sources write
// (cluster/sync_target.h): each source claimed in etcd first, its cursor
// in etcd, each document counted once JetStream acknowledged it.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "api/cli/cli.h"
#include "api/cli/config.h"
#include "cluster/node.h"
#include "cluster/options.h"
#include "cluster/sync_target.h"
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
  // Cluster file (cluster/options.h), as `serve --cluster` takes it: write
  // through the cluster's log instead of the data directory's store.
  // Default: "" = the store.
  std::string cluster;
};

// Where a one-shot sync writes: the data directory's store, or the log of
// the cluster the file names, with a writer of its own (not a node: no
// store is opened, none needs to be free).
struct SyncSink {
  std::unique_ptr<ServiceContext> service;  // the store's
  std::unique_ptr<cluster::Node> writer;    // the cluster's
  std::unique_ptr<cluster::LogSyncTarget> log;
  std::unique_ptr<sync::SyncEngine> engine;
};

Result<SyncSink> open_sink(const SyncArgs& args) {
  SyncSink sink;
  if (args.cluster.empty()) {
    RAGD_ASSIGN_OR_RETURN(sink.service, open_service(args.common, EmbedderLoad::kRequired));
    ServiceContext& s = *sink.service;
    sink.engine = std::make_unique<sync::SyncEngine>(s.store(), *s.embedder(), s.options().ingest);
    return sink;
  }
  RAGD_ASSIGN_OR_RETURN(cluster::ClusterOptions co, cluster::read_cluster_options(args.cluster));
  // The secret signs the listing a prune asks of the nodes.
  RAGD_RETURN_IF_ERROR(cluster::read_cluster_secrets(co, args.cluster));
  // The appliers check each document against the same ingest options.
  const IngestOptions ingest = service_options(args.common, EmbedderLoad::kOptional).ingest;
  auto writer = cluster::Node::start_writer(std::move(co), ingest);
  if (!writer.is_ok()) return writer.status().with_context("connecting to the cluster of " + args.cluster);
  sink.writer = std::move(writer).value();
  // No node's store here: the etcd tombstones alone keep purged documents out.
  sink.log = std::make_unique<cluster::LogSyncTarget>(*sink.writer, nullptr);
  sink.engine = std::make_unique<sync::SyncEngine>(*sink.log);
  return sink;
}

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

  auto opened = open_sink(args);
  if (!opened.is_ok()) return fail(opened.status());
  SyncSink& sink = *opened;
  sync::SyncEngine& engine = *sink.engine;

  const bool tty = !args.quiet && isatty(STDOUT_FILENO) == 1;
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
    if (sink.log) {
      // One process per source in a cluster: a node that runs this source
      // in `serve` holds its claim (and its cursor's fence) while it lives.
      auto holder = sink.log->claim(src.name);
      if (!holder.is_ok() || !holder->empty()) {
        Status st;
        if (!holder.is_ok()) {
          st = holder.status().with_context("claiming source '" + src.name + "' in etcd");
        } else if (holder->starts_with("sync-")) {
          st = Status::failed_precondition("source '" + src.name + "' is being synced by another `ragd sync "
                                           "--cluster` (" + *holder + "); try again when it has ended (a killed "
                                           "one's claim lapses with its lease, lease_ttl_seconds)");
        } else {
          st = Status::failed_precondition("source '" + src.name + "' is synced by cluster node '" + *holder +
                                           "' (its `ragd serve` runs the passes): trigger one there with POST "
                                           "/v1/sources/" + src.name + "/sync, or remove the [[source]] from that "
                                           "node's config");
        }
        std::printf("%s (%s): not synced\n", src.name.c_str(), sync::source_type_name(src.type));
        std::fprintf(stderr, "ragd: %s\n", st.message().c_str());
        std::fflush(stdout);
        exit_code = 1;
        continue;
      }
    }
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
  if (sink.service) {
    Status closed = sink.service->close();
    if (!closed.is_ok()) return fail(closed.with_context("closing the store"));
  }
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
  cmd->add_option("--cluster", args->cluster,
                  "cluster file (TOML, as `serve --cluster` takes it): write through the cluster's log, the cursors "
                  "in its etcd, instead of the --data store");
  cmd->callback([args, &exit_code] { exit_code = run_sync(*args); });
}

}  // namespace ragd::cli
