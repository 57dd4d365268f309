// Serving figures for issue 4, measured over real sockets against a real
// `ragd serve --llm`, printed side by side in one run.
//
// Run from the repository root (build dir "build" below; any works):
//
//   build/bench/answer_bench [--ragd PATH] [--kb DIR]... [--questions FILE] [--glove FILE] [--dir DIR]
//                            [--clients 1,4,16] [--requests N] [--max-tokens N] [--llm-ctx N]
//                            [--llm-threads T] [--max-concurrent N] [--prefill-samples N]
//                            [--wrk-seconds S] [--wrk-connections C] [--wrk-threads T]
//                            [--search-only] [--soak SECONDS]
//
//   --ragd           the ragd binary. Default: $RAGD_BIN, else <this binary's dir>/../api/ragd.
//   --kb             a crawl root to ingest; repeatable. Default: examples/kb and
//                    <this binary's dir>/../examples/kb-office (the generated PDF/DOCX part).
//   --questions      JSONL with "query" and "in_domain". Default: examples/kb-eval/questions.jsonl.
//   --dir            work dir (model, store, logs). Default: <temp>/ragd-answer-bench.
//   --clients        concurrent streaming /v1/answer clients, one level after another. Default: 1,4,16.
//   --requests       answers per level, at least one per client. Default: 4 (so 4, 4, 16).
//   --max-tokens     max_tokens per answer. Default: 16.
//   --llm-ctx        the server's --llm-ctx (prompt window; packing fills it). Default: 512.
//   --llm-threads    threads per generation, in the server and for the direct prefill.
//                    Default: 1 (on a shared, loaded machine two OpenMP threads measure the
//                    scheduler: a 995-token prefill did not finish in 120 s).
//   --max-concurrent generations at once in the server (the rest queue). Default: 1.
//   --prefill-samples questions for the overhead comparison. Default: 3.
//   --wrk-*          the /v1/search load. Default: 10 s, 64 connections, 2 threads.
//   --search-only    skip the answer sections (quick /v1/search iterations).
//   --soak SECONDS   afterwards, mixed load (2 streaming answer clients, 8 search clients;
//                    10 search clients with --search-only)
//                    for SECONDS, server RSS printed every 10 s, with malloc's in-use and
//                    free bytes from /metrics (ragd_malloc_bytes) when the server has them.
//                    Default: 0 (off).
//
// What it does:
// 1. Writes a SmolLM2-135M-shaped decoder with random weights (30 layers,
//    576 wide, 9/3 heads, ffn 1536, 49152 tokens, F16) with the shared tiny
//    model writer of tests/generate/llm_test_support.h; the vocabulary holds
//    the sample KB's words. Reused when present.
// 2. Ingests the KB into a fresh store and starts `ragd serve --llm`.
// 3. /v1/search under wrk (a second process) with a Lua script that POSTs
//    the evaluation questions (some with a kind filter, some lexical-only):
//    req/s, p50/p90/p99/max, 503s and other non-2xx, socket errors.
// 4. Time to first token vs the model's prefill, one request at a time:
//    the server's prompt_ready_ms (answer start -> prompt packed, from the
//    final SSE event: what the answer path adds), and as a cross-check its
//    first_token_ms and the client's TTFT over HTTP, each minus a direct
//    prefill (+ first token) of the same prompt token count through the
//    runtime in this process (same threads, same 64-token prompt chunks),
//    measured right after each request while the server is idle.
// 5. Streaming /v1/answer at each client count: TTFT (request sent -> first
//    delta event) and total, p50/p90/p99, req/s, 503s, failures.
// 6. The server's peak RSS (VmHWM) after each section.
// The default run takes about 3-5 minutes on 2 loaded cores.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.h"
#include "model/generator.h"
#include "model/llama.h"
#include "model/tokenizer.h"
#include "tests/generate/llm_test_support.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using namespace ragd;
using ragd::bench::connect_to;
using ragd::bench::run;
using ragd::bench::slurp;
using ragd::bench::spawn;

namespace {

struct Args {
  std::string ragd, questions = "examples/kb-eval/questions.jsonl", glove, dir;
  std::vector<std::string> kbs;
  std::vector<int> clients = {1, 4, 16};
  int requests = 4, max_tokens = 16, llm_ctx = 512, llm_threads = 1, max_concurrent = 1, prefill_samples = 3;
  int wrk_seconds = 10, wrk_connections = 64, wrk_threads = 2;
  bool search_only = false;
  int soak_s = 0;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Nearest-rank percentile.
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(std::max<size_t>(i, 1), v.size()) - 1];
}


std::string uptime_load() {
  std::string s = slurp("/proc/loadavg");
  std::istringstream in(s);
  std::string a, b, c;
  in >> a >> b >> c;
  return "load average " + a + " " + b + " " + c;
}

// ---------------------------------------------------------------- the model

std::vector<std::string> kb_words(const std::vector<std::string>& kbs) {
  std::vector<std::string> texts;
  for (const auto& kb : kbs) {
    if (!fs::is_directory(kb)) continue;
    for (auto& e : fs::recursive_directory_iterator(kb)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && ext != ".pdf" && ext != ".docx") texts.push_back(slurp(e.path()));
    }
  }
  std::vector<std::string> out;
  for (auto& w : testing_llm::words_of(texts)) {
    if (w.size() > 1 && w.size() < 20) out.push_back(std::move(w));
  }
  return out;
}

bool write_model(const fs::path& path, const std::vector<std::string>& kbs) {
  testing_llm::TinyLlmSpec spec;
  spec.embd = 576;
  spec.layers = 30;
  spec.heads = 9;
  spec.heads_kv = 3;
  spec.ff = 1536;
  spec.ctx = 8192;
  spec.vocab_size = 49152;
  spec.f16 = true;
  spec.seed = 42;
  spec.words = kb_words(kbs);
  spec.name = "SmolLM2-135M-shaped (random weights, ragd answer_bench)";
  const fs::path tmp = path.string() + ".tmp";
  spec.path = tmp.string();
  testing_llm::write_tiny_llm(spec, "answer_bench");
  std::error_code ec;
  if (!fs::exists(tmp) || fs::file_size(tmp, ec) < (100u << 20)) return false;
  fs::rename(tmp, path, ec);
  return !ec;
}

// ---------------------------------------------------------------- processes and sockets



struct Timed {
  int status = 0;
  double first_ms = 0;  // first SSE delta event
  double total_ms = 0;
  std::string body;
};

// One POST on its own connection, read to EOF; first_ms at the first "event: delta".
Timed post(uint16_t port, const std::string& path, const std::string& body) {
  Timed t;
  auto t0 = Clock::now();
  int fd = connect_to(port);
  if (fd < 0) return t;
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)!::write(fd, req.data(), req.size());
  char buf[8192];
  std::string raw;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
    if (t.first_ms == 0 && raw.find("event: delta") != std::string::npos) t.first_ms = ms_since(t0);
  }
  ::close(fd);
  t.total_ms = ms_since(t0);
  if (raw.size() > 12) t.status = std::atoi(raw.c_str() + 9);
  size_t h = raw.find("\r\n\r\n");
  if (h != std::string::npos) t.body = raw.substr(h + 4);
  return t;
}

long proc_kb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  }
  return -1;
}

// The final "done" event of an SSE answer body (chunked framing or not).
Json done_event(const std::string& body) {
  size_t p = body.rfind("event: done\ndata: ");
  if (p == std::string::npos) return nullptr;
  size_t s = p + std::strlen("event: done\ndata: ");
  return Json::parse(body.substr(s, body.find('\n', s) - s), nullptr, false);
}

std::vector<std::string> load_questions(const fs::path& file) {
  std::vector<std::string> qs;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line, nullptr, false);
    if (j.is_object() && j.value("in_domain", false)) qs.push_back(j.value("query", ""));
  }
  if (qs.empty()) qs = {"How do I fix VPN error 809?", "ORA-12541 on db-prod-03", "Outlook keeps asking for my password"};
  return qs;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(std::atoi(x.c_str()));
  return v;
}


// The wrk script: request bodies cycle through the questions; every 4th
// asks for runbooks only, every 5th is lexical. The done() hook prints
// machine-readable lines (latency in microseconds).
std::string wrk_script(const std::vector<std::string>& questions) {
  return bench::wrk_search_bodies(questions) + R"(wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  i = id * 7
  n503 = 0
  nother = 0
end
function request()
  i = i + 1
  return wrk.format(nil, "/v1/search", nil, bodies[(i % #bodies) + 1])
end
function response(status, headers, body)
  if status == 503 then
    n503 = n503 + 1
  elseif status < 200 or status > 299 then
    nother = nother + 1
  end
end
function done(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("n503")
    b = b + t:get("nother")
  end
  local e = summary.errors
  io.write(string.format("ragd_requests %d %d\n", summary.requests, summary.duration))
  io.write(string.format("ragd_latency_us %d %d %d %d %d\n", latency:percentile(50), latency:percentile(90),
                         latency:percentile(99), latency.max, latency.mean))
  io.write(string.format("ragd_status %d %d\n", a, b))
  io.write(string.format("ragd_errors %d %d %d %d\n", e.connect, e.read, e.write, e.timeout))
end
)";
}

struct Cpu {
  double user = 0, system = 0;
};

// User and system CPU time of a process so far, in seconds.
Cpu cpu_seconds(pid_t pid) {
  std::string s = slurp("/proc/" + std::to_string(pid) + "/stat");
  size_t p = s.rfind(')');
  if (p == std::string::npos) return {};
  std::istringstream in(s.substr(p + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {  // fields 14 and 15 (1-based) are utime and stime
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  return {utime / tck, stime / tck};
}

struct Server {
  pid_t pid = -1;
  uint16_t port = 0;
};

void print_rss(const Server& s, const char* when) {
  std::printf("  server RSS %s: %.1f MB now, peak (VmHWM) %.1f MB\n", when, proc_kb(s.pid, "VmRSS:") / 1024.0,
              proc_kb(s.pid, "VmHWM:") / 1024.0);
}

void search_under_wrk(const Args& a, const Server& srv, const fs::path& dir, const std::vector<std::string>& questions) {
  const fs::path lua = dir / "search.lua", out = dir / "wrk.txt";
  std::ofstream(lua) << wrk_script(questions);
  fs::remove(out);
  // Warm the caches the way a running server has them.
  for (size_t i = 0; i < questions.size(); ++i) post(srv.port, "/v1/search", Json{{"query", questions[i]}}.dump());
  std::string cmd = "wrk -t" + std::to_string(a.wrk_threads) + " -c" + std::to_string(a.wrk_connections) + " -d" +
                    std::to_string(a.wrk_seconds) + "s -s '" + lua.string() + "' http://127.0.0.1:" +
                    std::to_string(srv.port) + " > '" + out.string() + "' 2>&1";
  const std::string load_before = uptime_load();
  const Cpu cpu_before = cpu_seconds(srv.pid);
  int rc = std::system(cmd.c_str());
  const Cpu cpu_after = cpu_seconds(srv.pid);
  const double user = cpu_after.user - cpu_before.user, sys = cpu_after.system - cpu_before.system;
  const double server_cpu = user + sys;
  std::string w = slurp(out);
  auto nums = [&](const std::string& key) {
    std::vector<double> v;
    size_t p = w.find(key + " ");
    if (p == std::string::npos) return v;
    std::istringstream in(w.substr(p + key.size(), w.find('\n', p) - p - key.size()));
    double x;
    while (in >> x) v.push_back(x);
    return v;
  };
  auto req = nums("ragd_requests"), lat = nums("ragd_latency_us"), st = nums("ragd_status"), err = nums("ragd_errors");
  std::printf("\n== /v1/search under wrk: %d connections, %d wrk threads, %d s (%s before)\n", a.wrk_connections,
              a.wrk_threads, a.wrk_seconds, load_before.c_str());
  if (rc != 0 || req.size() < 2 || lat.size() < 5 || st.size() < 2 || err.size() < 4) {
    std::printf("  wrk failed (rc %d):\n%s\n", rc, w.c_str());
    return;
  }
  std::printf("  %-10s %-10s %-10s %-10s %-10s %-10s %-6s %-10s %-s\n", "requests", "req/s", "p50 ms", "p90 ms",
              "p99 ms", "max ms", "503", "other!2xx", "socket errors (c/r/w/t)");
  std::printf("  %-10.0f %-10.0f %-10.2f %-10.2f %-10.2f %-10.2f %-6.0f %-10.0f %.0f/%.0f/%.0f/%.0f\n", req[0],
              req[0] / (req[1] / 1e6), lat[0] / 1000, lat[1] / 1000, lat[2] / 1000, lat[3] / 1000, st[0], st[1],
              err[0], err[1], err[2], err[3]);
  std::printf("  server CPU per request %.0f us (user %.0f + system %.0f; much less sensitive to the machine's load\n"
              "  than latency), i.e. at most %.0f req/s per core for the server alone\n",
              server_cpu / req[0] * 1e6, user / req[0] * 1e6, sys / req[0] * 1e6, req[0] / server_cpu);
  std::printf("  target: p99 <= 20 ms -> %s; failures other than 503: %s\n", lat[2] / 1000 <= 20 ? "met" : "NOT met",
              st[1] + err[0] + err[1] + err[2] + err[3] == 0 ? "none" : "SOME");
}

void prefill_overhead(const Args& a, const Server& srv, const fs::path& model,
                      const std::function<std::string(size_t)>& answer_body) {
  auto m = DecoderModel::load(model.string());
  if (!m.is_ok()) {
    std::printf("  cannot load the model in-process: %s\n", m.status().to_string().c_str());
    return;
  }
  auto tok = Tokenizer::from_gguf((*m)->gguf());
  if (!tok.is_ok()) return;
  Generator gen(*m, std::shared_ptr<const Tokenizer>(std::move(tok).value()));
  std::vector<double> server_ttft, http_ttft, prefill, tokens, ready;
  std::vector<double> path_overhead, http_overhead;
  for (int q = 0; q < a.prefill_samples; ++q) {
    Timed t = post(srv.port, "/v1/answer", answer_body(static_cast<size_t>(q) * 7));
    Json d = done_event(t.body);
    if (t.status != 200 || !d.is_object() || !d.contains("usage")) continue;
    const int n = d["usage"]["prompt_tokens"].get<int>();
    DecoderSessionOptions so;
    so.n_ctx = a.llm_ctx;
    so.kv_type = KvType::kF16;
    so.n_threads = a.llm_threads;
    so.n_batch = 512;
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = 300 + (i * 7919) % 40000;
    GenerateOptions go;
    go.max_tokens = 1;
    go.sampling.temperature = 0;
    go.prompt_chunk = 64;  // as the server's answer path
    auto session = ragd::DecoderSession::create(gen.model_shared(), so).value();
    auto t0 = Clock::now();
    (void)gen.generate(*session, ids, go);
    const double own = ms_since(t0);
    const double server_first = d["first_token_ms"].get<double>();
    tokens.push_back(n);
    ready.push_back(d.value("prompt_ready_ms", -1.0));
    prefill.push_back(own);
    server_ttft.push_back(server_first);
    http_ttft.push_back(t.first_ms > 0 ? t.first_ms : t.total_ms);
    path_overhead.push_back(server_first - own);
    http_overhead.push_back(http_ttft.back() - own);
  }
  std::printf("\n== time to first token vs the model's own prefill (1 client, %zu questions, %s)\n", prefill.size(),
              uptime_load().c_str());
  std::printf("  prompt tokens p50 %.0f (min %.0f, max %.0f)\n", pct(tokens, 50), pct(tokens, 0), pct(tokens, 100));
  std::printf("  %-52s p50 %8.1f ms\n", "direct prefill + first token (runtime, in-process)", pct(prefill, 50));
  std::printf("  %-52s p50 %8.1f ms\n", "server first_token_ms (answer start -> first token)", pct(server_ttft, 50));
  std::printf("  %-52s p50 %8.1f ms\n", "client TTFT over HTTP (request sent -> first delta)", pct(http_ttft, 50));
  std::printf("  answer path before prefill (retrieve + session + pack + template), server's prompt_ready_ms:\n"
              "      p50 %.1f ms, max %.1f ms  (target <= 30 ms)\n", pct(ready, 50), pct(ready, 100));
  std::printf("  cross-check, server first_token_ms - direct prefill: p50 %+.1f ms, max %+.1f ms\n",
              pct(path_overhead, 50), pct(path_overhead, 100));
  std::printf("  everything before the first token over HTTP - direct prefill: p50 %+.1f ms, max %+.1f ms\n"
              "  (the two differences carry the noise of two multi-second prefills on a shared machine)\n",
              pct(http_overhead, 50), pct(http_overhead, 100));
}

void answers_at(const Args& a, const Server& srv, const std::function<std::string(size_t)>& answer_body) {
  std::printf("\n== streaming /v1/answer, max_tokens %d, --llm-ctx %d, --max-concurrent %d (%s)\n", a.max_tokens,
              a.llm_ctx, a.max_concurrent, uptime_load().c_str());
  std::printf("  %-7s %-4s %-9s %-9s %-9s %-9s %-9s %-9s %-7s %-5s %-s\n", "clients", "n", "ttft p50", "ttft p90",
              "ttft p99", "total p50", "total p90", "total p99", "req/s", "503", "failed");
  for (int c : a.clients) {
    std::vector<double> ttft, total;
    std::atomic<int> rejected{0}, failed{0}, next{0};
    std::mutex mu;
    const int n = std::max(a.requests, c);
    auto t0 = Clock::now();
    std::vector<std::thread> th;
    for (int k = 0; k < c; ++k) {
      th.emplace_back([&] {
        for (int r = next++; r < n; r = next++) {
          Timed t = post(srv.port, "/v1/answer", answer_body(static_cast<size_t>(r)));
          const bool ok = t.status == 200 && done_event(t.body).is_object();
          if (t.status == 503) ++rejected;
          else if (!ok) ++failed;
          std::lock_guard lock(mu);
          if (ok) {
            ttft.push_back(t.first_ms > 0 ? t.first_ms : t.total_ms);
            total.push_back(t.total_ms);
          }
        }
      });
    }
    for (auto& x : th) x.join();
    const double secs = ms_since(t0) / 1000;
    std::printf("  %-7d %-4zu %-9.0f %-9.0f %-9.0f %-9.0f %-9.0f %-9.0f %-7.2f %-5d %d\n", c, total.size(),
                pct(ttft, 50), pct(ttft, 90), pct(ttft, 99), pct(total, 50), pct(total, 90), pct(total, 99),
                static_cast<double>(total.size()) / secs, rejected.load(), failed.load());
    std::fflush(stdout);
  }
  std::printf("  (ms; n answers per level; percentiles by nearest rank, so p99 of 16 is the maximum)\n");
}

// One GET on its own connection; the body ("" on failure).
std::string get(uint16_t port, const std::string& path) {
  int fd = connect_to(port);
  if (fd < 0) return "";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", raw;
  (void)!::write(fd, req.data(), req.size());
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  size_t h = raw.find("\r\n\r\n");
  return h == std::string::npos ? "" : raw.substr(h + 4);
}

// A sample's value from a Prometheus text page; -1 when absent (a server
// from before the metric).
double metric(const std::string& page, const std::string& sample) {
  size_t at = page.find("\n" + sample + " ");
  return at == std::string::npos ? -1 : std::atof(page.c_str() + at + sample.size() + 2);
}

void soak(const Args& a, const Server& srv, const std::vector<std::string>& questions,
          const std::function<std::string(size_t)>& answer_body) {
  const int answer_clients = a.search_only ? 0 : 2;
  std::printf("\n== soak: %d s, %d streaming answer clients + %d search clients, server RSS every 10 s (%s)\n",
              a.soak_s, answer_clients, 10 - answer_clients, uptime_load().c_str());
  std::atomic<bool> stop{false};
  std::atomic<long> answers{0}, searches{0}, rejected{0}, bad{0};
  std::vector<std::thread> th;
  for (int k = 0; k < 10; ++k) {
    th.emplace_back([&, k] {
      for (size_t r = static_cast<size_t>(k); !stop; r += 10) {
        const bool search = k >= answer_clients;
        Timed t = search ? post(srv.port, "/v1/search", Json{{"query", questions[r % questions.size()]}}.dump())
                         : post(srv.port, "/v1/answer", answer_body(r));
        if (t.status == 503) ++rejected;
        else if (t.status != 200) ++bad;
        ++(search ? searches : answers);
      }
    });
  }
  const auto t0 = Clock::now();
  std::vector<long> rss;
  while (ms_since(t0) < a.soak_s * 1000.0) {
    std::this_thread::sleep_for(std::chrono::seconds(10));
    rss.push_back(proc_kb(srv.pid, "VmRSS:"));
    const std::string page = get(srv.port, "/metrics");
    const double in_use = metric(page, "ragd_malloc_bytes{state=\"in_use\"}");
    const double free_b = metric(page, "ragd_malloc_bytes{state=\"free\"}");
    char heap[96] = "";
    if (in_use >= 0 && free_b >= 0) {
      std::snprintf(heap, sizeof heap, "  malloc in use %6.1f MB, free %6.1f MB", in_use / 1048576,
                    free_b / 1048576);
    }
    std::printf("  t=%4.0fs RSS %7.1f MB%s  answers %ld, searches %ld, 503 %ld, failed %ld\n", ms_since(t0) / 1000,
                rss.back() / 1024.0, heap, answers.load(), searches.load(), rejected.load(), bad.load());
    std::fflush(stdout);
  }
  stop = true;
  for (auto& x : th) x.join();
  if (rss.size() >= 3) {
    // Compare the second half with the first: warm-up growth happens early.
    const size_t h = rss.size() / 2;
    const long first_max = *std::max_element(rss.begin(), rss.begin() + static_cast<ptrdiff_t>(h));
    const long second_max = *std::max_element(rss.begin() + static_cast<ptrdiff_t>(h), rss.end());
    std::printf("  RSS first sample %.1f MB, last %.1f MB; max of first half %.1f MB, of second half %.1f MB (%+.1f%%)\n",
                rss.front() / 1024.0, rss.back() / 1024.0, first_max / 1024.0, second_max / 1024.0,
                100.0 * static_cast<double>(second_max - first_max) / static_cast<double>(first_max));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    auto num = [&] { return std::atoi(next().c_str()); };
    if (k == "--ragd") a.ragd = next();
    else if (k == "--kb") a.kbs.push_back(next());
    else if (k == "--questions") a.questions = next();
    else if (k == "--glove") a.glove = next();
    else if (k == "--dir") a.dir = next();
    else if (k == "--clients") a.clients = parse_list(next());
    else if (k == "--requests") a.requests = num();
    else if (k == "--max-tokens") a.max_tokens = num();
    else if (k == "--llm-ctx") a.llm_ctx = num();
    else if (k == "--llm-threads") a.llm_threads = num();
    else if (k == "--max-concurrent") a.max_concurrent = num();
    else if (k == "--prefill-samples") a.prefill_samples = num();
    else if (k == "--wrk-seconds") a.wrk_seconds = num();
    else if (k == "--wrk-connections") a.wrk_connections = num();
    else if (k == "--wrk-threads") a.wrk_threads = num();
    else if (k == "--search-only") a.search_only = true;
    else if (k == "--soak") a.soak_s = num();
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of bench/answer_bench.cpp)\n", k.c_str());
      return 2;
    }
  }
  const fs::path self_dir = fs::canonical("/proc/self/exe").parent_path();
  if (a.ragd.empty()) a.ragd = std::getenv("RAGD_BIN") ? std::getenv("RAGD_BIN") : (self_dir / "../api/ragd").string();
  if (a.kbs.empty()) {
    a.kbs.push_back("examples/kb");
    if (fs::is_directory(self_dir / "../examples/kb-office")) a.kbs.push_back((self_dir / "../examples/kb-office").string());
  }
  for (const auto& kb : a.kbs) {
    if (!fs::is_directory(kb)) {
      std::fprintf(stderr, "no KB at %s (run from the repository root, or pass --kb)\n", kb.c_str());
      return 1;
    }
  }
  if (a.dir.empty()) a.dir = (fs::temp_directory_path() / "ragd-answer-bench").string();
  fs::create_directories(a.dir);
  const fs::path dir = a.dir, model = dir / "smollm2-135m-shaped-f16-v2.gguf", log = dir / "bench.log";
  signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when redirected too
  std::printf("answer_bench: %s, %u hardware threads, %s\n", a.ragd.c_str(), std::thread::hardware_concurrency(),
              uptime_load().c_str());

  if (!a.search_only && !fs::exists(model)) {
    auto t0 = Clock::now();
    if (!write_model(model, a.kbs)) {
      std::fprintf(stderr, "writing the model %s failed\n", model.c_str());
      return 1;
    }
    std::printf("wrote %s (%.0f MB) in %.1f s\n", model.c_str(), static_cast<double>(fs::file_size(model)) / 1e6,
                ms_since(t0) / 1000);
  }
  const fs::path data = dir / "data";
  fs::remove_all(data);
  std::vector<std::string> common = {"--data", data.string()};
  if (!a.glove.empty()) common.insert(common.end(), {"--glove", a.glove});
  std::vector<std::string> ingest = {a.ragd, "ingest"};
  ingest.insert(ingest.end(), a.kbs.begin(), a.kbs.end());
  ingest.push_back("--quiet");
  ingest.insert(ingest.end(), common.begin(), common.end());
  if (run(ingest, log) != 0) {
    std::fprintf(stderr, "ragd ingest failed; see %s\n", log.c_str());
    return 1;
  }
  const fs::path port_file = dir / "port";
  fs::remove(port_file);
  std::vector<std::string> serve = {a.ragd, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file.string(),
                                    "--max-inflight", "4096"};
  if (!a.search_only) {
    serve.insert(serve.end(), {"--llm", model.string(), "--max-queue", "64", "--request-timeout", "900", "--max-concurrent",
                               std::to_string(a.max_concurrent), "--llm-threads", std::to_string(a.llm_threads),
                               "--llm-ctx", std::to_string(a.llm_ctx)});
  }
  serve.insert(serve.end(), common.begin(), common.end());
  Server srv;
  srv.pid = spawn(serve, log);
  for (int i = 0; i < 600 && srv.port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (fs::exists(port_file)) srv.port = static_cast<uint16_t>(std::atoi(slurp(port_file).c_str()));
  }
  if (srv.port == 0) {
    std::fprintf(stderr, "ragd serve did not start; see %s\n", log.c_str());
    kill(srv.pid, SIGKILL);
    return 1;
  }
  {
    // GET /v1/stats for the store's size.
    int fd = connect_to(srv.port);
    std::string req = "GET /v1/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", raw;
    (void)!::write(fd, req.data(), req.size());
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) raw.append(buf, static_cast<size_t>(n));
    ::close(fd);
    Json j = Json::parse(raw.substr(std::min(raw.size(), raw.find("\r\n\r\n") + 4)), nullptr, false);
    std::printf("ragd serve%s on port %d (pid %d): %s documents, %s chunks\n", a.search_only ? "" : " --llm", srv.port,
                srv.pid, j.is_object() ? j["documents"].dump().c_str() : "?",
                j.is_object() ? j["chunks"].dump().c_str() : "?");
  }
  print_rss(srv, "after start");
  const auto questions = load_questions(a.questions);
  auto answer_body = [&](size_t i) {
    return Json{{"query", questions[i % questions.size()]}, {"stream", true}, {"max_tokens", a.max_tokens}}.dump();
  };

  search_under_wrk(a, srv, dir, questions);
  print_rss(srv, "after the search load");

  if (!a.search_only) {
    Timed warm = post(srv.port, "/v1/answer", answer_body(0));
    if (warm.status != 200 || !done_event(warm.body).is_object()) {
      std::fprintf(stderr, "warm-up answer failed (%d): %s\n", warm.status, warm.body.substr(0, 400).c_str());
      kill(srv.pid, SIGTERM);
      return 1;
    }
    prefill_overhead(a, srv, model, answer_body);
    answers_at(a, srv, answer_body);
    print_rss(srv, "after the answer load");
  }
  if (a.soak_s > 0) {
    soak(a, srv, questions, answer_body);
    print_rss(srv, "after the soak");
  }
  kill(srv.pid, SIGTERM);
  int status = 0;
  waitpid(srv.pid, &status, 0);
  return 0;
}
