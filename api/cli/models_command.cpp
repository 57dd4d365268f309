// `ragd models add|list|activate`: the model registry in the store
// (govern/registry.h). `ragd model ...` (singular) runs GGUF files; this
// records which files are registered and active, with their sha256 and
// licence, for the audit trail.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "api/cli/cli.h"
#include "generate/audit_log.h"
#include "govern/eval_suite.h"
#include "govern/registry.h"

namespace ragd::cli {
namespace {

struct ModelsArgs {
  CommonOptions common;
  std::string name, file;
  std::string role = "llm";
  bool json = false;
  bool force = false;  // activate: even when the eval suite's gate fails (audited)
  double tolerance = govern::kDefaultEvalTolerance;
  std::string audit_log;  // activate: where a forced activation is recorded; "" = <data>/audit.jsonl
};

std::string utc_time(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void print_entry(const govern::ModelEntry& e) {
  std::printf("%s%s  role=%s  arch=%s  quant=%s  size=%llu  license=%s  added=%s\n  sha256=%s\n  path=%s\n",
              e.name.c_str(), e.active ? " (active)" : "", govern::model_role_name(e.role), e.architecture.c_str(),
              e.quantisation.c_str(), static_cast<unsigned long long>(e.size_bytes),
              e.license.empty() ? "unknown" : e.license.c_str(), utc_time(e.added_ms).c_str(), e.sha256.c_str(),
              e.path.c_str());
}

int run_add(const ModelsArgs& a) {
  auto role = govern::parse_model_role(a.role);
  if (!role) return fail(Status::invalid_argument("--role: expected llm or encoder, got '" + a.role + "'"));
  auto entry = govern::inspect_model(a.name, a.file, *role);
  if (!entry.is_ok()) return fail(entry.status());
  auto svc = open_service(a.common, EmbedderLoad::kNone, /*read_only=*/false, /*bind_encoder=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  if (Status s = govern::add_model((*svc)->store(), *entry); !s.is_ok()) return fail(s);
  print_entry(*entry);
  return 0;
}

int run_list(const ModelsArgs& a) {
  auto svc = open_service(a.common, EmbedderLoad::kNone, /*read_only=*/true, /*bind_encoder=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  auto all = govern::list_models((*svc)->store());
  if (!all.is_ok()) return fail(all.status());
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *all) {
      nlohmann::json j = nlohmann::json::parse(govern::model_entry_to_json(e));
      j["active"] = e.active;
      out.push_back(std::move(j));
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (all->empty()) std::printf("no models registered (ragd models add NAME FILE.gguf)\n");
  for (const auto& e : *all) print_entry(e);
  return 0;
}

int run_activate(const ModelsArgs& a) {
  auto svc = open_service(a.common, EmbedderLoad::kNone, /*read_only=*/false, /*bind_encoder=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  auto opened = audit_log_if_forced(a.force, a.common, a.audit_log);
  if (!opened.is_ok()) return fail(opened.status());
  std::unique_ptr<AuditLog> audit = std::move(opened).value();
  auto g = govern::activate_gated((*svc)->store(), a.name, a.tolerance, a.force, audit.get(), cli_caller());
  if (!g.is_ok()) return fail(g.status());
  const govern::ModelEntry& e = g->entry;
  if (g->forced) std::printf("forced past the evaluation gate (%s); recorded in the audit log\n", g->verdict.reason.c_str());
  std::printf("%s is the active %s; `ragd serve` without --%s loads it at start (a running server switches its LLM "
              "on POST /v1/registry/models/NAME/activate)\n",
              e.name.c_str(), govern::model_role_name(e.role), e.role == govern::ModelRole::kLlm ? "llm" : "embed-model");
  return 0;
}

}  // namespace

void add_models_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ModelsArgs>();
  CLI::App* cmd = app.add_subcommand("models", "the model registry: add, list, activate (sha256, licence, version)");
  cmd->require_subcommand(1);
  CLI::App* add = cmd->add_subcommand("add", "register a GGUF file under a name");
  add_common_options(*add, a->common);
  add->add_option("name", a->name, "1-64 of letters, digits, . _ -")->required();
  add->add_option("file", a->file, "the .gguf file")->required();
  add->add_option("--role", a->role, "llm or encoder")->capture_default_str();
  add->callback([a, &exit_code] { exit_code = run_add(*a); });
  CLI::App* list = cmd->add_subcommand("list", "the registered models, the active ones marked");
  add_common_options(*list, a->common);
  list->add_flag("--json", a->json, "as JSON");
  list->callback([a, &exit_code] { exit_code = run_list(*a); });
  CLI::App* activate = cmd->add_subcommand("activate", "make a registered model the active one of its role");
  add_common_options(*activate, a->common);
  activate->add_option("name", a->name, "a registered name")->required();
  activate->add_flag("--force", a->force,
                     "activate even when its stored eval suite result is worse than the active one's (audited)");
  activate->add_option("--tolerance", a->tolerance, "how much worse (absolute) a suite metric may be")
      ->capture_default_str();
  activate->add_option("--audit-log", a->audit_log, "where a forced activation is recorded (default: <data>/audit.jsonl)");
  activate->callback([a, &exit_code] { exit_code = run_activate(*a); });
}

}  // namespace ragd::cli
