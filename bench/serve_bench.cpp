// serve_bench: ragd serve against llama-server, side by side in one run,
// serving one GGUF decoder to 1, 4, 16 and 32 concurrent streaming clients.
//
// Usage: serve_bench --models A.gguf[,B.gguf] [--clients 1,4,16,32]
//                    [--threads 2] [--ctx 768] [--max-tokens 48]
//                    [--requests 2] [--ragd PATH] [--llama-server PATH]
//                    [--glove FILE] [--servers ragd,llama] [--dir DIR]
//                    [--lookup-tokens 128] [--passes N [--arrivals [--arrival-reps R] [--prefill 128]]]
//                    [--no-prefix-test]
//
// Models: realistic-size random-weight files written by the model builder,
// e.g. `model_bench --dir D --models smollm-q8,qwen-q8 --vocab-from
// ../shared/testdata/tokenizer/ggml-vocab-smollm2.gguf` (SmolLM2-135M and
// Qwen2.5-0.5B shapes). Random weights: these figures are about speed only,
// never about answers.
//
// For each model, server and client count N, a fresh server is started:
//   ragd serve --llm M --parallel N --max-concurrent N --llm-threads T
//              --llm-ctx C --max-queue 64
//   llama-server -m M -np N -cb -t T -tb T -c N*C   (C positions per slot)
// and warmed up with one request. Then N clients each send `--requests`
// streaming POST /v1/chat/completions (temperature 0, max_tokens,
// stream_options.include_usage) one after another, each asking a question
// no earlier request on that server asked (the warm-up included: "<name>
// asks: <one of 8 questions>", the name first so that every question
// differs from its first token on) after the same ~300-token "retrieved
// passages" (the prompts are printed). So at every client count each
// request finds the passages in the prefix cache and evaluates its own
// question: TTFT at N compares with TTFT at 1 like for like, and the ratio
// of the TTFT p50s is printed after the table. Figures per run:
//   - aggregate generated tokens/s: completion tokens of all requests
//     (usage.completion_tokens) over the wall time from the first request
//     to the last response;
//   - TTFT p50/p99: request sent -> first content delta;
//   - inter-token latency p50/p99: gaps between content deltas;
//   - peak RSS of the server process (VmHWM from /proc at the end);
//   - for ragd with a batch scheduler (N > 1), its forward passes during the
//     requests and their rows (tokens) per pass, from /metrics;
//   - for ragd, the memory bound beside its peak RSS: the model file
//     plus N KV caches of --ctx positions (f16) plus 15%; ragd's peak
//     without --llm (same command, empty store, GloVe, one search per
//     question), measured once per run, and the peak less it (the
//     retriever's cost, which llama-server does not have); and what is
//     resident right after the requests by mapping (model file, GloVe file,
//     other files, anonymous memory) with malloc's in-use and free bytes and
//     the prefix cache's bytes from /metrics.
// Then, in process, lookup decoding: tokens/s of greedy generation with and
// without GenerateOptions::lookup_draft on the same prompt, and how many
// drafts were kept.
//
// --passes N (in process, no servers): the cost of one batched decode pass.
// N sessions evaluate the prompt with question i alone, then
// DecoderBatch::forward() passes of one sequence and of all N (one greedy
// token each, the argmax included) alternate; it prints the median ms per
// pass of each and their ratio, and the median ms of each weight matrix's
// shape (random Q8_0 rows, Linear::forward_rows) at 1 and N rows. A pass
// over N rows must cost at most N/4 one-row passes for N streams to reach
// 4x one stream's tokens/s.
//
// --passes N --arrivals (in process, no servers): N requests arriving at
// once after a warm-up, as at N clients over HTTP: the passages' keys and
// values are copied into N sessions (timed, into new and into reused
// sessions: the restore before shared prefixes), then N new sessions share
// the one copy (timed: the restore now), and the scheduler's passes of
// their question rows are timed (first come first served, --prefill prompt
// tokens a pass, BatchSchedulerOptions::prefill_tokens), and it prints how
// long the median arrival waits for its first logits, in ms and in
// one-row passes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.h"
#include "bench_stats.h"
#include "model/chat_template.h"
#include "model/compute_pool.h"
#include "model/decoder_batch.h"
#include "model/generator.h"
#include "model/llama.h"
#include "model/tokenizer.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using ragd::bench::connect_to;

namespace {

struct Args {
  std::vector<std::string> models;
  std::vector<int> clients = {1, 4, 16, 32};
  std::vector<std::string> servers = {"ragd", "llama"};
  int threads = 2;
  int ctx = 768;
  int max_tokens = 48;
  int requests = 2;
  int lookup_tokens = 128;
  int passes = 0;  // --passes N: the in-process decode-pass timing only
  bool arrivals = false;  // --arrivals (with --passes N): N arrivals' prompt passes instead
  int arrival_reps = 12;  // --arrival-reps R
  int prefill = 128;      // --prefill T: prompt tokens a pass of --arrivals
  bool prefix_test = true;  // --no-prefix-test skips the prefix-cache TTFT runs
  std::string ragd;  // default: ../api/ragd beside this bench's folder
  std::string llama_server = "/tmp/llama.cpp/build/bin/llama-server";
  std::string glove;
  fs::path dir;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The "retrieved passages" every request carries, then its own question.
const char* kPassages =
    "Answer from the passages and cite them as [n].\n\n"
    "[1] VPN error 809 after the Windows 11 update (Runbook > Network)\n"
    "The L2TP/IPsec connection fails with error 809 when the VPN server is behind NAT. Set the registry value "
    "AssumeUDPEncapsulationContextOnSendRule to 2 under HKLM\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent, "
    "then restart the IKEEXT and PolicyAgent services. If the error persists, check that UDP ports 500 and 4500 "
    "are open on the client firewall and that the pre-shared key matches the one in the VPN profile.\n\n"
    "[2] Outlook asks for the password again and again (Knowledge base > Email)\n"
    "Outlook prompts repeatedly when the cached credentials are stale or modern authentication is disabled. "
    "Remove the entries that start with MicrosoftOffice16 from Windows Credential Manager, make sure the "
    "EnableADAL value is 1 under HKCU\\Software\\Microsoft\\Office\\16.0\\Common\\Identity, and restart Outlook. "
    "Users with multi-factor authentication must approve the sign-in on their phone within 60 seconds.\n\n"
    "[3] Backup retention policy (Policy > Data)\n"
    "Daily backups are kept for 35 days, weekly backups for 12 weeks and monthly backups for 7 years. Restores "
    "older than 35 days need the approval of the data owner. Backups of personal drives are not kept after an "
    "employee leaves; their manager must request an export within 30 days of the leaving date.\n\n"
    "[4] Printer offline on floor 3 (Runbook > Facilities)\n"
    "When the floor 3 printer shows offline, power-cycle it, confirm it has the address 10.3.0.25, and re-add it "
    "from \\\\print01\\floor3-mfp. Jobs stuck in the queue are cleared with the Clear-PrintQueue script on print01.\n";
const char* kQuestions[] = {
    "How do I fix VPN error 809?", "Outlook keeps asking for my password, what do I do?",
    "How long are daily backups kept?", "The printer on floor 3 is offline.", "Which UDP ports does the VPN need?",
    "Who approves a restore older than 35 days?", "Where is the EnableADAL value set?",
    "What address should the floor 3 printer have?"};
constexpr int kNumQuestions = 8;
// Who asks: the question text starts with it, so that questions k and k + 8
// (the same text) differ from their first token on.
const char* kAskers[] = {"Alice", "Bruno", "Chen", "Dmitri", "Elif", "Fatima", "Goran", "Hiro", "Ines", "Jonas",
                         "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
                         "Ulla", "Viktor", "Wen", "Ximena", "Yusuf", "Zora"};
constexpr int kNumAskers = 26;

// Question k of a run (k = 0: the warm-up; each request then asks the next
// k, never one asked before on that server): the shared passages are a
// prefix-cache hit, the question is new, at 1 client as at 32, so TTFT at
// N clients compares with TTFT at one like for like.
std::string question(int k) {
  const int a = k % kNumAskers, round = k / kNumAskers;
  return std::string(kAskers[a]) + (round > 0 ? " (" + std::to_string(round + 1) + ")" : std::string()) +
         " asks: " + kQuestions[k % kNumQuestions];
}

// ---------------------------------------------------------------- HTTP client

struct StreamResult {
  bool ok = false;
  int status = 0;
  int completion_tokens = 0;
  int deltas = 0;
  double ttft_ms = 0;
  std::vector<double> gaps_ms;
  std::string error;
};

// One streaming chat completion; reads SSE "data:" lines as they arrive.
StreamResult stream_chat(uint16_t port, const std::string& body, int timeout_s) {
  StreamResult r;
  const int fd = connect_to(port);
  if (fd < 0) {
    r.error = "connect failed";
    return r;
  }
  const std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Connection: close\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
  const auto t0 = Clock::now();
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    r.error = "send failed";
    return r;
  }
  std::string raw, payload;
  bool head_done = false, chunked = false, done = false;
  Clock::time_point last;
  const auto deadline = t0 + std::chrono::seconds(timeout_s);
  size_t scan = 0;
  while (!done && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[8192];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    const auto now = Clock::now();
    raw.append(buf, static_cast<size_t>(n));
    if (!head_done) {
      const size_t end = raw.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const std::string head = raw.substr(0, end);
      r.status = std::atoi(head.c_str() + 9);
      std::string lower = head;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
      raw.erase(0, end + 4);
      head_done = true;
    }
    if (chunked) {
      for (;;) {
        const size_t eol = raw.find("\r\n");
        if (eol == std::string::npos) break;
        const size_t len = std::stoul(raw.substr(0, eol), nullptr, 16);
        if (raw.size() < eol + 2 + len + 2) break;
        payload.append(raw, eol + 2, len);
        raw.erase(0, eol + 2 + len + 2);
        if (len == 0) done = true;
      }
    } else {
      payload += raw;
      raw.clear();
    }
    // Complete lines of the SSE stream.
    for (;;) {
      const size_t eol = payload.find('\n', scan);
      if (eol == std::string::npos) break;
      std::string line = payload.substr(0, eol);
      payload.erase(0, eol + 1);
      scan = 0;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("data: ", 0) != 0) continue;
      const std::string data = line.substr(6);
      if (data == "[DONE]") {
        done = true;
        break;
      }
      const Json c = Json::parse(data, nullptr, false);
      if (!c.is_object()) continue;
      if (c.contains("error")) r.error = c["error"].dump();  // e.g. a prompt past the context
      if (c.contains("usage") && c["usage"].is_object() && c["usage"].contains("completion_tokens")) {
        r.completion_tokens = c["usage"]["completion_tokens"].get<int>();
      }
      if (!c.contains("choices") || !c["choices"].is_array() || c["choices"].empty()) continue;
      const Json& d = c["choices"][0]["delta"];
      if (!d.is_object() || !d.contains("content") || !d["content"].is_string() ||
          d["content"].get<std::string>().empty()) {
        continue;
      }
      if (r.deltas == 0) {
        r.ttft_ms = std::chrono::duration<double, std::milli>(now - t0).count();
      } else {
        r.gaps_ms.push_back(std::chrono::duration<double, std::milli>(now - last).count());
      }
      last = now;
      ++r.deltas;
    }
  }
  ::close(fd);
  // A stream that ends without text (an error event, an empty answer) is
  // not a measurement.
  r.ok = r.status == 200 && done && r.deltas > 0 && r.error.empty();
  if (!r.ok && r.error.empty()) {
    r.error = "status " + std::to_string(r.status) + (done ? (r.deltas == 0 ? ", no text" : "") : ", stream cut");
  }
  if (r.completion_tokens == 0) r.completion_tokens = r.deltas;
  return r;
}

std::string chat_body(int k, int max_tokens) {
  Json b{{"model", "m"},
         {"stream", true},
         {"stream_options", Json{{"include_usage", true}}},
         {"max_tokens", max_tokens},
         {"temperature", 0},
         {"messages", Json::array({Json{{"role", "user"},
                                        {"content", std::string(kPassages) + "\nQuestion: " + question(k)}}})}};
  return b.dump();
}

// ---------------------------------------------------------------- servers

struct Server {
  pid_t pid = -1;
  uint16_t port = 0;
};

long peak_rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

void stop(Server& s) {
  if (s.pid <= 0) return;
  ::kill(s.pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int st = 0;
    if (waitpid(s.pid, &st, WNOHANG) == s.pid) {
      s.pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(s.pid, SIGKILL);
  waitpid(s.pid, nullptr, 0);
  s.pid = -1;
}

uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

bool wait_ready(const Server& s, const std::string& probe, int timeout_s, const fs::path& log) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    int st = 0;
    if (waitpid(s.pid, &st, WNOHANG) == s.pid) {
      std::fprintf(stderr, "server exited; log %s:\n%s\n", log.c_str(), ragd::bench::slurp(log).c_str());
      return false;
    }
    const int fd = connect_to(s.port);
    if (fd >= 0) {
      const std::string req = "GET " + probe + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
      char buf[256] = {0};
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 2000) > 0 && ::recv(fd, buf, sizeof buf - 1, 0) > 12) {
        ::close(fd);
        if (std::strncmp(buf + 9, "200", 3) == 0) return true;
      } else {
        ::close(fd);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

Server start_server(const std::string& kind, const std::string& model, int n, const Args& a, const fs::path& log) {
  Server s;
  s.port = free_port();
  std::vector<std::string> argv;
  if (kind == "ragd-no-llm") {
    const fs::path data = a.dir / ("data-" + std::to_string(s.port));
    argv = {a.ragd,    "serve",       "--listen",    "127.0.0.1:" + std::to_string(s.port),
            "--data",  data.string(), "--threads",   "2",
            "--request-timeout", "0", "--log-format", "json"};
    if (!a.glove.empty()) argv.insert(argv.end(), {"--glove", a.glove});
  } else if (kind == "ragd") {
    const fs::path data = a.dir / ("data-" + std::to_string(s.port));
    argv = {a.ragd,           "serve",         "--listen",        "127.0.0.1:" + std::to_string(s.port),
            "--data",         data.string(),   "--llm",           model,
            "--parallel",     std::to_string(n), "--max-concurrent", std::to_string(n),
            "--llm-threads",  std::to_string(a.threads), "--threads", "2",
            "--llm-ctx",      std::to_string(a.ctx), "--max-queue", "64",
            "--request-timeout", "0", "--log-format", "json"};
    if (!a.glove.empty()) argv.insert(argv.end(), {"--glove", a.glove});
  } else {
    argv = {a.llama_server, "-m",  model, "--host", "127.0.0.1", "--port", std::to_string(s.port),
            "-np",          std::to_string(n), "-cb", "-t", std::to_string(a.threads), "-tb", std::to_string(a.threads),
            "-c",           std::to_string(a.ctx * n), "--no-webui"};
  }
  s.pid = ragd::bench::spawn(argv, log);
  return s;
}

// Resident kB of a process by what is mapped: the model file, the GloVe
// file, other files (the binary, libraries, the store's files) and
// anonymous memory (heap, malloc's mmaps, the KV caches, thread stacks).
struct SmapsSplit {
  long model_kb = 0, glove_kb = 0, files_kb = 0, anon_kb = 0;
};

SmapsSplit smaps_split(pid_t pid, const std::string& model, const std::string& glove) {
  SmapsSplit out;
  std::error_code ec;
  const std::string model_path = fs::weakly_canonical(model, ec).string();
  const std::string glove_path = glove.empty() ? "" : fs::weakly_canonical(glove, ec).string();
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  long* bucket = &out.anon_kb;
  for (std::string line; std::getline(in, line);) {
    const size_t sp = line.find(' ');
    const std::string first = line.substr(0, sp);
    if (first.find('-') != std::string::npos && first.find(':') == std::string::npos) {
      // "start-end perms offset dev inode [path]"
      std::istringstream hs(line);
      std::string range, perms, offset, dev, inode, path;
      hs >> range >> perms >> offset >> dev >> inode;
      std::getline(hs, path);
      path.erase(0, path.find_first_not_of(' '));
      if (!path.empty() && path == model_path) bucket = &out.model_kb;
      else if (!path.empty() && path == glove_path) bucket = &out.glove_kb;
      else if (!path.empty() && path[0] == '/') bucket = &out.files_kb;
      else bucket = &out.anon_kb;
    } else if (first == "Rss:") {
      *bucket += std::atol(line.c_str() + 4);
    }
  }
  return out;
}

struct RunFigures {
  bool ok = false;
  double tok_s = 0, ttft_p50 = 0, ttft_p99 = 0, itl_p50 = 0, itl_p99 = 0;
  long rss_kb = 0;
  // Resident memory after the clients' requests, by mapping (smaps), and
  // malloc's view of the heap (ragd's /metrics), in kB.
  SmapsSplit smaps;
  double malloc_in_use_kb = 0, malloc_free_kb = 0, prefix_cache_kb = 0;
  int tokens = 0, failed = 0;
  // ragd's batch scheduler during the clients' requests (from /metrics).
  double passes = 0, rows = 0, decode_rows = 0;
};

// GET path; the response body, or "" on any failure.
std::string http_get(uint16_t port, const std::string& path) {
  const int fd = connect_to(port);
  if (fd < 0) return "";
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::string raw;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[8192];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const size_t body = raw.find("\r\n\r\n");
  return body == std::string::npos ? "" : raw.substr(body + 4);
}

// The value of an unlabelled Prometheus sample, or 0.
double metric(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? 0.0 : std::atof(text.c_str() + at + name.size() + 2);
}

RunFigures run_clients(const std::string& kind, const std::string& model, int n, const Args& a) {
  RunFigures f;
  const fs::path log = a.dir / (kind + "-" + std::to_string(n) + ".log");
  fs::remove(log);
  Server s = start_server(kind, model, n, a, log);
  if (!wait_ready(s, kind == "ragd" ? "/healthz" : "/health", 300, log)) {
    stop(s);
    return f;
  }
  // Warm-up (page the weights in, build kernels' scratch).
  stream_chat(s.port, chat_body(0, 8), 600);
  const std::string before = kind == "ragd" ? http_get(s.port, "/metrics") : "";
  std::vector<StreamResult> results(static_cast<size_t>(n * a.requests));
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < n; ++c) {
    clients.emplace_back([&, c] {
      for (int r = 0; r < a.requests; ++r) {
        const int k = 1 + c * a.requests + r;  // 0 was the warm-up's
        results[static_cast<size_t>(k - 1)] = stream_chat(s.port, chat_body(k, a.max_tokens), 1800);
      }
    });
  }
  for (auto& t : clients) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  if (kind == "ragd") {
    const std::string after = http_get(s.port, "/metrics");
    for (auto [name, out] : {std::pair{"ragd_llm_batch_passes_total", &f.passes},
                             std::pair{"ragd_llm_batch_rows_total", &f.rows},
                             std::pair{"ragd_llm_batch_decode_rows_total", &f.decode_rows}}) {
      *out = metric(after, name) - metric(before, name);
    }
    f.malloc_in_use_kb = metric(after, "ragd_malloc_bytes{state=\"in_use\"}") / 1024.0;
    f.malloc_free_kb = metric(after, "ragd_malloc_bytes{state=\"free\"}") / 1024.0;
    f.prefix_cache_kb = metric(after, "ragd_llm_prefix_cache_bytes") / 1024.0;
  }
  f.smaps = smaps_split(s.pid, model, kind == "ragd" ? a.glove : "");
  f.rss_kb = peak_rss_kb(s.pid);
  stop(s);
  std::vector<double> ttft, gaps;
  for (const auto& r : results) {
    if (!r.ok) {
      ++f.failed;
      std::fprintf(stderr, "  %s request failed: %s\n", kind.c_str(), r.error.c_str());
      continue;
    }
    f.tokens += r.completion_tokens;
    ttft.push_back(r.ttft_ms);
    gaps.insert(gaps.end(), r.gaps_ms.begin(), r.gaps_ms.end());
  }
  f.ok = f.failed == 0;
  f.tok_s = f.tokens / wall;
  f.ttft_p50 = ragd::bench::percentile(ttft, 0.5);
  f.ttft_p99 = ragd::bench::percentile(ttft, 0.99);
  f.itl_p50 = ragd::bench::percentile(gaps, 0.5);
  f.itl_p99 = ragd::bench::percentile(gaps, 0.99);
  return f;
}

// POST path with a JSON body; the HTTP status, or 0 on any failure.
int http_post(uint16_t port, const std::string& path, const std::string& body) {
  const int fd = connect_to(port);
  if (fd < 0) return 0;
  const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string raw;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[8192];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return raw.size() > 12 ? std::atoi(raw.c_str() + 9) : 0;
}

// ragd's own memory without the LLM: the same command (store, GloVe
// vectors, HTTP threads) without --llm, after one search per question.
// Peak RSS in kB, or -1.
long no_llm_baseline_kb(const Args& a) {
  const fs::path log = a.dir / "ragd-no-llm.log";
  fs::remove(log);
  Server s = start_server("ragd-no-llm", "", 1, a, log);
  if (!wait_ready(s, "/healthz", 300, log)) {
    stop(s);
    return -1;
  }
  for (const char* q : kQuestions) http_post(s.port, "/v1/search", Json{{"query", q}}.dump());
  const long kb = peak_rss_kb(s.pid);
  stop(s);
  return kb;
}

// The memory bound for ragd at n sequences: the model file plus n
// full KV caches (ctx positions each, f16 as ragd and llama-server keep
// them), plus 15%; printed beside the peak RSS, also less ragd's no-LLM
// baseline (what the retriever costs without a model).
void print_memory_bound(const std::string& model, int n, const Args& a, const RunFigures& f, long baseline_kb) {
  auto m = ragd::DecoderModel::load(model);
  if (!m.is_ok()) return;
  const ragd::DecoderConfig& c = (*m)->config();
  const double mb = 1e6;
  const double file = static_cast<double>(fs::file_size(model));
  const double kv = static_cast<double>(c.n_layer) * 2.0 * a.ctx * c.n_head_kv * c.head_dim * 2.0;
  const double bound = (file + n * kv) * 1.15;
  const double peak = static_cast<double>(f.rss_kb) * 1024.0;
  std::printf("       memory (MB = 10^6 bytes; the table's RSS column is MiB): file %.1f MB + %d x KV %.1f MB (%d positions, f16) = %.1f MB, +15%% = %.1f MB; "
              "peak RSS %.1f MB: %s\n",
              file / mb, n, kv / mb, a.ctx, (file + n * kv) / mb, bound / mb, peak / mb,
              peak <= bound ? "within" : "over");
  if (baseline_kb > 0) {
    const double base = static_cast<double>(baseline_kb) * 1024.0;
    std::printf("       ragd without --llm (store, GloVe, HTTP) peaks at %.1f MB; peak RSS less that: %.1f MB: %s\n",
                base / mb, (peak - base) / mb, peak - base <= bound ? "within" : "over");
  }
  const SmapsSplit& sp = f.smaps;
  std::printf("       resident after the requests (MB): model file %.1f, GloVe file %.1f, other files %.1f, "
              "anonymous %.1f (malloc in use %.1f, free in its arenas %.1f; prefix cache %.1f)\n",
              sp.model_kb * 1024.0 / mb, sp.glove_kb * 1024.0 / mb, sp.files_kb * 1024.0 / mb,
              sp.anon_kb * 1024.0 / mb, f.malloc_in_use_kb * 1024.0 / mb, f.malloc_free_kb * 1024.0 / mb,
              f.prefix_cache_kb * 1024.0 / mb);
}

// The prefix cache on one ragd server (--parallel 1): TTFT of a request whose
// ~300-token passages nothing cached yet, then of requests sharing them.
void prefix_cache_ttft(const std::string& model, const Args& a) {
  const fs::path log = a.dir / "ragd-prefix.log";
  Server s = start_server("ragd", model, 1, a, log);
  if (!wait_ready(s, "/healthz", 300, log)) {
    stop(s);
    return;
  }
  // Warm-up without the passages (pages the weights in).
  Json w{{"model", "m"}, {"stream", true}, {"max_tokens", 4}, {"temperature", 0},
         {"messages", Json::array({Json{{"role", "user"}, {"content", "hello"}}})}};
  stream_chat(s.port, w.dump(), 600);
  std::vector<double> miss, hit;
  for (int round = 0; round < 3; ++round) {
    // A passage text no earlier request had: its first request misses.
    Json b = Json::parse(chat_body(0, 4));
    b["messages"][0]["content"] = "Round " + std::to_string(round) + ". " + b["messages"][0]["content"].get<std::string>();
    miss.push_back(stream_chat(s.port, b.dump(), 600).ttft_ms);
    for (int q = 1; q < 4; ++q) {
      Json h = Json::parse(chat_body(q, 4));
      h["messages"][0]["content"] = "Round " + std::to_string(round) + ". " + h["messages"][0]["content"].get<std::string>();
      hit.push_back(stream_chat(s.port, h.dump(), 600).ttft_ms);
    }
  }
  stop(s);
  const double m = ragd::bench::median(miss), h = ragd::bench::median(hit);
  std::printf("prefix cache (ragd, 1 client): TTFT median %.0f ms on a miss, %.0f ms on a hit (shared passages): "
              "%.0f%% less\n",
              m, h, m > 0 ? 100.0 * (m - h) / m : 0.0);
}

// ---------------------------------------------------------------- lookup decoding

void lookup_speed(const std::string& model_path, const Args& a) {
  auto model = ragd::DecoderModel::load(model_path);
  if (!model.is_ok()) {
    std::printf("  lookup: %s\n", model.status().to_string().c_str());
    return;
  }
  auto tok = ragd::Tokenizer::from_gguf((*model)->gguf());
  if (!tok.is_ok()) return;
  ragd::Generator gen(*model, std::shared_ptr<const ragd::Tokenizer>(std::move(tok).value()));
  const std::string prompt = std::string(kPassages) + "\nQuestion: " + kQuestions[0] + "\nAnswer:";
  ragd::DecoderSessionOptions so;
  so.n_ctx = a.ctx + a.lookup_tokens;
  so.n_threads = a.threads;
  for (int draft : {0, 8, 0, 8}) {
    ragd::DecoderSession s(*model, so);
    ragd::GenerateOptions go;
    go.max_tokens = a.lookup_tokens;
    go.sampling.temperature = 0;
    go.stop_at_eog = false;
    go.lookup_draft = draft;
    // Time generation only: the prompt first, then the answer.
    auto ids = gen.tokenizer()->tokenize(prompt, false, true);
    std::vector<float> logits;
    const int32_t last = ids.back();
    ids.pop_back();
    if (const ragd::Status st = s.eval(ids, &logits); !st.is_ok()) {
      std::printf("  lookup: %s\n", st.to_string().c_str());
      return;
    }
    const auto t0 = Clock::now();
    auto g = gen.generate(s, std::span<const int32_t>(&last, 1), go);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!g.is_ok()) return;
    std::printf("  lookup_draft %d: %zu tokens in %.2f s = %.1f tok/s (%d passes with drafts, %d drafts kept)\n",
                draft, g->tokens.size(), secs, static_cast<double>(g->tokens.size()) / secs, g->lookup_passes,
                g->lookup_accepted);
  }
}

// ---------------------------------------------------------------- decode passes

int argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

double median_ms(std::vector<double> v) { return ragd::bench::median(v); }

void decode_passes(const std::string& model_path, const Args& a) {
  auto model = ragd::DecoderModel::load(model_path);
  if (!model.is_ok()) {
    std::printf("  passes: %s\n", model.status().to_string().c_str());
    return;
  }
  auto tok = ragd::Tokenizer::from_gguf((*model)->gguf());
  if (!tok.is_ok()) return;
  const int n = a.passes;
  const int reps = 24;
  ragd::DecoderSessionOptions so;
  so.n_ctx = a.ctx;
  so.n_threads = a.threads;
  std::vector<std::unique_ptr<ragd::DecoderSession>> sessions;
  std::vector<int32_t> next(static_cast<size_t>(n));
  std::vector<std::vector<float>> logits(static_cast<size_t>(n));
  // The passages' tokens are evaluated once and copied into every session
  // (as the prefix cache does), then each session evaluates its question.
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < n; ++i) {
    prompts.push_back((*tok)->tokenize(
        std::string(kPassages) + "\nQuestion: " + question(i + 1) + "\nAnswer:", false, true));
  }
  size_t common = prompts[0].size() - 1;
  for (const auto& p : prompts) {
    common = std::min(common, static_cast<size_t>(std::mismatch(p.begin(), p.end() - 1, prompts[0].begin()).first -
                                                  p.begin()));
  }
  std::vector<uint8_t> prefix;
  {
    ragd::DecoderSession s(*model, so);
    std::vector<float> ignored;
    if (const ragd::Status st = s.eval(std::span<const int32_t>(prompts[0].data(), common), &ignored); !st.is_ok()) {
      std::printf("  passes: %s\n", st.to_string().c_str());
      return;
    }
    prefix = s.export_kv(static_cast<int>(common));
  }
  for (int i = 0; i < n; ++i) {
    const auto& ids = prompts[static_cast<size_t>(i)];
    sessions.push_back(std::make_unique<ragd::DecoderSession>(*model, so));
    ragd::Status st = sessions.back()->import_kv(prefix, static_cast<int>(common), static_cast<int>(common));
    if (st.is_ok()) {
      st = sessions.back()->eval(std::span<const int32_t>(ids.data() + common, ids.size() - common),
                                 &logits[static_cast<size_t>(i)]);
    }
    if (!st.is_ok()) {
      std::printf("  passes: %s\n", st.to_string().c_str());
      return;
    }
    next[static_cast<size_t>(i)] = argmax(logits[static_cast<size_t>(i)]);
  }
  const int prompt_tokens = static_cast<int>(prompts[0].size());
  ragd::DecoderBatch batch(*model, a.threads);
  auto pass = [&](int rows) {
    std::vector<ragd::DecodeItem> items;
    for (int i = 0; i < rows; ++i) {
      const size_t k = static_cast<size_t>(i);
      items.push_back({sessions[k].get(), std::span<const int32_t>(&next[k], 1), logits[k].data(), nullptr});
    }
    const auto t0 = Clock::now();
    const ragd::Status st = batch.forward(items);
    for (int i = 0; i < rows; ++i) next[static_cast<size_t>(i)] = argmax(logits[static_cast<size_t>(i)]);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return st.is_ok() ? ms : -1.0;
  };
  std::vector<double> one, all;
  pass(1);
  pass(n);
  for (int r = 0; r < reps; ++r) {
    one.push_back(pass(1));
    all.push_back(pass(n));
  }
  const double m1 = median_ms(one), mn = median_ms(all);
  std::printf("decode passes, in process, %d threads, %d-token prompts, %d passes each, alternating:\n", a.threads,
              prompt_tokens, reps);
  std::printf("  1 row: %.2f ms   %d rows: %.2f ms   ratio %.2fx (at most %.2fx for 4x one stream)\n", m1, n, mn,
              mn / m1, n / 4.0);

  // Each weight matrix shape alone, random Q8_0 rows.
  const ragd::DecoderConfig& c = (*model)->config();
  const int E = c.n_embd, F = c.n_ff, q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  struct Shape {
    const char* name;
    int rows, cols, per_pass;
  };
  const Shape shapes[] = {{"q+o", q_dim, E, 2 * c.n_layer}, {"k+v", kv_dim, E, 2 * c.n_layer},
                          {"gate+up", F, E, 2 * c.n_layer}, {"down", E, F, c.n_layer},
                          {"output", c.n_vocab, E, 1}};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> q(-127, 127);
  ragd::ComputePool pool(a.threads);
  std::printf("  weight shapes (random Q8_0, Linear::forward_rows), median ms per call and per pass:\n");
  double sum1 = 0, sumn = 0;
  for (const Shape& s : shapes) {
    const int64_t nb = s.cols / 32;
    std::vector<ragd::BlockQ8_0> w(static_cast<size_t>(s.rows * nb));
    for (auto& b : w) {
      b.d = ragd::fp32_to_fp16(0.01f);
      for (auto& v : b.qs) v = static_cast<int8_t>(q(rng));
    }
    auto lin = ragd::Linear::create(ragd::WeightType::kQ8_0, w.data(), s.rows, s.cols, s.name);
    if (!lin.is_ok()) return;
    std::vector<float> x(static_cast<size_t>(n) * s.cols), y(static_cast<size_t>(n) * s.rows);
    std::normal_distribution<float> g;
    for (float& v : x) v = g(rng);
    ragd::ComputePool::Scope scope(&pool);
    auto time_rows = [&](int m) {
      std::vector<double> t;
      for (int r = 0; r < 2 * reps; ++r) {
        const auto t0 = Clock::now();
        (*lin)->forward_rows(x.data(), m, y.data(), a.threads);
        t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      return median_ms(t);
    };
    time_rows(n);
    const double t1 = time_rows(1), tn = time_rows(n);
    sum1 += t1 * s.per_pass;
    sumn += tn * s.per_pass;
    std::printf("    %-8s %6d x %-5d  1 row %.3f ms (x%d = %.2f)  %d rows %.3f ms (x%d = %.2f)  %.2fx\n", s.name,
                s.rows, s.cols, t1, s.per_pass, t1 * s.per_pass, n, tn, s.per_pass, tn * s.per_pass, tn / t1);
  }
  std::printf("    all matrices of a pass: 1 row %.2f ms, %d rows %.2f ms\n", sum1, n, sumn);
}

// --passes N --arrivals: N requests arriving at once, as at N clients over
// HTTP: each prompt (chat template, passages, a new question) gets the
// passages' KV from the prefix cache, then the scheduler's passes evaluate
// the questions' rows (first come first served, at most `prefill` prompt
// tokens a pass). Prints what a copy of the passages into each session
// costs (fresh and reused sessions: the restore before shared prefixes)
// and what sharing the one copy costs (DecoderSession::share_kv(), the
// prefix cache's restore now), the passes' cost with the passages shared,
// and how long the median arrival waits for its first logits (restores
// not counted).
void arrival_passes(const std::string& model_path, const Args& a) {
  auto model = ragd::DecoderModel::load(model_path);
  if (!model.is_ok()) {
    std::printf("  arrivals: %s\n", model.status().to_string().c_str());
    return;
  }
  auto tok = ragd::Tokenizer::from_gguf((*model)->gguf());
  if (!tok.is_ok()) return;
  ragd::ChatTemplateKind tmpl = ragd::ChatTemplateKind::kChatML;  // the answerer's default
  if (auto t = (*model)->gguf().get_str("tokenizer.chat_template"); t.is_ok()) {
    if (auto k = ragd::detect_chat_template(t.value()); k.is_ok()) tmpl = k.value();
  }
  const int n = a.passes;
  const int reps = a.arrival_reps;
  const size_t prefill = static_cast<size_t>(std::max(1, a.prefill));  // BatchSchedulerOptions::prefill_tokens
  ragd::DecoderSessionOptions so;
  so.n_ctx = a.ctx;
  so.n_threads = a.threads;
  std::vector<std::vector<int32_t>> prompts;
  for (int k = 0; k <= n; ++k) {  // 0: the warm-up, whose prefix is cached
    const ragd::ChatMessage msg{"user", std::string(kPassages) + "\nQuestion: " + question(k)};
    prompts.push_back((*tok)->tokenize(ragd::apply_chat_template(tmpl, std::span(&msg, 1), true), true, true));
  }
  // The cached prefix each arrival restores: what it shares with the warm-up.
  std::vector<size_t> common;
  for (int k = 1; k <= n; ++k) {
    const auto& p = prompts[static_cast<size_t>(k)];
    const size_t lim = std::min(p.size() - 1, prompts[0].size());
    common.push_back(static_cast<size_t>(std::mismatch(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(lim),
                                                       prompts[0].begin()).first - p.begin()));
  }
  auto prefix_rows = std::make_shared<std::vector<uint8_t>>();
  std::vector<uint8_t>& prefix = *prefix_rows;
  const int prefix_n = static_cast<int>(*std::max_element(common.begin(), common.end()));
  {
    ragd::DecoderSession s(*model, so);
    std::vector<float> ignored;
    if (const ragd::Status st = s.eval(std::span<const int32_t>(prompts[0].data(), static_cast<size_t>(prefix_n)),
                                       &ignored);
        !st.is_ok()) {
      std::printf("  arrivals: %s\n", st.to_string().c_str());
      return;
    }
    prefix = s.export_kv(prefix_n);
  }
  std::vector<std::unique_ptr<ragd::DecoderSession>> sessions;
  std::vector<double> fresh_ms, reused_ms;
  for (int i = 0; i < n; ++i) {
    sessions.push_back(std::make_unique<ragd::DecoderSession>(*model, so));
    const auto t0 = Clock::now();
    const ragd::Status st = sessions.back()->import_kv(prefix, prefix_n, static_cast<int>(common[static_cast<size_t>(i)]));
    fresh_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!st.is_ok()) {
      std::printf("  arrivals: %s\n", st.to_string().c_str());
      return;
    }
  }
  for (int i = 0; i < n; ++i) {
    sessions[static_cast<size_t>(i)]->reset();
    const auto t0 = Clock::now();
    (void)sessions[static_cast<size_t>(i)]->import_kv(prefix, prefix_n, static_cast<int>(common[static_cast<size_t>(i)]));
    reused_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  // What the passes use: every session reads the one copy of the passages.
  std::vector<double> share_ms;
  for (int i = 0; i < n; ++i) {
    sessions[static_cast<size_t>(i)] = std::make_unique<ragd::DecoderSession>(*model, so);
    const ragd::SharedKvRows part{prefix, prefix_n, 0, static_cast<int>(common[static_cast<size_t>(i)])};
    const auto t0 = Clock::now();
    const ragd::Status st = sessions[static_cast<size_t>(i)]->share_kv(prefix_rows, std::span(&part, 1));
    share_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!st.is_ok()) {
      std::printf("  arrivals: %s\n", st.to_string().c_str());
      return;
    }
  }
  // The scheduler's passes over the arrivals' rows.
  std::vector<std::vector<size_t>> passes;  // arrivals per pass
  size_t rows_all = 0;
  for (int i = 0; i < n;) {
    std::vector<size_t> p;
    size_t rows = 0;
    for (; i < n; ++i) {
      const size_t r = prompts[static_cast<size_t>(i + 1)].size() - common[static_cast<size_t>(i)];
      if (rows > 0 && rows + r > prefill) break;
      p.push_back(static_cast<size_t>(i));
      rows += r;
    }
    rows_all += rows;
    passes.push_back(std::move(p));
  }
  ragd::DecoderBatch batch(*model, a.threads);
  std::vector<std::vector<float>> logits(static_cast<size_t>(n), std::vector<float>(static_cast<size_t>((*model)->config().n_vocab)));
  std::vector<std::vector<double>> pass_ms(passes.size());
  std::vector<double> one_ms;
  int32_t one_token = prompts[1].back();
  for (int r = 0; r <= reps; ++r) {  // r = 0: a warm-up
    for (size_t i = 0; i < sessions.size(); ++i) sessions[i]->truncate(static_cast<int>(common[i]));
    for (size_t pi = 0; pi < passes.size(); ++pi) {
      std::vector<ragd::DecodeItem> items;
      for (size_t i : passes[pi]) {
        const auto& p = prompts[i + 1];
        items.push_back({sessions[i].get(), std::span<const int32_t>(p).subspan(common[i]), logits[i].data(), nullptr});
      }
      const auto t0 = Clock::now();
      const ragd::Status st = batch.forward(items);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!st.is_ok()) {
        std::printf("  arrivals: %s\n", st.to_string().c_str());
        return;
      }
      if (r > 0) pass_ms[pi].push_back(ms);
    }
    // A one-row pass (a decode step of one sequence) for scale.
    const ragd::DecodeItem step{sessions[0].get(), std::span<const int32_t>(&one_token, 1), logits[0].data(), nullptr};
    const auto t0 = Clock::now();
    (void)batch.forward(std::span(&step, 1));
    if (r > 0) one_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::printf("arrivals, in process, %d threads: %d requests at once, prompts of %zu tokens, %d restored from the "
              "prefix (%.1f MB each), %zu question rows in all; medians of %d:\n",
              a.threads, n, prompts[1].size(), prefix_n, static_cast<double>(prefix.size()) / 1e6, rows_all, reps);
  std::printf("  restore per session: a copy %.2f ms into a new session, %.2f ms into a reused one; shared %.3f ms "
              "(the passes below read the shared copy)\n",
              median_ms(fresh_ms), median_ms(reused_ms), median_ms(share_ms));
  double until_median = 0;
  for (size_t pi = 0, seen = 0; pi < passes.size(); ++pi) {
    size_t rows = 0;
    for (size_t i : passes[pi]) rows += prompts[i + 1].size() - common[i];
    const double ms = median_ms(pass_ms[pi]);
    std::printf("  pass %zu: %zu arrivals, %zu rows: %.2f ms (%.3f ms a row)\n", pi + 1, passes[pi].size(), rows, ms,
                ms / static_cast<double>(rows));
    if (seen < static_cast<size_t>(n + 1) / 2) until_median += ms;
    seen += passes[pi].size();
  }
  std::printf("  1-row pass: %.2f ms; the median arrival's first logits after %.1f ms of passes (%.1f one-row "
              "passes)\n",
              median_ms(one_ms), until_median, until_median / median_ms(one_ms));
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--models") a.models = split(val());
    else if (k == "--clients") {
      a.clients.clear();
      for (const auto& c : split(val())) a.clients.push_back(std::atoi(c.c_str()));
    } else if (k == "--servers") a.servers = split(val());
    else if (k == "--threads") a.threads = std::atoi(val().c_str());
    else if (k == "--ctx") a.ctx = std::atoi(val().c_str());
    else if (k == "--max-tokens") a.max_tokens = std::atoi(val().c_str());
    else if (k == "--requests") a.requests = std::atoi(val().c_str());
    else if (k == "--lookup-tokens") a.lookup_tokens = std::atoi(val().c_str());
    else if (k == "--ragd") a.ragd = val();
    else if (k == "--llama-server") a.llama_server = val();
    else if (k == "--glove") a.glove = val();
    else if (k == "--dir") a.dir = val();
    else if (k == "--passes") a.passes = std::atoi(val().c_str());
    else if (k == "--arrivals") a.arrivals = true;
    else if (k == "--arrival-reps") a.arrival_reps = std::max(1, std::atoi(val().c_str()));
    else if (k == "--prefill") a.prefill = std::max(1, std::atoi(val().c_str()));
    else if (k == "--no-prefix-test") a.prefix_test = false;
    else {
      std::fprintf(stderr, "unknown argument %s (see the header of bench/serve_bench.cpp)\n", k.c_str());
      return 2;
    }
  }
  if (a.ragd.empty()) a.ragd = (fs::absolute(argv[0]).parent_path().parent_path() / "api" / "ragd").string();
  if (a.models.empty()) {
    std::fprintf(stderr, "--models A.gguf[,B.gguf] is required\n");
    return 2;
  }
  if (a.passes > 0) {
    for (const auto& m : a.models) {
      std::printf("== %s\n", m.c_str());
      if (a.arrivals) {
        arrival_passes(m, a);
      } else {
        decode_passes(m, a);
      }
    }
    return 0;
  }
  if (a.dir.empty()) a.dir = fs::temp_directory_path() / ("ragd_serve_bench_" + std::to_string(getpid()));
  fs::create_directories(a.dir);
  std::printf("serve_bench: %d threads, %d positions per sequence, max_tokens %d, %d requests per client\n",
              a.threads, a.ctx, a.max_tokens, a.requests);
  std::printf("prompt (user message): the passages below, then \"Question: <name> asks: <q>\", a name not used "
              "before on the server (%d names, then \"<name> (2)\"...), q from:\n", kNumAskers);
  for (const char* q : kQuestions) std::printf("  - %s\n", q);
  std::printf("passages:\n%s\n", kPassages);
  const bool with_ragd = std::find(a.servers.begin(), a.servers.end(), "ragd") != a.servers.end();
  const long baseline_kb = with_ragd ? no_llm_baseline_kb(a) : -1;
  for (const auto& m : a.models) {
    std::printf("\n== %s (%.1f MB)\n", m.c_str(), static_cast<double>(fs::file_size(m)) / 1e6);
    std::printf("%-6s %7s %10s %10s %10s %9s %9s %9s %6s\n", "server", "clients", "tok/s", "TTFT p50", "TTFT p99",
                "ITL p50", "ITL p99", "RSS MB", "tokens");
    std::vector<std::pair<std::string, std::pair<int, double>>> ttft_p50;  // (server, (clients, ms))
    for (int n : a.clients) {
      for (const auto& kind : a.servers) {
        const RunFigures f = run_clients(kind, m, n, a);
        if (f.ok) ttft_p50.push_back({kind, {n, f.ttft_p50}});
        std::printf("%-6s %7d %10.1f %8.0fms %8.0fms %7.1fms %7.1fms %9.1f %6d%s\n", kind.c_str(), n, f.tok_s,
                    f.ttft_p50, f.ttft_p99, f.itl_p50, f.itl_p99, static_cast<double>(f.rss_kb) / 1024.0, f.tokens,
                    f.ok ? "" : "  (failures)");
        if (f.passes > 0) {
          std::printf("       %.0f passes: %.1f rows per pass, %.1f of them decode steps\n", f.passes,
                      f.rows / f.passes, f.decode_rows / f.passes);
        }
        if (kind == "ragd" && f.rss_kb > 0) print_memory_bound(m, n, a, f, baseline_kb);
        std::fflush(stdout);
      }
    }
    // TTFT p50 at N clients over TTFT p50 at one (issue 14: at most 3x at 16).
    for (const auto& kind : a.servers) {
      const auto one = std::find_if(ttft_p50.begin(), ttft_p50.end(),
                                    [&](const auto& e) { return e.first == kind && e.second.first == 1; });
      if (one == ttft_p50.end() || one->second.second <= 0) continue;
      std::printf("%s: TTFT p50 at N / at 1 client:", kind.c_str());
      for (const auto& e : ttft_p50) {
        if (e.first == kind && e.second.first != 1) {
          std::printf("  %d: %.2fx", e.second.first, e.second.second / one->second.second);
        }
      }
      std::printf("\n");
    }
    if (with_ragd && a.prefix_test) prefix_cache_ttft(m, a);
    if (a.lookup_tokens > 0) {
      std::printf("lookup decoding, in process, greedy, %d new tokens after the prompt above:\n", a.lookup_tokens);
      lookup_speed(m, a);
    }
  }
  return 0;
}
