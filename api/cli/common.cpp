#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "api/cli/cli.h"
#include "api/cli/config.h"

namespace ragd::cli {

void add_common_options(CLI::App& cmd, CommonOptions& opts) {
  config_command(cmd, ConfigScope::kStore);
  cmd.add_option("--data", opts.data, "data directory (the store)")->capture_default_str();
  cmd.add_option("--glove", opts.glove,
                 "GloVe binary file (default: $RAGD_GLOVE or .cache/ragd/glove-wink-sg-100d.bin)");
  cmd.add_option("--embed-model", opts.embed_model,
                 "GGUF BERT-family encoder (bge, e5, MiniLM) instead of GloVe-SIF; switching needs `ragd reindex`");
  cmd.add_option("--embed-prefixes", opts.embed_prefixes,
                 "query/passage prefixes of --embed-model: auto (from the file name), e5, bge or none")
      ->capture_default_str();
  cmd.add_option_function<std::string>(
      "--query-prefix", [&opts](const std::string& v) { opts.query_prefix = v; },
      "text put before every query given to --embed-model (replaces the preset's; may be \"\")");
  cmd.add_option_function<std::string>(
      "--passage-prefix", [&opts](const std::string& v) { opts.passage_prefix = v; },
      "text put before every chunk given to --embed-model (replaces the preset's; may be \"\")");
  cmd.add_option("--index", opts.index,
                 "vector index of a new store: hnsw or faiss:<index_factory>, e.g. \"faiss:IVF256,PQ16\"")
      ->capture_default_str();
  cmd.add_option("--min-free-space", opts.min_free_mib,
                 "MiB kept free on the data directory's disk: writes that would go below answer disk full (0 = off)")
      ->capture_default_str();
}

ServiceOptions service_options(const CommonOptions& opts, EmbedderLoad load, bool read_only, bool bind_encoder) {
  ServiceOptions so;
  so.store.dir = opts.data;
  so.store.read_only = read_only;
  so.store.vector_index = opts.index;
  so.store.free_space_reserve = opts.min_free_mib << 20;
  so.glove = opts.glove;
  so.encoder.model = opts.embed_model;
  so.encoder.prefix_preset = opts.embed_prefixes;
  so.encoder.query_prefix = opts.query_prefix;
  so.encoder.passage_prefix = opts.passage_prefix;
  so.embedder_load = load;
  so.bind_encoder = bind_encoder;
  return so;
}

Result<std::unique_ptr<ServiceContext>> open_service(const CommonOptions& opts, EmbedderLoad load,
                                                     bool read_only, bool bind_encoder) {
  return ServiceContext::open(service_options(opts, load, read_only, bind_encoder));
}

int fail(const Status& status) {
  std::fprintf(stderr, "ragd: %s\n", status.to_string().c_str());
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

Result<std::unique_ptr<AuditLog>> open_audit_log(const CommonOptions& opts, const std::string& path) {
  return AuditLog::open(path.empty() ? std::filesystem::path(opts.data) / "audit.jsonl" : std::filesystem::path(path));
}

Result<std::unique_ptr<AuditLog>> audit_log_if_forced(bool force, const CommonOptions& opts, const std::string& path) {
  if (!force) return std::unique_ptr<AuditLog>();
  return open_audit_log(opts, path);
}

std::string cli_caller() {
  const char* user = std::getenv("USER");
  return std::string("cli:") + (user != nullptr ? user : "unknown");
}

}  // namespace ragd::cli
