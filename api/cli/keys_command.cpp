// `ragd keys create|list|revoke`: API keys for `ragd serve` (auth/key_store.h).
// The secret is printed once, by `create`; only a salted hash is kept in
// <data>/keys.json. A running server picks up changes within a second.
#include <CLI/CLI.hpp>

#include <ctime>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/cli/cli.h"
#include "api/cli/config.h"
#include "api/json_codec.h"
#include "auth/key_store.h"

namespace ragd::cli {
namespace {

struct KeysArgs {
  std::string data = "ragd-data";
  std::string name, role = "reader", collection, expires;
  std::vector<std::string> groups;
  bool json = false;
};

Result<std::unique_ptr<auth::KeyStore>> open_keys(const KeysArgs& a) {
  std::error_code ec;
  std::filesystem::create_directories(a.data, ec);
  if (ec) return Status::io_error("cannot create data directory " + a.data + ": " + ec.message());
  return auth::KeyStore::open(a.data);
}

std::string format_day(int64_t unix_seconds) {
  if (unix_seconds == 0) return "never";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

int run_create(const KeysArgs& a) {
  auto role = auth::parse_role(a.role);
  if (!role) return fail(Status::invalid_argument("--role: " + role.status().message()));
  int64_t expires = 0;
  if (!a.expires.empty()) {
    auto t = api::parse_time(a.expires);
    if (!t) return fail(Status::invalid_argument("--expires: '" + a.expires + "' is not a date or unix time"));
    expires = *t;
  }
  auto keys = open_keys(a);
  if (!keys) return fail(keys.status());
  auto made = (*keys)->create(a.name, *role, a.groups, a.collection, expires);
  if (!made) return fail(made.status());
  // The secret alone on stdout, so `KEY=$(ragd keys create ...)` works; the
  // rest on stderr.
  std::printf("%s\n", made->secret.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "key '%s' (id %s, role %s) created in %s; the secret above is shown only this once\n",
               made->record.name.c_str(), made->record.id.c_str(), auth::role_name(made->record.role),
               (*keys)->path().c_str());
  return 0;
}

int run_list(const KeysArgs& a) {
  auto keys = open_keys(a);
  if (!keys) return fail(keys.status());
  for (const auto& k : (*keys)->list()) {
    if (a.json) {
      nlohmann::json j{{"name", k.name}, {"id", k.id}, {"role", auth::role_name(k.role)}, {"groups", k.groups},
                       {"collection", k.collection}, {"expires", k.expires}, {"created", k.created}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%-24s %-12s %-6s groups=[%s] collection=%s created=%s expires=%s\n", k.name.c_str(),
                  k.id.c_str(), auth::role_name(k.role), join(k.groups).c_str(),
                  k.collection.empty() ? "*" : k.collection.c_str(), format_day(k.created).c_str(),
                  format_day(k.expires).c_str());
    }
  }
  return 0;
}

int run_revoke(const KeysArgs& a) {
  auto keys = open_keys(a);
  if (!keys) return fail(keys.status());
  Status s = (*keys)->revoke(a.name);
  if (!s.is_ok()) return fail(s);
  std::fprintf(stderr, "key '%s' revoked\n", a.name.c_str());
  return 0;
}

}  // namespace

void add_keys_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<KeysArgs>();
  CLI::App* keys = app.add_subcommand("keys", "API keys for `ragd serve`: create, list, revoke");
  keys->require_subcommand(1);
  auto data_option = [&a](CLI::App* cmd) {
    config_command(*cmd, ConfigScope::kStore);
    cmd->add_option("--data", a->data, "data directory (holds keys.json)")->capture_default_str();
  };

  CLI::App* create = keys->add_subcommand("create", "make a key and print its secret once");
  data_option(create);
  create->add_option("--name", a->name, "unique name, 1-64 of [A-Za-z0-9._-]")->required();
  create->add_option("--role", a->role, "reader (search, answer, chat, GET), writer (+ POST/DELETE documents), "
                                        "admin (+ keys, reindex, sync, stats)")
      ->capture_default_str();
  create->add_option("--groups", a->groups, "ACL groups the key may read (comma-separated)")->delimiter(',');
  create->add_option("--collection", a->collection, "the one collection the key may use (default: all)");
  create->add_option("--expires", a->expires, "expiry: 2027-06-30, ISO 8601 or unix seconds (default: never)");
  create->callback([a, &exit_code] { exit_code = run_create(*a); });

  CLI::App* list = keys->add_subcommand("list", "every key, without secrets");
  data_option(list);
  list->add_flag("--json", a->json, "one JSON object per line");
  list->callback([a, &exit_code] { exit_code = run_list(*a); });

  CLI::App* revoke = keys->add_subcommand("revoke", "delete a key for good");
  data_option(revoke);
  revoke->add_option("name", a->name, "the key's name")->required();
  revoke->callback([a, &exit_code] { exit_code = run_revoke(*a); });
}

}  // namespace ragd::cli
