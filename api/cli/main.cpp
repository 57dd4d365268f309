// `ragd`: one binary for every command. Each command group lives in its own
// file; this one only assembles them.
#include <csignal>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "api/cli/cli.h"
#include "api/cli/config.h"
#include "ragd/version.h"
#ifdef RAGD_HAVE_MODEL_COMMANDS
#include "api/cli/commands.h"
#endif

int main(int argc, char** argv) {
  // A closed pipe (`ragd search ... | head`) must not kill us mid-write.
  std::signal(SIGPIPE, SIG_IGN);
  // Diagnostics (the store's, the model's) go to stderr, so that what a
  // command prints (`--json`) stays clean; `ragd serve` logs to stdout
  // (api/request_log.h set_log_format).
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  CLI::App app{"ragd: retrieval-augmented answers over IT knowledge (tickets, runbooks, policies)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", ragd::version_line());
  int exit_code = 0;
  ragd::cli::add_ingest_command(app, exit_code);
  ragd::cli::add_query_commands(app, exit_code);
  ragd::cli::add_serve_command(app, exit_code);
  ragd::cli::add_admin_commands(app, exit_code);
  ragd::cli::add_eval_command(app, exit_code);
  ragd::cli::add_glove_commands(app, exit_code);
  ragd::cli::add_audit_command(app, exit_code);
  ragd::cli::add_sync_command(app, exit_code);
  ragd::cli::add_keys_command(app, exit_code);
  ragd::cli::add_triage_command(app, exit_code);
  ragd::cli::add_collections_command(app, exit_code);
  ragd::cli::add_models_command(app, exit_code);
  ragd::cli::add_retention_commands(app, exit_code);
  ragd::cli::add_cluster_command(app, exit_code);
#ifdef RAGD_HAVE_MODEL_COMMANDS
  ragd::cli::add_model_commands(app);
#endif
  // Settings from the config file and RAGD_* fill what the flags left
  // unset, after parsing and before the chosen command runs.
  app.parse_complete_callback([&app] { ragd::cli::apply_config(app); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ragd::cli::ConfigError& e) {
    std::fprintf(stderr, "ragd: %s\n", e.what());
    return 2;
  }
  return exit_code;
}
