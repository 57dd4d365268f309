// A TCP proxy on loopback that the tests put between one client (a ragd
// node) and one server (an etcd member), and then cut: as behind a cut
// network, the connections stay open and carry nothing, and new ones are
// accepted and never answered. restore() closes what the cut held and
// passes new connections again.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <thread>
#include <stdexcept>
#include <vector>

#include "tests/support/loopback_listener.h"

namespace ragd::test {

class TcpProxy {
 public:
  explicit TcpProxy(uint16_t target) : target_(target) {
    listen_fd_ = listen_on_loopback(port_);
    if (listen_fd_ < 0) throw std::runtime_error("tcp proxy: no listening socket on loopback");
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TcpProxy() {
    stop_ = true;
    acceptor_.join();
    std::lock_guard lock(mu_);
    for (auto& t : pumps_) t.join();
    ::close(listen_fd_);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }
  void cut() { cut_ = true; }
  void restore() { cut_ = false; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      std::lock_guard lock(mu_);
      pumps_.emplace_back([this, client] { pump(client); });
    }
  }

  // Passes bytes both ways until either side closes; while cut, holds both
  // open and silent (a connection made during the cut never reaches the
  // server); once restored after a cut, closes them.
  void pump(int client) {
    int server = -1;
    bool held = false;
    char buf[16384];
    while (!stop_) {
      if (cut_) {
        held = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      if (held) break;
      if (server < 0) {
        server = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(target_);
        if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) break;
      }
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(p, 2, 100) <= 0) continue;
      bool closed = false;
      for (int i = 0; i < 2 && !closed; ++i) {
        if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n <= 0) {
          closed = true;
          break;
        }
        const int to = i == 0 ? server : client;
        for (ssize_t off = 0; off < n;) {
          const ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) {
            closed = true;
            break;
          }
          off += w;
        }
      }
      if (closed) break;
    }
    if (server >= 0) ::close(server);
    ::close(client);
  }

  uint16_t target_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false}, cut_{false};
  std::mutex mu_;
  std::list<std::thread> pumps_;  // guarded by mu_; joined at the end
  std::thread acceptor_;
};

}  // namespace ragd::test
