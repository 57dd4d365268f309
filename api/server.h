// The HTTP server: a listener, a session per connection (each on its own
// strand, written as C++20 coroutines) and a worker pool that runs the
// routes, so a slow search never stalls the sockets. Beast (and, for TLS,
// OpenSSL) stays inside server.cpp; the routes (routes/routes.h) never see it.
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
  // with Retry-After (/healthz and /metrics are never refused). Default: 256.
  int max_inflight = 256;
  // Open connections. Beyond it a new connection is accepted and closed at
  // once (ragd_connections_refused_total). listen() lowers it to stay
  // clear of the file descriptor limit (RLIMIT_NOFILE, whose soft value it
  // first raises to the hard one). Default: 1024.
  int max_connections = 1024;
  // Bytes of request bodies held at once, across all connections: a request
  // whose Content-Length (or chunked body, as it grows) would pass it gets
  // 503 with Retry-After before its body is read; a body's bytes count until
  // its response has been sent. Raised to max_body_bytes when smaller.
  // Default: 256 MiB.
  size_t max_inflight_body_bytes = 256u << 20;
  // Ingest requests (Lane::kIngest, router.h) run on a pool of this many
  // threads, so large ingests queue there instead of taking the route
  // workers that search needs. /healthz and /metrics have one thread of
  // their own. Default: 2.
  int max_ingest_inflight = 2;
  // Threads answering a cluster peer's phases of a search (Lane::kPeer,
  // App::lane), apart from the route workers that coordinate searches and
  // wait for their peers. Default: 0 = hardware threads (at least 2).
  int peer_threads = 0;
  // When set, the bound port is written to this file once listening.
  std::filesystem::path port_file;
  // Generation routes (App::is_generation: they wait for the model) run,
  // streams included, on a separate pool of this many threads, so a long
  // generation never holds the route workers that serve search. A queued
  // generation request holds none of them: its session waits on its strand
  // for the admission slot (admission.h). `ragd serve` uses
  // --max-concurrent + 1. Default: 16.
  int generation_threads = 16;
  // PEM certificate chain and private key: when both are set every
  // connection speaks TLS (1.2 or later, no compression, the server's cipher
  // order); listen() fails with a clear message when either cannot be
  // loaded or they do not match. Default: empty = plain HTTP.
  std::filesystem::path tls_cert_file;
  std::filesystem::path tls_key_file;
};

class Server {
 public:
  // Every request goes to app.handle(); each finished one (streams: once
  // they end) to app.observe(). `app` must outlive the server.
  Server(App& app, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate and key (if any), binds and listens. After it
  // returns ok, port() is the bound port.
  Status listen();
  uint16_t port() const;
  // The connection cap in force (after listen(): max_connections, lowered
  // to fit the file descriptor limit).
  int max_connections() const;
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
