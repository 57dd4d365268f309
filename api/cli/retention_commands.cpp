// `ragd purge --doc ID [--everywhere | --collection C]` and `ragd retention
// [--dry-run]`: the right to be forgotten and per-source/kind maximum ages
// (govern/retention.h). Both work on the store directly; run them while the
// server is stopped (RocksDB allows one writer), or use POST /v1/purge.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/cli/cli.h"
#include "api/cli/config.h"
#include "govern/drift.h"
#include "govern/retention.h"
#include "ragd/clock.h"
#include "service/collections.h"

namespace ragd::cli {
namespace {

struct PurgeArgs {
  CommonOptions common;
  std::string doc;
  std::string collection;
  bool everywhere = false;
};

struct RetentionArgs {
  CommonOptions common;
  bool dry_run = false;
};

// The data directories to work on: the default collection's, or one
// collection's, or (everywhere) the default and every collection.
Result<std::vector<std::pair<std::string, std::string>>> stores_of(const CommonOptions& common,
                                                                   const std::string& collection, bool everywhere) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!collection.empty()) {
    RAGD_RETURN_IF_ERROR(Collections::check_name(collection));
    const auto dir = Collections::dir_of(common.data, collection);
    if (!std::filesystem::exists(dir)) return Status::not_found("no collection '" + collection + "' in " + common.data);
    out.emplace_back(collection, dir.string());
    return out;
  }
  out.emplace_back("default", common.data);
  if (!everywhere) return out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(std::filesystem::path(common.data) / "collections", ec), end;
       !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (Collections::check_name(n).is_ok()) out.emplace_back(n, it->path().string());
  }
  std::sort(out.begin() + 1, out.end());
  return out;
}

int run_purge(const PurgeArgs& a) {
  if (a.doc.empty()) return fail(Status::invalid_argument("purge needs --doc ID"));
  if (a.everywhere && !a.collection.empty()) {
    return fail(Status::invalid_argument("give --everywhere or --collection, not both"));
  }
  auto stores = stores_of(a.common, a.collection, a.everywhere);
  if (!stores.is_ok()) return fail(stores.status());
  size_t removed = 0;
  for (const auto& [name, dir] : *stores) {
    CommonOptions c = a.common;
    c.data = dir;
    auto svc = open_service(c, EmbedderLoad::kNone, /*read_only=*/false, /*bind_encoder=*/false);
    if (!svc.is_ok()) return fail(svc.status().with_context("collection '" + name + "'"));
    auto r = govern::purge_document((*svc)->store(), a.doc);
    if (!r.is_ok()) return fail(r.status().with_context("collection '" + name + "'"));
    if (Status s = (*svc)->close(); !s.is_ok()) return fail(s);
    removed += r->removed ? 1 : 0;
    std::printf("%s: %s; tombstone written (sync skips it)\n", name.c_str(),
                r->removed ? "removed from the store, its indexes and the ANN snapshot" : "not held");
  }
  std::printf("purged %s from %zu of %zu store(s)\n", a.doc.c_str(), removed, stores->size());
  return 0;
}

// The rules apply to the default collection and every other collection on
// disk, each store getting the rules that name it or no collection.
int run_retention(const RetentionArgs& a) {
  const std::string& file = effective_config_file();
  if (file.empty()) return fail(Status::invalid_argument("retention needs a config file with [[retention]] tables (--config)"));
  auto rules = govern::read_retention_rules(file);
  if (!rules.is_ok()) return fail(rules.status());
  if (rules->empty()) {
    std::printf("no [[retention]] tables in %s: nothing to do\n", file.c_str());
    return 0;
  }
  auto stores = stores_of(a.common, "", /*everywhere=*/true);
  if (!stores.is_ok()) return fail(stores.status());
  const int64_t now = unix_seconds();
  size_t examined = 0, deleted = 0, visited = 0;
  for (const auto& [name, dir] : *stores) {
    const std::vector<govern::RetentionRule> mine = govern::rules_for_collection(*rules, name);
    if (mine.empty()) continue;
    CommonOptions c = a.common;
    c.data = dir;
    auto svc = open_service(c, EmbedderLoad::kNone, /*read_only=*/a.dry_run, /*bind_encoder=*/false);
    if (!svc.is_ok()) return fail(svc.status().with_context("collection '" + name + "'"));
    auto report = govern::apply_retention((*svc)->store(), mine, now, a.dry_run);
    if (!report.is_ok()) return fail(report.status().with_context("collection '" + name + "'"));
    for (const auto& id : report->deleted) {
      std::printf("%s: %s %s\n", name.c_str(), a.dry_run ? "would delete" : "deleted", id.c_str());
    }
    ++visited;
    examined += report->examined;
    deleted += report->deleted.size();
    if (!a.dry_run) {
      if (Status s = (*svc)->close(); !s.is_ok()) return fail(s.with_context("collection '" + name + "'"));
    }
  }
  std::printf("retention: %zu document(s) examined in %zu store(s), %zu %s\n", examined, visited, deleted,
              a.dry_run ? "past their maximum age (dry run: nothing deleted)" : "deleted");
  return 0;
}

}  // namespace

void add_retention_commands(CLI::App& app, int& exit_code) {
  auto p = std::make_shared<PurgeArgs>();
  CLI::App* purge = app.add_subcommand(
      "purge", "forget a document: store, indexes, ANN snapshot, and a tombstone so sync never brings it back");
  add_common_options(*purge, p->common);
  purge->add_option("--doc", p->doc, "the document id")->required();
  purge->add_flag("--everywhere", p->everywhere, "the default collection and every other collection");
  purge->add_option("--collection", p->collection, "only this collection (default: the default collection)");
  purge->callback([p, &exit_code] { exit_code = run_purge(*p); });

  auto r = std::make_shared<RetentionArgs>();
  CLI::App* retention = app.add_subcommand(
      "retention",
      "delete the documents older than the [[retention]] tables of the config file allow, in every collection");
  add_common_options(*retention, r->common);
  retention->add_flag("--dry-run", r->dry_run, "list what would be deleted, delete nothing");
  retention->callback([r, &exit_code] { exit_code = run_retention(*r); });

  auto d = std::make_shared<CommonOptions>();
  CLI::App* drift = app.add_subcommand("drift", "drift signals (GET /metrics): reset the baseline window");
  drift->require_subcommand(1);
  CLI::App* reset = drift->add_subcommand("reset", "forget the stored baseline; the next full window becomes it");
  add_common_options(*reset, *d);
  reset->callback([d, &exit_code] {
    auto svc = open_service(*d, EmbedderLoad::kNone, /*read_only=*/false, /*bind_encoder=*/false);
    if (!svc.is_ok()) {
      exit_code = fail(svc.status());
      return;
    }
    if (Status s = govern::reset_drift_baseline((*svc)->store()); !s.is_ok()) {
      exit_code = fail(s);
      return;
    }
    std::printf("drift baseline reset: the next full window of answers becomes the baseline\n");
    exit_code = 0;
  });
}

}  // namespace ragd::cli
