// `ragd serve --listen HOST:PORT`: the HTTP API.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "api/cli/cli.h"
#include "api/server.h"

namespace ragd::cli {
namespace {

struct ServeArgs {
  CommonOptions common;
  std::string listen = "127.0.0.1:8080";
  int threads = 0;
  size_t max_body = 64u << 20;
  uint32_t max_header = 16u << 10;
  int read_timeout = 30;
  int max_inflight = 256;
  std::string port_file;
};

int run_serve(const ServeArgs& a) {
  api::ServerOptions so;
  auto colon = a.listen.rfind(':');
  if (colon == std::string::npos) return fail(Status::invalid_argument("--listen: expected HOST:PORT, got '" + a.listen + "'"));
  so.host = a.listen.substr(0, colon);
  if (so.host.size() >= 2 && so.host.front() == '[' && so.host.back() == ']') so.host = so.host.substr(1, so.host.size() - 2);
  if (so.host.empty() || so.host == "*") so.host = "0.0.0.0";
  try {
    int port = std::stoi(a.listen.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    so.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return fail(Status::invalid_argument("--listen: bad port in '" + a.listen + "'"));
  }
  so.io_threads = a.threads;
  so.worker_threads = a.threads;
  so.max_body_bytes = a.max_body;
  so.max_header_bytes = a.max_header;
  so.read_timeout_s = a.read_timeout;
  so.max_inflight = a.max_inflight;
  so.port_file = a.port_file;

  auto svc = open_service(a.common, EmbedderLoad::kOptional);
  if (!svc.is_ok()) return fail(svc.status());
  if ((*svc)->embedder() == nullptr) {
    std::fprintf(stderr, "ragd: warning: no GloVe file found; ingest is disabled and search is lexical only\n");
  }
  int code = 0;
  {
    api::Server server(**svc, so);
    Status st = server.listen();
    if (!st.is_ok()) return fail(st);
    std::printf("ragd listening on http://%s:%u\n", so.host.c_str(), static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    st = server.run();
    if (!st.is_ok()) code = fail(st);
  }
  Status closed = (*svc)->close();
  if (!closed.is_ok()) return fail(closed.with_context("closing the store"));
  return code;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "serve the HTTP API");
  add_common_options(*cmd, a->common);
  cmd->add_option("--listen", a->listen, "HOST:PORT (port 0 picks a free one)")->capture_default_str();
  cmd->add_option("--threads", a->threads, "I/O and worker threads each (0 = hardware threads)");
  cmd->add_option("--max-body", a->max_body, "largest request body in bytes (413 beyond)")->capture_default_str();
  cmd->add_option("--max-header", a->max_header, "largest request header block in bytes (431 beyond)")
      ->capture_default_str();
  cmd->add_option("--read-timeout", a->read_timeout, "seconds to receive a request's headers, and its body")
      ->capture_default_str();
  cmd->add_option("--max-inflight", a->max_inflight, "requests handled at once (503 beyond)")->capture_default_str();
  cmd->add_option("--port-file", a->port_file, "write the bound port to this file");
  cmd->callback([a, &exit_code] { exit_code = run_serve(*a); });
}

}  // namespace ragd::cli
