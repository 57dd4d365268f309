// `ragd cluster status`: the shard map, the live nodes and how far each
// replica has applied its shard's stream, read from etcd, JetStream and the
// nodes themselves (cluster/status.h). Exit code 0 when every shard has a
// live replica that answers and every shard's log and etcd have a leader;
// 1 when a shard cannot be searched (or etcd cannot be read); 2 when every
// shard can be searched but writes fail (a log or etcd without a leader).
// `ragd cluster rebalance`: moves replicas onto new nodes or off drained
// ones without stopping the service (cluster/rebalance.h).
// `ragd cluster accept-gap`: lets the appliers of a shard go on past a gap
// in its stream (cluster/accept_gap.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "api/cli/cli.h"
#include "cluster/accept_gap.h"
#include "cluster/options.h"
#include "cluster/rebalance.h"
#include "cluster/status.h"

namespace ragd::cli {
namespace {

struct ClusterStatusArgs {
  std::string cluster_file;
  std::string api_key;
  bool json = false;
};

int run_cluster_status(const ClusterStatusArgs& a) {
  auto options = cluster::read_cluster_options(a.cluster_file);
  if (!options.is_ok()) return fail(options.status());
  std::string key = a.api_key;
  if (key.empty()) {
    if (const char* env = std::getenv("RAGD_API_KEY"); env != nullptr) key = env;
  }
  auto view = cluster::read_cluster_view(*options, key);
  if (!view.is_ok()) return fail(view.status());
  const std::string text = a.json ? cluster::cluster_view_json(*view) + "\n" : cluster::cluster_view_table(*view);
  std::fputs(text.c_str(), stdout);
  if (!view->searchable()) return 1;
  return view->writable() ? 0 : 2;
}

struct ClusterRebalanceArgs {
  std::string cluster_file;
  cluster::RebalanceOptions options;
};

int run_cluster_rebalance(ClusterRebalanceArgs a) {
  auto options = cluster::read_cluster_options(a.cluster_file);
  if (!options.is_ok()) return fail(options.status());
  a.options.progress = [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  // A replica taken from a node with no lease: its durable consumer goes too.
  a.options.retired_away = cluster::consumer_deleter(*options);
  auto map = cluster::rebalance(*options, a.options);
  if (!map.is_ok()) return fail(map.status());
  return 0;
}

struct ClusterAcceptGapArgs {
  std::string cluster_file;
  std::string api_key;
  uint32_t shard = 0;
  std::optional<uint64_t> through;
};

int run_cluster_accept_gap(const ClusterAcceptGapArgs& a) {
  auto options = cluster::read_cluster_options(a.cluster_file);
  if (!options.is_ok()) return fail(options.status());
  cluster::AcceptGapOptions ao;
  ao.shard = a.shard;
  ao.through = a.through;
  ao.api_key = a.api_key;
  if (ao.api_key.empty()) {
    if (const char* env = std::getenv("RAGD_API_KEY"); env != nullptr) ao.api_key = env;
  }
  auto done = cluster::accept_gap(*options, ao);
  if (!done.is_ok()) return fail(done.status());
  const std::string shard = "shard " + std::to_string(a.shard);
  for (const auto& s : done->stopped) std::printf("%s: stopped at a gap on %s\n", shard.c_str(), s.c_str());
  for (const auto& u : done->unknown) std::printf("%s: no answer from %s\n", shard.c_str(), u.c_str());
  if (done->written) {
    std::printf("%s: gaps up to stream sequence %llu accepted (before: %s); its appliers go on within 5 s\n",
                shard.c_str(), static_cast<unsigned long long>(done->through),
                done->previous == 0 ? "none" : std::to_string(done->previous).c_str());
  } else {
    std::printf("%s: gaps up to stream sequence %llu were already accepted; nothing written\n", shard.c_str(),
                static_cast<unsigned long long>(done->through));
  }
  return 0;
}

}  // namespace

void add_cluster_command(CLI::App& app, int& exit_code) {
  CLI::App* cluster = app.add_subcommand("cluster", "a ragd cluster seen from outside its nodes");
  cluster->require_subcommand(1);
  auto a = std::make_shared<ClusterStatusArgs>();
  CLI::App* status = cluster->add_subcommand(
      "status", "shard map, live nodes, each replica's applied position against its stream, the leaders of the "
                "shards' logs and of etcd; exit 1 when a shard has no live replica that answers, 2 when writes fail "
                "(a log or etcd without a leader)");
  status->add_option("--cluster", a->cluster_file, "the cluster file (any node's: its etcd and NATS URLs)")
      ->required();
  status->add_option("--api-key", a->api_key,
                     "key for the nodes' /v1/stats when they require one (default: $RAGD_API_KEY)");
  status->add_flag("--json", a->json, "print JSON");
  status->callback([a, &exit_code] { exit_code = run_cluster_status(*a); });

  auto b = std::make_shared<ClusterRebalanceArgs>();
  CLI::App* rebalance = cluster->add_subcommand(
      "rebalance",
      "move shard replicas so the live nodes hold about as many each (a node just added gets its share), or off "
      "--drain nodes; each new replica replays its shard before the map switches to it and the old one retires, "
      "so searches and writes go on. Resumes moves left pending; exit 1 on a timeout (the moves stay planned)");
  rebalance->add_option("--cluster", b->cluster_file, "the cluster file (any node's: its etcd URLs)")->required();
  rebalance->add_option("--drain", b->options.drain, "a node to empty (repeat for more)");
  rebalance->add_flag("--dry-run", b->options.dry_run, "print the moves, change nothing");
  rebalance->add_flag("--cancel", b->options.cancel, "drop the moves that have not switched yet, and pause automatic rebalancing until a run ends");
  rebalance->add_option("--timeout", b->options.timeout_seconds, "seconds to wait for the moves (default 600)")
      ->check(CLI::Range(1, 86400));
  rebalance->callback([b, &exit_code] { exit_code = run_cluster_rebalance(*b); });

  auto c = std::make_shared<ClusterAcceptGapArgs>();
  CLI::App* gap = cluster->add_subcommand(
      "accept-gap",
      "let a shard's appliers go on past a gap in its stream (messages gone that no ragd purge erased): they "
      "skip the missing messages for good. Without --through, the gap a replica of the shard is stopped at now "
      "(refused when none is); never lowers an acceptance already made");
  gap->add_option("--cluster", c->cluster_file, "the cluster file (any node's: its etcd and NATS URLs)")->required();
  gap->add_option("--shard", c->shard, "the shard")->required();
  gap->add_option_function<uint64_t>(
      "--through", [c](const uint64_t& v) { c->through = v; },
      "accept the holes up to this stream sequence even if no replica is stopped at one now "
                  "(at most the stream's last sequence)");
  gap->add_option("--api-key", c->api_key,
                  "key for the nodes' /v1/stats when they require one (default: $RAGD_API_KEY)");
  gap->callback([c, &exit_code] { exit_code = run_cluster_accept_gap(*c); });
}

}  // namespace ragd::cli
