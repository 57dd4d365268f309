// `ragd cluster status`: the shard map, the live nodes and how far each
// replica has applied its shard's stream, read from etcd, JetStream and the
// nodes themselves (cluster/status.h). Exit code 0 when every shard has a
// live replica that answers and every shard's log and etcd have a leader;
// 1 when a shard cannot be searched (or etcd cannot be read); 2 when every
// shard can be searched but writes fail (a log or etcd without a leader).
// `ragd cluster rebalance`: moves replicas onto new nodes or off drained
// ones without stopping the service (cluster/rebalance.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "api/cli/cli.h"
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
  auto map = cluster::rebalance(*options, a.options);
  if (!map.is_ok()) return fail(map.status());
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
  rebalance->add_flag("--cancel", b->options.cancel, "drop the moves that have not switched yet");
  rebalance->add_option("--timeout", b->options.timeout_seconds, "seconds to wait for the moves (default 600)")
      ->check(CLI::Range(1, 86400));
  rebalance->callback([b, &exit_code] { exit_code = run_cluster_rebalance(*b); });
}

}  // namespace ragd::cli
