// A tiny HTTP/1.1 server on 127.0.0.1 for the sync tests and bench: one
// thread, one request per connection (Connection: close), the handler
// answers from the test's fake vendor. Good enough for libcurl; not a
// general server. `concurrent` serves each connection on a thread of its
// own (for tests of clients that must not serialise their calls); the
// handler must then be thread-safe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <stdexcept>
#include <vector>

#include "tests/support/loopback_listener.h"

namespace ragd::sync::testing {

struct Request {
  std::string method;
  std::string path;                           // without the query
  std::map<std::string, std::string> query;   // decoded parameters
  std::map<std::string, std::string> headers; // names lower-cased
  std::string target;                         // as sent
  std::string body;                           // Content-Length bytes after the headers
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

inline std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

class LoopbackServer {
 public:
  using Handler = std::function<Response(const Request&)>;
  explicit LoopbackServer(Handler handler, bool concurrent = false)
      : handler_(std::move(handler)), concurrent_(concurrent) {
    uint16_t port = 0;
    fd_ = ragd::test::listen_on_loopback(port);
    if (fd_ < 0) throw std::runtime_error("loopback server: bind/listen failed");
    port_ = port;
    thread_ = std::thread([this] { loop(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : connections_) t.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }
  std::vector<std::string> targets() const {
    std::lock_guard l(mu_);
    return targets_;
  }
  std::vector<std::string> bodies() const {
    std::lock_guard l(mu_);
    return bodies_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      if (concurrent_) {
        connections_.emplace_back([this, c] {
          serve(c);
          ::close(c);
        });
        continue;
      }
      serve(c);
      ::close(c);
    }
  }
  void serve(int c) {
    std::string data;
    char buf[8192];
    while (data.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      data.append(buf, static_cast<size_t>(n));
    }
    Request req;
    size_t eol = data.find("\r\n");
    std::string line = data.substr(0, eol);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) {
      std::string qs = req.target.substr(q + 1);
      size_t start = 0;
      while (start <= qs.size()) {
        size_t amp = qs.find('&', start);
        if (amp == std::string::npos) amp = qs.size();
        std::string kv = qs.substr(start, amp - start);
        size_t eq = kv.find('=');
        if (!kv.empty()) req.query[url_decode(kv.substr(0, eq))] = eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1));
        start = amp + 1;
      }
    }
    size_t pos = eol + 2;
    while (true) {
      size_t e = data.find("\r\n", pos);
      if (e == std::string::npos || e == pos) break;
      std::string h = data.substr(pos, e - pos);
      size_t colon = h.find(':');
      if (colon != std::string::npos) {
        std::string name = h.substr(0, colon);
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string value = h.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        req.headers[name] = value;
      }
      pos = e + 2;
    }
    const size_t body_at = data.find("\r\n\r\n") + 4;
    if (auto cl = req.headers.find("content-length"); cl != req.headers.end()) {
      const size_t want = std::stoul(cl->second);
      while (data.size() - body_at < want) {
        pollfd p{c, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return;
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        data.append(buf, static_cast<size_t>(n));
      }
      req.body = data.substr(body_at, want);
    }
    {
      std::lock_guard l(mu_);
      targets_.push_back(req.target);
      bodies_.push_back(req.body);
    }
    ++requests_;
    Response r = handler_(req);
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Length: " + std::to_string(r.body.size()) +
                      "\r\nConnection: close\r\nContent-Type: application/json\r\n";
    for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
    out += "\r\n" + r.body;
    size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  Handler handler_;
  bool concurrent_ = false;
  std::vector<std::thread> connections_;  // concurrent mode; touched by the accept thread only
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::vector<std::string> targets_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

}  // namespace ragd::sync::testing
