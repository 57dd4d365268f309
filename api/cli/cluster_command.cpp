// `ragd cluster status`: the shard map, the live nodes and how far each
// replica has applied its shard's stream, read from etcd, JetStream and the
// nodes themselves (cluster/status.h). Exit code 0 when every shard has a
// live replica that answers and every shard's log and etcd have a leader;
// 1 when a shard cannot be searched (or etcd cannot be read); 2 when every
// shard can be searched but writes fail (a log or etcd without a leader).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "api/cli/cli.h"
#include "cluster/options.h"
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
}

}  // namespace ragd::cli
