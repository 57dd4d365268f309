// `ragd delete ID`, `ragd stats`, `ragd reindex`.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "api/cli/cli.h"
#include "api/json_codec.h"

namespace ragd::cli {
namespace {

struct AdminArgs {
  CommonOptions common;
  std::string id;
  bool json = false;
};

int run_delete(const AdminArgs& a) {
  auto svc = open_service(a.common, EmbedderLoad::kNone);
  if (!svc.is_ok()) return fail(svc.status());
  auto removed = (*svc)->store().remove(a.id);
  if (!removed.is_ok()) return fail(removed.status());
  Status closed = (*svc)->close();
  if (!closed.is_ok()) return fail(closed);
  if (!*removed) return fail(Status::not_found("document '" + a.id + "' not found"));
  std::printf("deleted %s\n", a.id.c_str());
  return 0;
}

int run_stats(const AdminArgs& a) {
  // Read-only, so that it works while `ragd serve` holds the store.
  auto svc = open_service(a.common, EmbedderLoad::kNone, /*read_only=*/true);
  if (!svc.is_ok()) return fail(svc.status());
  StoreStats st = (*svc)->store().stats();
  if (a.json) {
    std::printf("%s\n", api::stats_to_json(st).dump(2).c_str());
    return 0;
  }
  std::printf("data:       %s\n", a.common.data.c_str());
  std::printf("documents:  %llu\n", static_cast<unsigned long long>(st.documents));
  std::printf("chunks:     %llu\n", static_cast<unsigned long long>(st.chunks));
  std::printf("index:      %s\n", st.index_type.c_str());
  std::printf("encoder:    %s (dim %d)\n", st.encoder.empty() ? "(none yet)" : st.encoder.c_str(), st.dim);
  std::printf("terms:      %llu\n", static_cast<unsigned long long>(st.lexical_terms));
  std::printf("sequence:   %llu\n", static_cast<unsigned long long>(st.sequence));
  return 0;
}

int run_reindex(const AdminArgs& a) {
  auto svc = open_service(a.common, EmbedderLoad::kRequired, /*read_only=*/false, /*bind_encoder=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  const Embedder& emb = *(*svc)->embedder();
  const bool tty = isatty(STDOUT_FILENO) == 1;
  Status st = (*svc)->store().reindex(
      emb.fingerprint(), emb.dim(),
      [&emb](std::span<const std::string> texts) -> Result<std::vector<float>> {
        std::vector<float> out;
        RAGD_RETURN_IF_ERROR(emb.embed(texts, EmbedRole::kPassage, out));
        return out;
      },
      [tty](uint64_t done, uint64_t total) {
        if (tty) {
          std::printf("\rreindexing %llu/%llu chunks   ", static_cast<unsigned long long>(done),
                      static_cast<unsigned long long>(total));
          std::fflush(stdout);
        }
      });
  if (tty) std::printf("\n");
  if (!st.is_ok()) return fail(st);
  std::printf("reindexed with %s\n", emb.fingerprint().c_str());
  Status closed = (*svc)->close();
  if (!closed.is_ok()) return fail(closed);
  return 0;
}

}  // namespace

void add_admin_commands(CLI::App& app, int& exit_code) {
  auto del = std::make_shared<AdminArgs>();
  CLI::App* d = app.add_subcommand("delete", "delete a document by id");
  add_common_options(*d, del->common);
  d->add_option("id", del->id, "document id")->required();
  d->callback([del, &exit_code] { exit_code = run_delete(*del); });

  auto stats = std::make_shared<AdminArgs>();
  CLI::App* s = app.add_subcommand("stats", "show store statistics");
  add_common_options(*s, stats->common);
  s->add_flag("--json", stats->json, "print JSON");
  s->callback([stats, &exit_code] { exit_code = run_stats(*stats); });

  auto re = std::make_shared<AdminArgs>();
  CLI::App* r = app.add_subcommand("reindex", "re-embed every chunk with the current encoder");
  add_common_options(*r, re->common);
  r->callback([re, &exit_code] { exit_code = run_reindex(*re); });
}

}  // namespace ragd::cli
