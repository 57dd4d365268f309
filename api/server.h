// The HTTP server: a listener, a session per connection (each on its own
// strand, written as C++20 coroutines) and a worker pool that runs the
// routes, so a slow search never stalls the sockets. Beast stays inside
// server.cpp; the routes (routes/routes.h) never see it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "api/app.h"
#include "ragd/status.h"

namespace ragd::api {

struct ServerOptions {
  // Address to listen on. Default: 127.0.0.1.
  std::string host = "127.0.0.1";
  // TCP port; 0 picks a free one (see Server::port()). Default: 8080.
  uint16_t port = 8080;
  // Threads running the sockets (I/O). Default: 0 = hardware threads (at least 2).
  int io_threads = 0;
  // Threads running the routes (search, ingest). Default: 0 = hardware threads (at least 2).
  int worker_threads = 0;
  // Largest request body in bytes; larger bodies get 413. Default: 64 MiB.
  size_t max_body_bytes = 64u << 20;
  // Largest request header block in bytes; larger get 431. Default: 16 KiB.
  uint32_t max_header_bytes = 16u << 10;
  // Time allowed to receive a request's headers (including keep-alive idle
  // time), and again for its body, in seconds. Slow senders are cut off.
  // Default: 30.
  int read_timeout_s = 30;
  // Time allowed to send a response, in seconds. Default: 60.
  int write_timeout_s = 60;
  // Requests being handled at once across all connections; more get 503
  // with Retry-After. Default: 256.
  int max_inflight = 256;
  // When set, the bound port is written to this file once listening.
  std::filesystem::path port_file;
  // Generation routes (App::is_generation: they wait for the model) run,
  // streams included, on a separate pool of this many threads, so a long
  // generation never holds the route workers that serve search. It bounds
  // the generation requests running or queued in the model's admission
  // queue. Default: 16.
  int generation_threads = 16;
};

class Server {
 public:
  // Every request goes to app.handle(); each finished one (streams: once
  // they end) to app.observe(). `app` must outlive the server.
  Server(App& app, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. After it returns ok, port() is the bound port.
  Status listen();
  uint16_t port() const;
  // Serves until SIGTERM or SIGINT (or stop()): then stops accepting,
  // finishes the requests in flight, closes idle connections and returns.
  // A second signal stops at once. The caller closes the ServiceContext.
  Status run();
  // Starts the graceful shutdown; safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ragd::api
