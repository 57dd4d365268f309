// The only file that includes Beast and Asio. The session coroutine follows
// Beast's example/http/server/awaitable: read one request, hand it to the
// worker pool, write the response, repeat; one request per connection at a
// time, which bounds pipelining.
#include "api/server.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "api/admission.h"
#include "api/request_log.h"
#include "api/status_http.h"

namespace ragd::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
using Stream = beast::basic_stream<tcp, Strand>;

namespace {


struct Session {
  explicit Session(Stream s) : stream(std::move(s)) {}
  Stream stream;
  // True while a request is being handled or answered. Only touched on the
  // session's strand.
  bool busy = false;
};

int hardware_threads() { return std::max(2, static_cast<int>(std::thread::hardware_concurrency())); }

Request to_request(http::request<http::string_body>&& msg, const std::string& remote) {
  Request r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  for (const auto& f : msg) {
    std::string name(f.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    r.headers[name] = std::string(f.value());
  }
  r.body = std::move(msg.body());
  r.remote = remote;
  split_target(r);
  return r;
}

http::response<http::string_body> to_message(Response&& resp, unsigned version, bool keep_alive) {
  http::response<http::string_body> res;
  res.version(version);
  res.result(static_cast<unsigned>(resp.status));
  res.set(http::field::server, "ragd");
  res.set(http::field::content_type, resp.content_type);
  for (const auto& [name, value] : resp.headers) res.set(name, value);
  res.keep_alive(keep_alive);
  const bool head_only = resp.head_only;
  res.body() = std::move(resp.body);
  res.prepare_payload();
  // HEAD: the GET's Content-Length, no body.
  if (head_only) res.body().clear();
  return res;
}

}  // namespace

struct Server::Impl {
  Impl(App& a, ServerOptions o)
      : app(a),
        opt(std::move(o)),
        ioc(opt.io_threads > 0 ? opt.io_threads : hardware_threads()),
        workers(static_cast<size_t>(opt.worker_threads > 0 ? opt.worker_threads : hardware_threads())),
        generation(static_cast<size_t>(std::max(1, opt.generation_threads))),
        listen_strand(net::make_strand(ioc)),
        acceptor(listen_strand),
        signals(listen_strand, SIGINT, SIGTERM) {}

  App& app;
  ServerOptions opt;
  net::io_context ioc;
  net::thread_pool workers;
  net::thread_pool generation;  // requests that wait for the model, and their streams
  Strand listen_strand;
  tcp::acceptor acceptor;
  net::signal_set signals;
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<int> inflight{0};
  std::mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // GUARDED_BY(mu)

  net::awaitable<void> accept_loop();
  net::awaitable<void> run_session(std::shared_ptr<Session> s);
  net::awaitable<bool> write(Session& s, Response& resp, unsigned version, bool keep_alive);
  // Sends a streamed response; `bytes_out` counts the chunks' payload bytes.
  net::awaitable<bool> write_stream(std::shared_ptr<Session> sp, Response& resp, unsigned version,
                                    uint64_t& bytes_out);
  net::awaitable<void> drain_and_close(Session& s);
  // Waits, on the session's strand and without a thread, for a generation
  // route's admission slot; then its response from the generation pool.
  net::awaitable<Response> admit(std::shared_ptr<Deferred> d);
  void wait_for_signal();
  void begin_shutdown();
};

Server::Server(App& app, ServerOptions options) : impl_(std::make_unique<Impl>(app, std::move(options))) {}

Server::~Server() = default;

uint16_t Server::port() const { return impl_->port; }

Status Server::listen() {
  Impl& s = *impl_;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(s.opt.host, ec);
  if (ec) return Status::invalid_argument("--listen: '" + s.opt.host + "' is not an IP address");
  tcp::endpoint ep(addr, s.opt.port);
  s.acceptor.open(ep.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(ep, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::unavailable("cannot listen on " + s.opt.host + ":" + std::to_string(s.opt.port) + ": " +
                               ec.message());
  }
  s.port = s.acceptor.local_endpoint().port();
  if (!s.opt.port_file.empty()) {
    std::filesystem::path tmp = s.opt.port_file;
    tmp += ".tmp";
    {
      std::ofstream out(tmp);
      out << s.port << "\n";
      if (!out) return Status::io_error("cannot write port file " + s.opt.port_file.string());
    }
    std::filesystem::rename(tmp, s.opt.port_file, ec);
    if (ec) return Status::io_error("cannot write port file " + s.opt.port_file.string() + ": " + ec.message());
  }
  return Status::ok();
}

Status Server::run() {
  Impl& s = *impl_;
  if (!s.acceptor.is_open()) RAGD_RETURN_IF_ERROR(listen());
  s.wait_for_signal();
  net::co_spawn(s.listen_strand, s.accept_loop(), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("listener stopped: {}", ex.what());
      }
    }
  });
  spdlog::info("ragd listening on http://{}:{}", s.opt.host, s.port);
  int n = s.opt.io_threads > 0 ? s.opt.io_threads : hardware_threads();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n - 1));
  for (int i = 0; i + 1 < n; ++i) threads.emplace_back([&s] { s.ioc.run(); });
  s.ioc.run();
  for (auto& t : threads) t.join();
  s.workers.join();
  s.generation.join();
  spdlog::info("ragd stopped");
  return Status::ok();
}

void Server::stop() {
  Impl& s = *impl_;
  net::post(s.listen_strand, [&s] { s.begin_shutdown(); });
}

void Server::Impl::wait_for_signal() {
  signals.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (stopping.load()) {
      spdlog::warn("second signal {}: stopping now", signo);
      ioc.stop();
      return;
    }
    spdlog::info("signal {}: finishing requests in flight, then stopping", signo);
    wait_for_signal();  // re-armed first: a second signal forces the stop
    begin_shutdown();
  });
}

void Server::Impl::begin_shutdown() {
  if (stopping.exchange(true)) return;
  net::post(listen_strand, [this] {
    boost::system::error_code ec;
    acceptor.close(ec);
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [raw, weak] : sessions) {
      if (auto sp = weak.lock()) live.push_back(std::move(sp));
    }
  }
  for (auto& sp : live) {
    net::post(sp->stream.get_executor(), [sp] {
      // An idle connection (waiting for a request) is closed now; a busy one
      // closes itself after sending its response.
      if (!sp->busy) sp->stream.cancel();
    });
  }
  // Once the last connection has ended (in-flight requests answered), stop.
  // The signal set and the acceptor live on listen_strand, so this does too.
  net::post(listen_strand, [this] {
    auto check = std::make_shared<std::function<void()>>();
    *check = [this, check] {
      bool empty;
      {
        std::lock_guard<std::mutex> lock(mu);
        empty = sessions.empty();
      }
      if (empty) {
        boost::system::error_code ec;
        signals.cancel(ec);
        ioc.stop();
        return;
      }
      auto timer = std::make_shared<net::steady_timer>(listen_strand, std::chrono::milliseconds(20));
      timer->async_wait([timer, check](const boost::system::error_code&) { (*check)(); });
    };
    (*check)();
  });
}

net::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    // GCC 12 mishandles temporaries and structured bindings inside co_await
    // expressions, so every awaited operation takes named locals.
    boost::system::error_code ec;
    Strand session_strand = net::make_strand(ioc);
    net::basic_stream_socket<tcp, Strand> socket =
        co_await acceptor.async_accept(session_strand, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (stopping.load() || ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      // Out of file descriptors and similar: back off instead of spinning.
      net::steady_timer t(listen_strand, std::chrono::milliseconds(50));
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    if (stopping.load()) co_return;
    auto session = std::make_shared<Session>(Stream(std::move(socket)));
    {
      std::lock_guard<std::mutex> lock(mu);
      sessions.emplace(session.get(), session);
    }
    Session* raw = session.get();
    Strand ex = session->stream.get_executor();
    net::co_spawn(ex, run_session(session),
                  [this, raw](std::exception_ptr e) {
                    if (e) {
                      try {
                        std::rethrow_exception(e);
                      } catch (const std::exception& ex) {
                        spdlog::error("session ended with an exception: {}", ex.what());
                      }
                    }
                    std::lock_guard<std::mutex> lock(mu);
                    sessions.erase(raw);
                  });
  }
}

net::awaitable<bool> Server::Impl::write(Session& s, Response& resp, unsigned version, bool keep_alive) {
  auto msg = to_message(std::move(resp), version, keep_alive);
  s.stream.expires_after(std::chrono::seconds(opt.write_timeout_s));
  boost::system::error_code ec;
  co_await http::async_write(s.stream, msg, net::redirect_error(net::use_awaitable, ec));
  co_return !ec;
}

net::awaitable<void> Server::Impl::drain_and_close(Session& s) {
  // The client may still be sending a body we refused; reading (and
  // dropping) it for a moment lets it see our response instead of a reset.
  boost::system::error_code ec;
  s.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::vector<char> sink(64 * 1024);
  size_t drained = 0;
  s.stream.expires_after(std::chrono::seconds(2));
  while (drained < (256u << 20)) {
    boost::system::error_code rec;
    size_t n = co_await s.stream.async_read_some(net::buffer(sink), net::redirect_error(net::use_awaitable, rec));
    if (rec) break;
    drained += n;
  }
  s.stream.socket().close(ec);
}

namespace {

// Shared by a stream's producer thread, the session strand and the
// disconnect watcher.
struct StreamState {
  std::atomic<bool> gone{false};  // the client closed, reset, or stopped reading
  std::atomic<bool> done{false};  // the producer has finished
  std::atomic<uint64_t> bytes{0};  // payload bytes handed to the socket
};

std::string stream_head(const Response& resp, unsigned version, bool chunked) {
  std::string reason(http::obsolete_reason(http::int_to_status(static_cast<unsigned>(resp.status))));
  std::string h = "HTTP/1." + std::to_string(version == 10 ? 0 : 1) + " " + std::to_string(resp.status) + " " + reason +
                  "\r\nServer: ragd\r\nContent-Type: " + resp.content_type + "\r\n";
  for (const auto& [name, value] : resp.headers) h += name + ": " + value + "\r\n";
  if (chunked) h += "Transfer-Encoding: chunked\r\n";
  h += "Connection: close\r\n\r\n";
  return h;
}

}  // namespace

net::awaitable<bool> Server::Impl::write_stream(std::shared_ptr<Session> sp, Response& resp, unsigned version,
                                                uint64_t& bytes_out) {
  Session& s = *sp;
  const bool chunked = version >= 11;  // HTTP/1.0: the body ends when the connection closes
  boost::system::error_code ec;
  std::string head = stream_head(resp, version, chunked);
  s.stream.expires_after(std::chrono::seconds(opt.write_timeout_s));
  co_await net::async_write(s.stream, net::buffer(head), net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return false;
  // From here the producer can be silent for long (prompt evaluation), so the
  // stream has no timer; each write is bounded below instead.
  s.stream.expires_never();
  auto state = std::make_shared<StreamState>();
  // Watch for the client going away: a read that ends (EOF, reset) while the
  // producer still runs marks the stream gone; the producer polls that before
  // every token (write("") is the probe), so generation stops within a token.
  net::co_spawn(
      s.stream.get_executor(),
      [sp, state]() -> net::awaitable<void> {
        std::array<char, 512> sink;
        for (;;) {
          boost::system::error_code rec;
          co_await sp->stream.async_read_some(net::buffer(sink), net::redirect_error(net::use_awaitable, rec));
          if (rec) {
            if (!state->done.load()) state->gone = true;
            co_return;
          }
          // Bytes from the client during a stream (a pipelined request) are
          // dropped: the connection closes when the stream ends.
        }
      },
      net::detached);

  const auto write_timeout = std::chrono::seconds(opt.write_timeout_s);
  auto strand = s.stream.get_executor();
  StreamWrite write = [sp, state, chunked, write_timeout, strand](const std::string& chunk) -> bool {
    if (state->gone.load()) return false;
    if (chunk.empty()) return true;  // the probe: is the client still there?
    state->bytes += chunk.size();
    char size_line[24];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
    auto framed = std::make_shared<std::string>(chunked ? size_line + chunk + "\r\n" : chunk);
    auto done = std::make_shared<std::promise<bool>>();
    std::future<bool> result = done->get_future();
    net::post(strand, [sp, framed, done] {
      net::async_write(sp->stream, net::buffer(*framed),
                       [sp, framed, done](const boost::system::error_code& wec, size_t) { done->set_value(!wec); });
    });
    if (result.wait_for(write_timeout) != std::future_status::ready) {
      // The client stopped reading: give up on it.
      state->gone = true;
      net::post(strand, [sp] {
        boost::system::error_code cec;
        sp->stream.socket().close(cec);
      });
      return false;
    }
    if (!result.get()) state->gone = true;
    return !state->gone.load();
  };
  auto producer = std::move(resp.stream);
  auto run_producer = [&producer, &write]() -> net::awaitable<void> {
    try {
      producer(write);
    } catch (const std::exception& e) {
      spdlog::error("stream producer failed: {}", e.what());
    }
    co_return;
  };
  auto ex = generation.get_executor();
  co_await net::co_spawn(ex, std::move(run_producer), net::use_awaitable);
  state->done = true;
  bytes_out = state->bytes.load();
  if (state->gone.load()) co_return false;
  if (chunked) {
    static const std::string kLast = "0\r\n\r\n";
    s.stream.expires_after(std::chrono::seconds(opt.write_timeout_s));
    co_await net::async_write(s.stream, net::buffer(kLast), net::redirect_error(net::use_awaitable, ec));
  }
  co_return !ec;
}

net::awaitable<Response> Server::Impl::admit(std::shared_ptr<Deferred> d) {
  auto ex = co_await net::this_coro::executor;
  if (!d->ticket->running()) {
    // The thread that frees a slot cancels the timer (through the strand);
    // otherwise it expires at the deadline.
    auto timer = std::make_shared<net::steady_timer>(ex);
    timer->expires_at(d->deadline);
    d->ticket->when_running([timer, ex] { net::post(ex, [timer] { timer->cancel(); }); });
    boost::system::error_code ec;
    co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  const bool running = d->ticket->withdraw();
  auto next = [d, running]() -> net::awaitable<Response> {
    co_return running ? d->admitted() : d->refused(Status::timeout("timed out waiting for a generation slot"));
  };
  co_return co_await net::co_spawn(generation.get_executor(), std::move(next), net::use_awaitable);
}

net::awaitable<void> Server::Impl::run_session(std::shared_ptr<Session> sp) {
  Session& s = *sp;
  std::string remote;
  {
    boost::system::error_code ec;
    auto ep = s.stream.socket().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  beast::flat_buffer buffer;
  for (;;) {
    if (stopping.load()) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(opt.max_header_bytes);
    parser.body_limit(opt.max_body_bytes);
    s.stream.expires_after(std::chrono::seconds(opt.read_timeout_s));
    boost::system::error_code ec;
    co_await http::async_read_header(s.stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (!ec) {
      s.busy = true;
      const auto& hdr = parser.get();
      if (beast::iequals(hdr[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, hdr.version()};
        s.stream.expires_after(std::chrono::seconds(opt.write_timeout_s));
        co_await http::async_write(s.stream, cont, net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
      }
      s.stream.expires_after(std::chrono::seconds(opt.read_timeout_s));
      co_await http::async_read(s.stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    }
    if (ec) {
      if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
          ec == net::error::connection_reset || ec == net::error::eof) {
        break;
      }
      s.busy = true;
      unsigned version = 11;
      // A refused request still gets its request id and a log record.
      const auto& hdr = parser.get();
      const std::string rid = accept_request_id(std::string(hdr["X-Request-Id"]));
      auto refuse = [&](Response& err) {
        err.headers.emplace_back("X-Request-Id", rid);
        log_request(RequestRecord{rid, std::string(hdr.method_string()), "other", err.status, 0, 0,
                                  err.body.size(), "", remote});
      };
      if (ec == http::error::header_limit) {
        Response err = error_response(431, "header_too_large",
                                      "request headers exceed " + std::to_string(opt.max_header_bytes) + " bytes");
        refuse(err);
        co_await write(s, err, version, false);
        co_await drain_and_close(s);
      } else if (ec == http::error::body_limit) {
        Response err = error_response(Status::resource_exhausted(
            "request body exceeds the limit of " + std::to_string(opt.max_body_bytes) + " bytes"));
        refuse(err);
        co_await write(s, err, version, false);
        co_await drain_and_close(s);
      } else if (ec == beast::error::timeout) {
        // basic_stream has already closed the socket: a slow sender is simply
        // disconnected.
        spdlog::debug("{}: request not received within {} s", remote, opt.read_timeout_s);
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::partial_message) {
        Response err = error_response(Status::invalid_argument("malformed HTTP request: " + ec.message()));
        refuse(err);
        co_await write(s, err, version, false);
        co_await drain_and_close(s);
      }
      break;
    }

    auto msg = parser.release();
    const unsigned version = msg.version();
    const bool keep_alive = msg.keep_alive();
    Request req = to_request(std::move(msg), remote);
    req.request_id = accept_request_id(req.header("x-request-id"));
    const auto arrived = std::chrono::steady_clock::now();
    Response resp;
    // Generation requests (and their streams) run on their own pool.
    const bool slow = app.is_generation(req);
    if (inflight.fetch_add(1) >= opt.max_inflight) {
      inflight.fetch_sub(1);
      resp = error_response(Status::unavailable("server busy: " + std::to_string(opt.max_inflight) +
                                                " requests in flight"));
      resp.headers.emplace_back("Retry-After", "1");
    } else {
      auto on_worker = [this, &req]() -> net::awaitable<Response> {
        co_return app.handle(req);
      };
      if (slow) {
        auto ex = generation.get_executor();
        resp = co_await net::co_spawn(ex, std::move(on_worker), net::use_awaitable);
        if (resp.deferred) resp = co_await admit(std::move(resp.deferred));
      } else {
        auto ex = workers.get_executor();
        resp = co_await net::co_spawn(ex, std::move(on_worker), net::use_awaitable);
      }
      inflight.fetch_sub(1);
      if (resp.status >= 500) {
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - arrived).count();
        spdlog::error("{} {} -> {} in {:.1f} ms: {}", req.method, req.path, resp.status, ms, resp.body);
      }
    }
    const int status = resp.status;
    resp.headers.emplace_back("X-Request-Id", req.request_id);
    uint64_t bytes_out = resp.body.size();
    auto report = [&] {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count();
      app.observe(req, status, seconds);
      log_request(RequestRecord{req.request_id, req.method, app.route_label(req), status,
                                seconds * 1000.0, req.body.size(), bytes_out, req.caller, req.remote});
    };
    if (resp.stream) {
      // A streamed response ends its connection (the simplest safe state).
      bytes_out = 0;
      co_await write_stream(sp, resp, version, bytes_out);
      report();
      s.busy = false;
      break;
    }
    const bool again = keep_alive && !stopping.load();
    bool ok = co_await write(s, resp, version, again);
    report();
    s.busy = false;
    if (!ok || !again) break;
  }
  boost::system::error_code ec;
  s.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  s.stream.socket().close(ec);
}

}  // namespace ragd::api
