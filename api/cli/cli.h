// The `ragd` command groups of api/cli (one file each), registered by
// main.cpp. Model commands come from api/cli/commands.h.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "generate/audit_log.h"
#include "service/service.h"
#include "ragd/status.h"

namespace CLI {
class App;
}

namespace ragd::cli {

// Options every command takes.
struct CommonOptions {
  // Data directory (the store). Default: ./ragd-data.
  std::string data = "ragd-data";
  // GloVe binary file. Default: empty (see ServiceOptions::glove).
  std::string glove;
  // GGUF BERT-family encoder used instead of GloVe-SIF. Default: empty.
  std::string embed_model;
  // Its query/passage prefix preset: auto, e5, bge or none. Default: auto.
  std::string embed_prefixes = "auto";
  // Explicit query / passage prefixes of --embed-model, replacing the
  // preset's (may be empty strings). Default: unset.
  std::optional<std::string> query_prefix, passage_prefix;
  // Vector index of a new store: "hnsw" or "faiss:<index_factory string>".
  // An existing store keeps the index it was created with. Default: "hnsw".
  std::string index = "hnsw";
  // Free space kept on the data directory's file system, MiB: writes that
  // would go below it answer "disk full" (StoreOptions::free_space_reserve).
  // 0 = off. Default: 64.
  uint64_t min_free_mib = 64;
};

// Adds --data and --glove to a subcommand, bound to `opts`.
void add_common_options(CLI::App& cmd, CommonOptions& opts);

// The service options for a command's common options.
ServiceOptions service_options(const CommonOptions& opts, EmbedderLoad load, bool read_only = false,
                               bool bind_encoder = true);

// Opens the service for a command; prints nothing.
Result<std::unique_ptr<ServiceContext>> open_service(const CommonOptions& opts, EmbedderLoad load,
                                                     bool read_only = false, bool bind_encoder = true);

// Prints "ragd: <message>" to stderr and returns exit code 1 (2 for usage).
int fail(const Status& status);

// The audit log where a command records a forced activation: `path`, or
// <data>/audit.jsonl when it is empty.
Result<std::unique_ptr<AuditLog>> open_audit_log(const CommonOptions& opts, const std::string& path);
// open_audit_log() for a --force that may override a gate; null when not
// forcing (nothing is recorded then).
Result<std::unique_ptr<AuditLog>> audit_log_if_forced(bool force, const CommonOptions& opts, const std::string& path);
// The audit records' caller of a command: "cli:$USER" ("cli:unknown").
std::string cli_caller();

// Each adds one or more subcommands. A subcommand's callback stores its exit
// code in `exit_code`.
void add_ingest_command(CLI::App& app, int& exit_code);
void add_query_commands(CLI::App& app, int& exit_code);   // search, ask
void add_serve_command(CLI::App& app, int& exit_code);
void add_admin_commands(CLI::App& app, int& exit_code);   // delete, stats, reindex
void add_eval_command(CLI::App& app, int& exit_code);
void add_glove_commands(CLI::App& app, int& exit_code);   // glove import
void add_audit_command(CLI::App& app, int& exit_code);    // audit
void add_sync_command(CLI::App& app, int& exit_code);     // sync (sync_command.cpp)
void add_keys_command(CLI::App& app, int& exit_code);     // keys create|list|revoke
void add_triage_command(CLI::App& app, int& exit_code);   // triage train|eval|list
void add_collections_command(CLI::App& app, int& exit_code);  // collections create|list
void add_models_command(CLI::App& app, int& exit_code);       // models add|list|activate (govern/registry.h)
void add_retention_commands(CLI::App& app, int& exit_code);   // purge, retention, drift reset (govern/)
void add_cluster_command(CLI::App& app, int& exit_code);      // cluster status|rebalance|accept-gap

}  // namespace ragd::cli
