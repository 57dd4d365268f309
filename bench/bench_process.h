// Process, socket and wrk helpers shared by the benchmarks that drive a real
// server: read a file, start a child with its output in a log, run one to
// completion, connect to a loopback port, and the request bodies of a wrk
// search script.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace ragd::bench {

// A TCP connection to 127.0.0.1:port with Nagle off; -1 on failure.
inline int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts argv (argv[0] a path) with stdout and stderr appended to `log`.
inline pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  return pid;
}

// Runs argv to completion; its exit status (128 when it was killed).
inline int run(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  pid_t pid = spawn(argv, log);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// A Lua string literal.
inline std::string lua_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c < 32) continue;
    out += static_cast<char>(c);
  }
  return out + "\"";
}

// "local bodies = {...}": one /v1/search body per question, k=10; every
// 4th asks for runbooks only, every 5th is lexical.
inline std::string wrk_search_bodies(const std::vector<std::string>& questions) {
  std::string s = "local bodies = {\n";
  for (size_t i = 0; i < questions.size(); ++i) {
    nlohmann::json b{{"query", questions[i]}, {"k", 10}};
    if (i % 4 == 1) b["filters"] = nlohmann::json{{"kind", "runbook"}};
    if (i % 5 == 2) b["mode"] = "lexical";
    s += "  " + lua_quote(b.dump()) + ",\n";
  }
  return s + "}\n";
}

}  // namespace ragd::bench
