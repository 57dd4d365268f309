// Process and wrk helpers shared by the benchmarks that drive a real
// `ragd serve`: read a file, start a child with its output in a log, run one
// to completion, and the request bodies of a wrk search script.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace ragd::bench {

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
