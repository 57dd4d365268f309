// The only file that includes Beast and Asio. The session coroutine follows
// Beast's example/http/server/awaitable: read one request, hand it to the
// worker pool, write the response, repeat; one request per connection at a
// time, which bounds pipelining. Plain and TLS connections run the same
// session code: everything below is a template over the stream type (a
// Beast basic_stream, or an ssl_stream over one).
#include "api/server.h"

#include <sys/resource.h>

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
#include <memory>
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
#include <boost/beast/ssl.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
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
using TcpStream = beast::basic_stream<tcp, Strand>;
using TlsStream = beast::ssl_stream<TcpStream>;

namespace {

// What shutdown needs of a session, whatever its stream.
struct SessionBase {
  virtual ~SessionBase() = default;
  // The TCP layer: timeouts, cancel, close.
  virtual TcpStream& tcp() = 0;
  // True while a request is being handled or answered. Only touched on the
  // session's strand.
  bool busy = false;
};

template <class S>
struct Session final : SessionBase {
  explicit Session(S s) : stream(std::move(s)) {}
  TcpStream& tcp() override { return beast::get_lowest_layer(stream); }
  S stream;
};

template <class S>
constexpr bool kIsTls = std::is_same_v<S, TlsStream>;

// The bytes of request bodies held across all connections
// (ServerOptions::max_inflight_body_bytes).
struct BodyBudget {
  std::atomic<uint64_t> used{0};
  uint64_t cap = 0;
  Gauge* gauge = nullptr;  // ragd_http_body_bytes_in_flight; null without metrics
};

// One request's share of the BodyBudget; given back when it is destroyed
// (the end of the request's turn in the session loop, after its response).
class BodyReservation {
 public:
  explicit BodyReservation(BodyBudget& b) : b_(b) {}
  ~BodyReservation() { release(); }
  BodyReservation(const BodyReservation&) = delete;
  BodyReservation& operator=(const BodyReservation&) = delete;

  // Reserves `n` more bytes; false (and nothing reserved) when the budget
  // would be exceeded.
  bool grow(uint64_t n) {
    uint64_t cur = b_.used.load();
    do {
      if (cur + n > b_.cap) return false;
    } while (!b_.used.compare_exchange_weak(cur, cur + n));
    bytes_ += n;
    if (b_.gauge != nullptr) b_.gauge->inc(static_cast<double>(n));
    return true;
  }
  // Reserves up to `total` bytes in all.
  bool grow_to(uint64_t total) { return total <= bytes_ || grow(total - bytes_); }
  void release() {
    if (bytes_ == 0) return;
    b_.used -= bytes_;
    if (b_.gauge != nullptr) b_.gauge->dec(static_cast<double>(bytes_));
    bytes_ = 0;
  }

 private:
  BodyBudget& b_;
  uint64_t bytes_ = 0;
};

// Raises the soft file descriptor limit to the hard one, and returns the
// number of descriptors left for connections: the limit minus a reserve for
// the store's files, logs, the model, pipes and the listener.
uint64_t descriptors_for_connections() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return UINT64_MAX;
  if (rl.rlim_cur != RLIM_INFINITY && (rl.rlim_max == RLIM_INFINITY || rl.rlim_cur < rl.rlim_max)) {
    rlimit up = rl;
    up.rlim_cur = rl.rlim_max == RLIM_INFINITY ? std::max<rlim_t>(rl.rlim_cur, 1u << 20) : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  constexpr uint64_t kReserve = 256;
  const uint64_t limit = rl.rlim_cur;
  return limit > 2 * kReserve ? limit - kReserve : limit / 2;
}

// TLS 1.2 or later, no compression (CRIME), the server's cipher order,
// fresh (EC)DH keys per handshake.
Status make_tls_context(const std::filesystem::path& cert, const std::filesystem::path& key,
                        std::unique_ptr<net::ssl::context>& out) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                   net::ssl::context::no_compression | net::ssl::context::single_dh_use);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert.string(), ec);
  if (ec) {
    return Status::invalid_argument("--tls-cert " + cert.string() +
                                    ": cannot load a PEM certificate chain: " + ec.message());
  }
  // The key is read here and compared with the certificate before the
  // context takes it: OpenSSL 3 refuses a mismatched key inside
  // SSL_CTX_use_PrivateKey with only "key values mismatch", and the operator
  // should learn which two files disagree.
  const auto mismatch = [&] {
    return Status::invalid_argument("--tls-key " + key.string() + " does not match the certificate in --tls-cert " +
                                    cert.string());
  };
  {
    ERR_clear_error();
    std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(key.c_str(), "r"), BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
        in ? PEM_read_bio_PrivateKey(in.get(), nullptr, SSL_CTX_get_default_passwd_cb(native),
                                     SSL_CTX_get_default_passwd_cb_userdata(native))
           : nullptr,
        EVP_PKEY_free);
    X509* leaf = SSL_CTX_get0_certificate(native);
    if (pkey && leaf != nullptr && X509_check_private_key(leaf, pkey.get()) != 1) {
      ERR_clear_error();
      return mismatch();
    }
    ERR_clear_error();
  }
  ctx->use_private_key_file(key.string(), net::ssl::context::pem, ec);
  if (ec) return Status::invalid_argument("--tls-key " + key.string() + ": cannot load a PEM private key: " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) return mismatch();
  out = std::move(ctx);
  return Status::ok();
}

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
        ingest(static_cast<size_t>(std::max(1, opt.max_ingest_inflight))),
        probe(1),
        peer(static_cast<size_t>(opt.peer_threads > 0 ? opt.peer_threads : hardware_threads())),
        listen_strand(net::make_strand(ioc)),
        acceptor(listen_strand),
        signals(listen_strand, SIGINT, SIGTERM) {
    max_connections = std::max(1, opt.max_connections);
    body_budget.cap = std::max<uint64_t>(opt.max_inflight_body_bytes, opt.max_body_bytes);
    // A second server on the same App (tests) keeps the first one's metrics.
    try {
      Registry& r = app.registry();
      connections_open = &r.gauge("ragd_connections_open", "Open client connections.").get();
      connections_refused =
          &r.counter("ragd_connections_refused_total",
                     "Connections closed at once because --max-connections were open.")
               .get();
      body_budget.gauge =
          &r.gauge("ragd_http_body_bytes_in_flight", "Bytes of request bodies held (--max-inflight-body).").get();
      body_refused = &r.counter("ragd_http_body_refused_total",
                                "Requests refused with 503 because their body would pass --max-inflight-body.")
                          .get();
    } catch (const std::invalid_argument&) {
      connections_open = nullptr;
      connections_refused = nullptr;
      body_budget.gauge = nullptr;
      body_refused = nullptr;
    }
  }

  App& app;
  ServerOptions opt;
  net::io_context ioc;
  net::thread_pool workers;
  net::thread_pool generation;  // requests that wait for the model, and their streams
  net::thread_pool ingest;      // Lane::kIngest: max_ingest_inflight threads
  net::thread_pool probe;       // Lane::kProbe: /healthz and /metrics
  net::thread_pool peer;        // Lane::kPeer: a cluster peer's search phases
  Strand listen_strand;
  tcp::acceptor acceptor;
  net::signal_set signals;
  std::unique_ptr<net::ssl::context> tls;  // set when serving TLS
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<int> inflight{0};
  int max_connections = 1024;       // set before accepting starts
  std::atomic<int> open_connections{0};
  BodyBudget body_budget;
  Gauge* connections_open = nullptr;  // null when the registry already had them
  Counter* connections_refused = nullptr;
  Counter* body_refused = nullptr;
  std::chrono::steady_clock::time_point last_accept_warning{};  // listen_strand only
  std::mutex mu;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;  // GUARDED_BY(mu)

  net::awaitable<void> accept_loop();
  template <class S>
  void start_session(std::shared_ptr<Session<S>> session);
  template <class S>
  net::awaitable<void> run_session(std::shared_ptr<Session<S>> s);
  template <class S>
  net::awaitable<bool> write(Session<S>& s, Response& resp, unsigned version, bool keep_alive);
  // Sends a streamed response; `bytes_out` counts the chunks' payload bytes.
  template <class S>
  net::awaitable<bool> write_stream(std::shared_ptr<Session<S>> sp, Response& resp, unsigned version,
                                    uint64_t& bytes_out);
  template <class S>
  net::awaitable<void> drain_and_close(Session<S>& s);
  // Ends the connection; with TLS and `tls_shutdown`, close_notify first
  // (not while another read is pending on the stream, as after a stream).
  template <class S>
  net::awaitable<void> close(Session<S>& s, bool tls_shutdown);
  // Waits, on the session's strand and without a thread, for a generation
  // route's admission slot; then its response from the generation pool.
  net::awaitable<Response> admit(std::shared_ptr<Deferred> d);
  void wait_for_signal();
  void begin_shutdown();
};

Server::Server(App& app, ServerOptions options) : impl_(std::make_unique<Impl>(app, std::move(options))) {}

Server::~Server() = default;

uint16_t Server::port() const { return impl_->port; }

int Server::max_connections() const { return impl_->max_connections; }

Status Server::listen() {
  Impl& s = *impl_;
  if (s.opt.tls_cert_file.empty() != s.opt.tls_key_file.empty()) {
    return Status::invalid_argument("TLS needs both --tls-cert and --tls-key");
  }
  if (!s.opt.tls_cert_file.empty()) {
    RAGD_RETURN_IF_ERROR(make_tls_context(s.opt.tls_cert_file, s.opt.tls_key_file, s.tls));
  }
  const uint64_t fds = descriptors_for_connections();
  if (static_cast<uint64_t>(s.max_connections) > fds) {
    spdlog::warn("--max-connections {} lowered to {}: the file descriptor limit (ulimit -n) leaves no more",
                 s.max_connections, fds);
    s.max_connections = static_cast<int>(std::max<uint64_t>(fds, 1));
  }
  if (s.opt.max_inflight_body_bytes < s.opt.max_body_bytes) {
    spdlog::warn("--max-inflight-body {} is below --max-body {}; using {}", s.opt.max_inflight_body_bytes,
                 s.opt.max_body_bytes, s.opt.max_body_bytes);
  }
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
  spdlog::info("ragd listening on {}://{}:{}", s.tls ? "https" : "http", s.opt.host, s.port);
  int n = s.opt.io_threads > 0 ? s.opt.io_threads : hardware_threads();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n - 1));
  for (int i = 0; i + 1 < n; ++i) threads.emplace_back([&s] { s.ioc.run(); });
  s.ioc.run();
  for (auto& t : threads) t.join();
  s.workers.join();
  s.generation.join();
  s.ingest.join();
  s.probe.join();
  s.peer.join();
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
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [raw, weak] : sessions) {
      if (auto sp = weak.lock()) live.push_back(std::move(sp));
    }
  }
  for (auto& sp : live) {
    net::post(sp->tcp().get_executor(), [sp] {
      // An idle connection (waiting for a request) is closed now; a busy one
      // closes itself after sending its response.
      if (!sp->busy) sp->tcp().cancel();
    });
  }
  // Once the last connection has ended (in-flight requests answered), stop.
  // The signal set and the acceptor live on listen_strand, so this does too.
  net::post(listen_strand, [this] {
    // The function holds itself only weakly (a strong self-reference would
    // never be freed); each pending timer holds it strongly.
    auto check = std::make_shared<std::function<void()>>();
    *check = [this, weak = std::weak_ptr<std::function<void()>>(check)] {
      auto self = weak.lock();
      if (!self) return;
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
      timer->async_wait([timer, self](const boost::system::error_code&) { (*self)(); });
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
      // Out of file descriptors (EMFILE, ENFILE) and similar: back off
      // instead of spinning, warn at most every 10 s, keep listening.
      const auto now = std::chrono::steady_clock::now();
      if (now - last_accept_warning > std::chrono::seconds(10)) {
        last_accept_warning = now;
        spdlog::warn("accept failed: {} ({} connections open); retrying", ec.message(), open_connections.load());
      }
      net::steady_timer t(listen_strand, std::chrono::milliseconds(50));
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    if (stopping.load()) co_return;
    if (open_connections.load() >= max_connections) {
      // Accepted and closed at once: the client sees the connection end
      // rather than waiting in the backlog, and no session is created.
      boost::system::error_code cec;
      socket.close(cec);
      if (connections_refused != nullptr) connections_refused->inc();
      spdlog::debug("connection refused: {} connections open (--max-connections)", max_connections);
      continue;
    }
    if (tls) {
      start_session(std::make_shared<Session<TlsStream>>(TlsStream(TcpStream(std::move(socket)), *tls)));
    } else {
      start_session(std::make_shared<Session<TcpStream>>(TcpStream(std::move(socket))));
    }
  }
}

template <class S>
void Server::Impl::start_session(std::shared_ptr<Session<S>> session) {
  {
    std::lock_guard<std::mutex> lock(mu);
    sessions.emplace(session.get(), session);
  }
  open_connections.fetch_add(1);
  if (connections_open != nullptr) connections_open->inc();
  SessionBase* raw = session.get();
  Strand ex = session->tcp().get_executor();
  net::co_spawn(ex, run_session(session), [this, raw](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("session ended with an exception: {}", ex.what());
      }
    }
    open_connections.fetch_sub(1);
    if (connections_open != nullptr) connections_open->dec();
    std::lock_guard<std::mutex> lock(mu);
    sessions.erase(raw);
  });
}

template <class S>
net::awaitable<bool> Server::Impl::write(Session<S>& s, Response& resp, unsigned version, bool keep_alive) {
  auto msg = to_message(std::move(resp), version, keep_alive);
  s.tcp().expires_after(std::chrono::seconds(opt.write_timeout_s));
  boost::system::error_code ec;
  co_await http::async_write(s.stream, msg, net::redirect_error(net::use_awaitable, ec));
  co_return !ec;
}

template <class S>
net::awaitable<void> Server::Impl::drain_and_close(Session<S>& s) {
  // The client may still be sending a body we refused; reading (and
  // dropping) it for a moment lets it see our response instead of a reset.
  boost::system::error_code ec;
  s.tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
  std::vector<char> sink(64 * 1024);
  size_t drained = 0;
  s.tcp().expires_after(std::chrono::seconds(2));
  while (drained < (256u << 20)) {
    boost::system::error_code rec;
    size_t n = co_await s.stream.async_read_some(net::buffer(sink), net::redirect_error(net::use_awaitable, rec));
    if (rec) break;
    drained += n;
  }
  s.tcp().socket().close(ec);
}

template <class S>
net::awaitable<void> Server::Impl::close(Session<S>& s, bool tls_shutdown) {
  boost::system::error_code ec;
  if constexpr (kIsTls<S>) {
    // close_notify, so the client knows the response was not truncated; a
    // peer that does not answer it is cut off after a moment.
    if (tls_shutdown && s.tcp().socket().is_open()) {
      s.tcp().expires_after(std::chrono::seconds(2));
      co_await s.stream.async_shutdown(net::redirect_error(net::use_awaitable, ec));
    }
  }
  s.tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
  s.tcp().socket().close(ec);
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

template <class S>
net::awaitable<bool> Server::Impl::write_stream(std::shared_ptr<Session<S>> sp, Response& resp, unsigned version,
                                                uint64_t& bytes_out) {
  Session<S>& s = *sp;
  const bool chunked = version >= 11;  // HTTP/1.0: the body ends when the connection closes
  boost::system::error_code ec;
  std::string head = stream_head(resp, version, chunked);
  s.tcp().expires_after(std::chrono::seconds(opt.write_timeout_s));
  co_await net::async_write(s.stream, net::buffer(head), net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return false;
  // From here the producer can be silent for long (prompt evaluation), so the
  // stream has no timer; each write is bounded below instead.
  s.tcp().expires_never();
  auto state = std::make_shared<StreamState>();
  // Watch for the client going away: a read that ends (EOF, reset) while the
  // producer still runs marks the stream gone; the producer polls that before
  // every token (write("") is the probe), so generation stops within a token.
  net::co_spawn(
      s.tcp().get_executor(),
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
  auto strand = s.tcp().get_executor();
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
        sp->tcp().socket().close(cec);
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
    s.tcp().expires_after(std::chrono::seconds(opt.write_timeout_s));
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

template <class S>
net::awaitable<void> Server::Impl::run_session(std::shared_ptr<Session<S>> sp) {
  Session<S>& s = *sp;
  std::string remote;
  {
    boost::system::error_code ec;
    auto ep = s.tcp().socket().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  beast::flat_buffer buffer;
  bool streamed = false;  // a stream's disconnect watcher may still be reading
  if constexpr (kIsTls<S>) {
    // The handshake has the read timeout; a client that speaks plain HTTP,
    // an old TLS version or nothing at all is logged at debug and dropped.
    boost::system::error_code ec;
    s.tcp().expires_after(std::chrono::seconds(opt.read_timeout_s));
    co_await s.stream.async_handshake(net::ssl::stream_base::server, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      spdlog::debug("{}: TLS handshake failed: {}", remote, ec.message());
      s.tcp().socket().close(ec);
      co_return;
    }
  }
  for (;;) {
    if (stopping.load()) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(opt.max_header_bytes);
    parser.body_limit(opt.max_body_bytes);
    s.tcp().expires_after(std::chrono::seconds(opt.read_timeout_s));
    boost::system::error_code ec;
    co_await http::async_read_header(s.stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    // This request's share of the bytes of bodies in flight: reserved before
    // the body is read, given back at the end of this turn of the loop.
    BodyReservation body_hold(body_budget);
    bool over_budget = false;
    if (!ec) {
      s.busy = true;
      const auto& hdr = parser.get();
      if (auto announced = parser.content_length(); announced && !body_hold.grow(*announced)) over_budget = true;
      if (!over_budget && beast::iequals(hdr[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, hdr.version()};
        s.tcp().expires_after(std::chrono::seconds(opt.write_timeout_s));
        co_await http::async_write(s.stream, cont, net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
      }
      s.tcp().expires_after(std::chrono::seconds(opt.read_timeout_s));
      // A chunked body has no length up front: it is reserved as it grows.
      while (!over_budget && !parser.is_done()) {
        co_await http::async_read_some(s.stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
        if (!body_hold.grow_to(parser.get().body().size())) over_budget = true;
      }
    }
    if (over_budget) {
      body_hold.release();
      if (body_refused != nullptr) body_refused->inc();
      const auto& hdr = parser.get();
      const std::string rid = accept_request_id(std::string(hdr["X-Request-Id"]));
      Response err = error_response(Status::unavailable(
          "server busy: request bodies in flight would pass " + std::to_string(body_budget.cap) +
          " bytes (--max-inflight-body); retry"));
      err.headers.emplace_back("Retry-After", "1");
      err.headers.emplace_back("X-Request-Id", rid);
      log_request(RequestRecord{rid, std::string(hdr.method_string()), "other", err.status, 0, 0, err.body.size(),
                                "", remote});
      co_await write(s, err, hdr.version(), false);
      co_await drain_and_close(s);
      break;
    }
    if (ec) {
      if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
          ec == net::error::connection_reset || ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
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
    // Generation requests (and their streams) run on their own pool, ingests
    // on theirs, /healthz and /metrics on theirs (never refused as busy).
    const bool slow = app.is_generation(req);
    const Lane lane = slow ? Lane::kDefault : app.lane(req);
    const bool counted = lane != Lane::kProbe;
    if (counted && inflight.fetch_add(1) >= opt.max_inflight) {
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
      } else if (lane == Lane::kProbe) {
        auto ex = probe.get_executor();
        resp = co_await net::co_spawn(ex, std::move(on_worker), net::use_awaitable);
      } else if (lane == Lane::kIngest) {
        auto ex = ingest.get_executor();
        resp = co_await net::co_spawn(ex, std::move(on_worker), net::use_awaitable);
      } else if (lane == Lane::kPeer) {
        auto ex = peer.get_executor();
        resp = co_await net::co_spawn(ex, std::move(on_worker), net::use_awaitable);
      } else {
        auto ex = workers.get_executor();
        resp = co_await net::co_spawn(ex, std::move(on_worker), net::use_awaitable);
      }
      // A generation waits for its admission slot. Normally from the
      // generation pool; a request that arrived on a worker while the first
      // LLM was being activated may also return one.
      if (resp.deferred) resp = co_await admit(std::move(resp.deferred));
      if (counted) inflight.fetch_sub(1);
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
      streamed = true;
      break;
    }
    const bool again = keep_alive && !stopping.load();
    bool ok = co_await write(s, resp, version, again);
    report();
    s.busy = false;
    if (!ok || !again) break;
  }
  co_await close(s, !streamed);
}

}  // namespace ragd::api
