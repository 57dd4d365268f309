// The HTTP server: a listener, a session per connection (each on its own
// strand, written as C++20 coroutines) and a worker pool that runs the
// routes, so a slow search never stalls the sockets. Beast stays inside
// server.cpp; the routes (routes.h) never see it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "api/routes.h"
#include "api/service.h"
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
  // Route limits (k, documents per request).
  RouteOptions routes;
  // Handles every request; unset = handle(req, ctx, routes). `ragd serve`
  // passes App::handle (api/app.h). Default: unset.
  std::function<Response(const Request&)> handler;
  // Requests for which this is true (they wait for the model) run, streams
  // included, on a separate pool of `generation_threads` threads, so a long
  // generation never holds the route workers that serve search. Default: unset.
  std::function<bool(const Request&)> is_generation;
  // Threads of that pool; it bounds concurrent generation requests that are
  // running or queued inside the model's admission queue. Default: 16.
  int generation_threads = 16;
  // Called after each response has been sent, with the status code and the
  // seconds from the request's arrival to the end of the response (streams
  // included). Default: unset.
  std::function<void(const Request&, int, double)> on_complete;
  // The route name for request log records ("/v1/documents/{id}"); unset =
  // the path. `ragd serve` passes App::route_label. Default: unset.
  std::function<std::string(const Request&)> route_label;
};

class Server {
 public:
  Server(ServiceContext& ctx, ServerOptions options);
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
