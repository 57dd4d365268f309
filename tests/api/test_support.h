// Helpers shared by the api tests: temporary directories, a tiny GloVe
// file, a blocking HTTP/1.1 client over POSIX sockets, and a `ragd serve`
// child process.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "model/glove_sif.h"

namespace ragd::test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    static std::mt19937_64 rng(std::random_device{}());
    path = fs::temp_directory_path() /
           ("ragd-api-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(rng() % 1000000000));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << data;
}

// A GloVe file whose vocabulary is every word in `texts` (plus a few common
// English words), with seeded random vectors: enough for the encoder to run
// and for a chunk's own text to be its nearest vector.
inline void make_tiny_glove(const fs::path& path, const std::vector<std::string>& texts, int dim = 32,
                            uint64_t seed = 42) {
  std::map<std::string, size_t> freq;
  for (const char* w : {"the", "a", "to", "of", "and", "is", "in", "for", "on", "how", "what", "do", "i"}) {
    freq[w] += 1000000;
  }
  for (const auto& t : texts) {
    for (auto& w : ragd::glove_tokenize(t)) freq[w] += 1;
  }
  std::vector<std::pair<std::string, size_t>> order(freq.begin(), freq.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> words;
  for (auto& [w, n] : order) words.push_back(w);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> vecs(words.size() * static_cast<size_t>(dim));
  for (auto& v : vecs) v = nd(rng);
  Status st = ragd::write_glove_file(words, vecs, dim, path);
  if (!st.is_ok()) throw std::runtime_error("write_glove_file: " + st.to_string());
}

// Every regular file under `dir`, sorted.
inline std::vector<fs::path> list_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------- HTTP client

struct HttpResult {
  int status = 0;  // 0: no response (connection failed or reset)
  std::map<std::string, std::string> headers;  // lowercased names
  std::string body;
  std::string error;  // socket error when status == 0
};

inline int connect_loopback(uint16_t port, int timeout_s = 60) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

// Parses one response from `raw` (reading to EOF was done by the caller).
inline HttpResult parse_response(const std::string& raw) {
  HttpResult r;
  size_t pos = 0;
  // Skip interim 100 Continue responses.
  for (;;) {
    size_t hdr_end = raw.find("\r\n\r\n", pos);
    if (hdr_end == std::string::npos || raw.compare(pos, 5, "HTTP/") != 0) {
      r.error = "no HTTP response (" + std::to_string(raw.size()) + " bytes)";
      return r;
    }
    int code = std::atoi(raw.c_str() + pos + 9);
    if (code == 100) {
      pos = hdr_end + 4;
      continue;
    }
    r.status = code;
    std::string head = raw.substr(pos, hdr_end - pos);
    std::istringstream hs(head);
    std::string line;
    std::getline(hs, line);
    while (std::getline(hs, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    std::string body = raw.substr(hdr_end + 4);
    if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
      size_t len = std::stoul(it->second);
      if (body.size() > len) body.resize(len);
    }
    r.body = std::move(body);
    return r;
  }
}

// Reads until EOF or error; returns what arrived.
inline std::string read_all(int fd) {
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  return raw;
}

// One request on its own connection (Connection: close).
inline HttpResult http_request(uint16_t port, const std::string& method, const std::string& target,
                               const std::string& body = {},
                               const std::string& content_type = "application/json",
                               const std::vector<std::string>& extra_headers = {}, int timeout_s = 120) {
  HttpResult r;
  int fd = connect_loopback(port, timeout_s);
  if (fd < 0) {
    r.error = std::string("connect: ") + std::strerror(errno);
    return r;
  }
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& h : extra_headers) req += h + "\r\n";
  req += "\r\n";
  bool sent = send_all(fd, req) && send_all(fd, body);
  std::string raw = read_all(fd);
  ::close(fd);
  r = parse_response(raw);
  if (r.status == 0 && !sent) r.error = "send failed; " + r.error;
  return r;
}

inline HttpResult http_get(uint16_t port, const std::string& target) { return http_request(port, "GET", target); }
inline HttpResult http_post(uint16_t port, const std::string& target, const std::string& body,
                            const std::string& content_type = "application/json") {
  return http_request(port, "POST", target, body, content_type);
}

// ---------------------------------------------------------------- processes

inline std::string ragd_binary() {
  if (const char* b = std::getenv("RAGD_BIN"); b != nullptr && *b != '\0') return b;
  return RAGD_BINARY_DIR "/api/ragd";
}

// Runs `ragd args...`, returns its exit code; stdout+stderr go to `output`.
inline int run_ragd(const std::vector<std::string>& args, std::string* output = nullptr) {
  static std::atomic<int> counter{0};  // tests may run two commands at once
  fs::path out_file = fs::temp_directory_path() /
                      ("ragd-api-cli-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".out");
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<std::string> all{ragd_binary()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (output != nullptr) *output = read_file(out_file);
  std::error_code ec;
  fs::remove(out_file, ec);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// SIGKILLs the child `pid` (if any), waits for it and sets `pid` to -1.
inline void kill_and_reap(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  pid = -1;
}

// `ragd serve` on a free loopback port.
class ServerProcess {
 public:
  ServerProcess(fs::path data, fs::path glove, std::vector<std::string> extra = {})
      : data_(std::move(data)), glove_(std::move(glove)), extra_(std::move(extra)) {}
  ~ServerProcess() { kill_hard(); }

  // How start() asks whether the server is up (default: GET /healthz over
  // plain HTTP answers 200); a TLS server needs an HTTPS probe.
  void set_ready_probe(std::function<bool(uint16_t)> probe) { probe_ = std::move(probe); }

  // Starts the server and waits until /healthz answers. False on failure.
  bool start(int timeout_s = 60) {
    port_file_ = data_.parent_path() / (data_.filename().string() + ".port");
    log_file_ = data_.parent_path() / (data_.filename().string() + ".log");
    std::error_code ec;
    fs::remove(port_file_, ec);
    pid_ = fork();
    if (pid_ == 0) {
      int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<std::string> all{ragd_binary(), "serve",       "--listen", "127.0.0.1:0", "--port-file",
                                   port_file_.string(), "--data", data_.string(), "--glove", glove_.string(),
                                   "--threads", "2"};
      all.insert(all.end(), extra_.begin(), extra_.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (fs::exists(port_file_, ec)) {
        port_ = static_cast<uint16_t>(std::atoi(read_file(port_file_).c_str()));
        if (port_ != 0 && (probe_ ? probe_(port_) : http_get(port_, "/healthz").status == 200)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const { return read_file(log_file_); }

  // SIGTERM and wait; returns the exit code (or 128+signal), -1 on timeout.
  int stop(int timeout_s = 60) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    return wait(timeout_s);
  }

  void kill_hard() { kill_and_reap(pid_); }

  // Waits for the process to exit by itself.
  int wait(int timeout_s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  fs::path data_, glove_;
  std::vector<std::string> extra_;
  std::function<bool(uint16_t)> probe_;
  fs::path port_file_, log_file_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace ragd::test
