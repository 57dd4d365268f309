// The processes of a cluster on loopback, for the tests and bench/
// cluster_bench: three nats-server processes in one JetStream cluster and
// one or three etcd members, started, stopped and killed by the caller, and the cluster file
// of a `ragd serve --cluster` node among them (tests/api/test_support.h
// starts the ragd side).
#pragma once

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/api/test_support.h"

namespace ragd::test {

// A loopback port nobody listens on right now (bind to 0, read, close).
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline bool port_open(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

inline std::string find_binary(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates) {
    if (fs::exists(c)) return c;
  }
  return "";
}

// A child process with its output in `log`; SIGKILLed when destroyed.
class Child {
 public:
  Child() = default;
  ~Child() { kill_hard(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  void start(std::vector<std::string> argv, const fs::path& log) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  void kill_hard() { kill_and_reap(pid_); }
  // SIGSTOP / SIGCONT: a stopped server holds its connections and answers
  // nothing, as one cut off by a partition does.
  void pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

inline bool wait_until(const std::function<bool()>& ok, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ok();
}

struct ClusterServers {
  std::string nats_bin = find_binary({"/usr/bin/nats-server", "/usr/sbin/nats-server"});
  std::string etcd_bin = find_binary({"/usr/bin/etcd", "/usr/sbin/etcd"});
  fs::path dir;
  std::vector<uint16_t> nats_ports, route_ports;
  std::vector<uint16_t> etcd_ports, etcd_peer_ports;
  uint16_t etcd_port = 0;  // the first member's
  std::vector<std::unique_ptr<Child>> nats;
  std::vector<std::unique_ptr<Child>> etcd;
  // Set before start(): NATS and etcd speak TLS only, with the server
  // certificate tls_cert (signed by the authority tls_ca) as their own,
  // and ask every client for a certificate tls_ca signed (nats-server
  // --tlsverify, etcd --client-cert-auth); cluster_file() names tls:// and
  // https:// URLs, the authority and the client certificate
  // tls_client_cert.
  fs::path tls_ca, tls_cert, tls_key, tls_client_cert, tls_client_key;
  // Set before start(): more arguments for every nats-server (its client
  // authorization: --auth TOKEN, --user/--pass) and etcd member; lines
  // cluster_file() adds (the credentials' options).
  std::vector<std::string> nats_extra_args, etcd_extra_args;
  std::string cluster_file_extra;

  bool available() const { return !nats_bin.empty() && !etcd_bin.empty(); }

  void start_nats(size_t i) {
    std::string routes;
    for (size_t j = 0; j < route_ports.size(); ++j) {
      if (j == i) continue;
      if (!routes.empty()) routes += ",";
      routes += "nats://127.0.0.1:" + std::to_string(route_ports[j]);
    }
    const fs::path store = dir / ("nats" + std::to_string(i));
    fs::create_directories(store);
    nats[i] = std::make_unique<Child>();
    std::vector<std::string> argv{nats_bin, "-js", "-a", "127.0.0.1", "-p", std::to_string(nats_ports[i]),
                                  "-sd", store.string(), "-n", "n" + std::to_string(i), "--cluster_name", "ragdtest",
                                  "--cluster", "nats://127.0.0.1:" + std::to_string(route_ports[i]), "--routes",
                                  routes};
    const auto tls = nats_tls_args();
    argv.insert(argv.end(), tls.begin(), tls.end());
    argv.insert(argv.end(), nats_extra_args.begin(), nats_extra_args.end());
    nats[i]->start(argv, dir / ("nats" + std::to_string(i) + ".log"));
  }

  // Member i of the etcd cluster (again, after a kill: its data directory
  // makes it rejoin).
  void start_etcd(size_t i) {
    std::string initial;
    for (size_t j = 0; j < etcd_ports.size(); ++j) {
      initial += (j ? "," : "") + std::string("e") + std::to_string(j) +
                 "=http://127.0.0.1:" + std::to_string(etcd_peer_ports[j]);
    }
    const std::string client = etcd_scheme() + "127.0.0.1:" + std::to_string(etcd_ports[i]);
    const std::string peer = "http://127.0.0.1:" + std::to_string(etcd_peer_ports[i]);
    etcd[i] = std::make_unique<Child>();
    std::vector<std::string> argv{etcd_bin, "--name", "e" + std::to_string(i), "--data-dir",
                                  (dir / ("etcd" + std::to_string(i))).string(), "--listen-client-urls", client,
                                  "--advertise-client-urls", client, "--listen-peer-urls", peer,
                                  "--initial-advertise-peer-urls", peer, "--initial-cluster", initial,
                                  "--initial-cluster-token", "ragdtest"};
    if (!tls_cert.empty()) {
      argv.insert(argv.end(), {"--cert-file", tls_cert.string(), "--key-file", tls_key.string(), "--trusted-ca-file",
                               tls_ca.string(), "--client-cert-auth"});
    }
    argv.insert(argv.end(), etcd_extra_args.begin(), etcd_extra_args.end());
    etcd[i]->start(argv, dir / ("etcd" + std::to_string(i) + ".log"));
  }

  std::vector<std::string> nats_tls_args() const {
    if (tls_cert.empty()) return {};
    return {"--tlsverify", "--tlscert", tls_cert.string(), "--tlskey", tls_key.string(), "--tlscacert",
            tls_ca.string()};
  }
  std::string nats_scheme() const { return tls_cert.empty() ? "nats://" : "tls://"; }
  std::string etcd_scheme() const { return tls_cert.empty() ? "http://" : "https://"; }

  // Three NATS servers (JetStream, clustered) and `etcd_members` etcd
  // members (one, or three in one cluster).
  // A port free_port() found can be taken by another test's process before
  // the server binds it (the tests run side by side): then every server of
  // the attempt is stopped and all start again on new ports, in a directory
  // of their own (an etcd member's data directory names its peers).
  bool start(const fs::path& d, size_t nats_servers = 3, size_t etcd_members = 1) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (start_once(attempt == 0 ? d : d / ("retry" + std::to_string(attempt)), nats_servers, etcd_members)) {
        return true;
      }
      for (auto& c : nats) c->kill_hard();
      for (auto& c : etcd) c->kill_hard();
      nats.clear();
      etcd.clear();
      nats_ports.clear();
      route_ports.clear();
      etcd_ports.clear();
      etcd_peer_ports.clear();
    }
    return false;
  }

  bool start_once(const fs::path& d, size_t nats_servers, size_t etcd_members) {
    dir = d;
    fs::create_directories(dir);
    nats.resize(nats_servers);
    for (size_t i = 0; i < nats_servers; ++i) {
      nats_ports.push_back(free_port());
      route_ports.push_back(free_port());
    }
    for (size_t i = 0; i < nats_servers; ++i) start_nats(i);
    etcd.resize(etcd_members);
    for (size_t i = 0; i < etcd_members; ++i) {
      etcd_ports.push_back(free_port());
      etcd_peer_ports.push_back(free_port());
    }
    etcd_port = etcd_ports[0];
    for (size_t i = 0; i < etcd_members; ++i) start_etcd(i);
    return wait_until(
        [&] {
          for (uint16_t p : nats_ports) {
            if (!port_open(p)) return false;
          }
          for (uint16_t p : etcd_ports) {
            if (!port_open(p)) return false;
          }
          return true;
        },
        20000);
  }

  std::string cluster_file(const std::string& node_id, const std::vector<std::string>& nodes, int shards,
                           int shard_replicas, int stream_replicas, int publish_timeout_ms) const {
    auto list = [](const std::vector<std::string>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", \"" : "\"") + v[i] + "\"";
      return s + "]";
    };
    std::vector<std::string> urls;
    for (uint16_t p : nats_ports) urls.push_back(nats_scheme() + "127.0.0.1:" + std::to_string(p));
    std::vector<std::string> etcd_urls;
    for (uint16_t p : etcd_ports) etcd_urls.push_back(etcd_scheme() + "127.0.0.1:" + std::to_string(p));
    std::string tls;
    if (!tls_cert.empty()) {
      tls = "tls_ca_file = \"" + tls_ca.string() + "\"\ntls_cert_file = \"" + tls_client_cert.string() +
            "\"\ntls_key_file = \"" + tls_client_key.string() + "\"\n";
    }
    return "name = \"t\"\nnode_id = \"" + node_id + "\"\nnats = " + list(urls) + "\netcd = " + list(etcd_urls) +
           "\nnodes = " + list(nodes) + "\nshards = " + std::to_string(shards) +
           "\nshard_replicas = " + std::to_string(shard_replicas) + "\nstream_replicas = " +
           std::to_string(stream_replicas) + "\nlease_ttl_seconds = 2\npublish_timeout_ms = " +
           std::to_string(publish_timeout_ms) + "\nretire_grace_seconds = 3\n" + tls + cluster_file_extra;
  }
};

// The samples of one /metrics family on a node: labels -> value. With
// `admin_key` when the node has keys.
inline std::map<std::string, double> series(uint16_t port, const std::string& name,
                                            const std::string& admin_key = {}) {
  std::map<std::string, double> out;
  std::istringstream in(admin_key.empty() ? http_get(port, "/metrics").body
                                          : http_request(port, "GET", "/metrics", "", "application/json",
                                                         {"Authorization: Bearer " + admin_key})
                                                .body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    const size_t space = line.rfind(' ');
    out[line.substr(name.size(), space - name.size())] = std::stod(line.substr(space + 1));
  }
  return out;
}

inline double total(const std::map<std::string, double>& samples) {
  double sum = 0;
  for (const auto& [labels, v] : samples) sum += v;
  return sum;
}

}  // namespace ragd::test
