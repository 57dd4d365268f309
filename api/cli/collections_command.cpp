// `ragd collections create|list|delete`: separate knowledge bases in one data
// directory (service/collections.h). The server opens a collection made
// here on its first request to it.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "api/cli/cli.h"
#include "service/collections.h"

namespace ragd::cli {
namespace {

struct CollectionsArgs {
  CommonOptions common;
  std::string name;
};

int run_create(const CollectionsArgs& a) {
  std::error_code ec;
  if (!std::filesystem::is_directory(a.common.data, ec)) std::filesystem::create_directories(a.common.data, ec);
  if (ec) return fail(Status::io_error("cannot create data directory " + a.common.data + ": " + ec.message()));
  if (Status s = Collections::create_on_disk(a.common.data, a.name); !s.is_ok()) return fail(s);
  // Opening it once makes the store and binds it to the encoder, so a
  // mistake (no GloVe file) shows now rather than at the first request.
  CommonOptions c = a.common;
  c.data = Collections::dir_of(a.common.data, a.name).string();
  auto svc = open_service(c, EmbedderLoad::kOptional);
  if (!svc.is_ok()) {
    std::filesystem::remove_all(c.data, ec);
    return fail(svc.status());
  }
  if (Status s = (*svc)->close(); !s.is_ok()) return fail(s);
  std::printf("collection '%s' created; its routes are /v1/collections/%s/...\n", a.name.c_str(), a.name.c_str());
  return 0;
}

int run_list(const CollectionsArgs& a) {
  std::error_code ec;
  std::filesystem::path data(a.common.data);
  std::printf("default\n");
  for (std::filesystem::directory_iterator it(data / "collections", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (Collections::check_name(n).is_ok()) std::printf("%s\n", n.c_str());
  }
  return 0;
}

// Only with no server on the data directory: opening the collection takes
// its store's lock, which a running server holds.
int run_delete(const CollectionsArgs& a) {
  CommonOptions c = a.common;
  c.data = Collections::dir_of(a.common.data, a.name).string();
  std::error_code ec;
  if (Status s = Collections::check_name(a.name); !s.is_ok()) return fail(s);
  if (!std::filesystem::is_directory(c.data, ec)) return fail(Status::not_found("no collection '" + a.name + "'"));
  {
    auto svc = open_service(c, EmbedderLoad::kOptional);
    if (!svc.is_ok()) {
      return fail(svc.status().with_context("collection '" + a.name +
                                            "' is in use or damaged (stop the server, or use DELETE "
                                            "/v1/collections/" + a.name + ")"));
    }
    if (Status s = (*svc)->close(); !s.is_ok()) return fail(s);
  }
  if (Status s = Collections::remove_on_disk(a.common.data, a.name); !s.is_ok()) return fail(s);
  std::printf("collection '%s' deleted\n", a.name.c_str());
  return 0;
}

}  // namespace

void add_collections_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<CollectionsArgs>();
  CLI::App* cmd = app.add_subcommand("collections", "separate knowledge bases in one server: create, list, delete");
  cmd->require_subcommand(1);
  CLI::App* create = cmd->add_subcommand("create", "make a new, empty collection");
  add_common_options(*create, a->common);
  create->add_option("name", a->name, "1-64 characters of a-z, 0-9, '_' and '-'")->required();
  create->callback([a, &exit_code] { exit_code = run_create(*a); });
  CLI::App* del = cmd->add_subcommand("delete", "delete a collection and all its data (no server may be running on it)");
  add_common_options(*del, a->common);
  del->add_option("name", a->name, "the collection")->required();
  del->callback([a, &exit_code] { exit_code = run_delete(*a); });
  CLI::App* list = cmd->add_subcommand("list", "the collections of a data directory");
  list->add_option("--data", a->common.data, "data directory")->capture_default_str();
  list->callback([a, &exit_code] { exit_code = run_list(*a); });
}

}  // namespace ragd::cli
