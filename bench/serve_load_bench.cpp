// The cost of authentication under load (issue 11's target): the same
// `ragd serve` on the same store, /v1/search from wrk over keep-alive
// connections with mixed queries, once without keys (--insecure-no-auth) and
// once with an API key on every request; both runs printed side by side with
// the p99 ratio, in one run.
//
// Run from the repository root (build dir "build" below; any works):
//
//   build/bench/serve_load_bench [--seconds S] [--connections C] [--wrk-threads T] [--server-threads N]
//                                [--ragd PATH] [--kb DIR] [--questions FILE] [--glove FILE] [--dir DIR]
//
//   --seconds        length of each run. Default: 60.
//   --connections    wrk's keep-alive connections. Default: 64.
//   --wrk-threads    wrk's threads. Default: 2.
//   --server-threads the server's --threads. Default: 0 (hardware threads).
//   --ragd           the ragd binary. Default: $RAGD_BIN, else <this binary's dir>/../api/ragd.
//   --kb             the crawl root ingested once into a fresh store. Default: examples/kb.
//   --questions      JSONL with "query" (and "in_domain"). Default: examples/kb-eval/questions.jsonl.
//   --glove          GloVe file. Default: ragd's own lookup ($RAGD_GLOVE, then .cache/ragd/...).
//   --dir            work dir (store, logs, wrk script). Default: <temp>/ragd-serve-load-bench.
//
// Queries cycle through the questions; every 4th asks for runbooks only and
// every 5th is lexical. An error is a socket error or any status other than
// 200 (a 401, 429 or 503 counts). Target: 0 errors in both runs and the p99
// with keys within 1.2x of the p99 without.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.h"
#include "bench_process.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace ragd;
using ragd::bench::run;
using ragd::bench::slurp;
using ragd::bench::spawn;

namespace {

struct Args {
  int seconds = 60, connections = 64, wrk_threads = 2, server_threads = 0;
  std::string ragd, kb = "examples/kb", questions = "examples/kb-eval/questions.jsonl", glove, dir;
};




bool port_answers(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::vector<std::string> load_questions(const fs::path& file) {
  std::vector<std::string> qs;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("query") && j["query"].is_string()) qs.push_back(j["query"]);
  }
  if (qs.empty()) qs = {"How do I fix VPN error 809?", "ORA-12541 on db-prod-03", "Outlook keeps asking for my password"};
  return qs;
}


// Bodies cycle through the questions; the done() hook prints
// machine-readable lines (latency in microseconds).
std::string wrk_script(const std::vector<std::string>& questions, const std::string& key) {
  std::string s = bench::wrk_search_bodies(questions);
  s += "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n";
  if (!key.empty()) s += "wrk.headers[\"Authorization\"] = \"Bearer " + key + "\"\n";
  return s + R"(local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  i = id * 7
  nbad = 0
end
function request()
  i = i + 1
  return wrk.format(nil, "/v1/search", nil, bodies[(i % #bodies) + 1])
end
function response(status, headers, body)
  if status ~= 200 then nbad = nbad + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("nbad") end
  local e = summary.errors
  io.write(string.format("ragd_requests %d %d\n", summary.requests, summary.duration))
  io.write(string.format("ragd_latency_us %d %d %d %d\n", latency:percentile(50), latency:percentile(99),
                         latency.max, latency.mean))
  io.write(string.format("ragd_errors %d %d %d %d %d\n", bad, e.connect, e.read, e.write, e.timeout))
end
)";
}

struct Figures {
  bool ok = false;
  double requests = 0, seconds = 0, p50_ms = 0, p99_ms = 0, max_ms = 0, errors = 0;
  std::string raw;
};

// Starts `ragd serve` on the store, runs wrk against /v1/search, stops it.
Figures measure(const Args& a, const fs::path& data, const std::vector<std::string>& questions, const std::string& key,
                const std::string& tag) {
  Figures f;
  const fs::path dir = a.dir;
  const fs::path port_file = dir / (tag + ".port"), log = dir / (tag + ".log"), lua = dir / (tag + ".lua"),
                 out = dir / (tag + ".wrk.txt");
  fs::remove(port_file);
  std::vector<std::string> serve = {a.ragd, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file.string(),
                                    "--data", data.string(), "--threads", std::to_string(a.server_threads)};
  if (key.empty()) serve.push_back("--insecure-no-auth");
  if (!a.glove.empty()) serve.insert(serve.end(), {"--glove", a.glove});
  pid_t pid = spawn(serve, log);
  uint16_t port = 0;
  for (int i = 0; i < 1200 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (fs::exists(port_file)) port = static_cast<uint16_t>(std::atoi(slurp(port_file).c_str()));
  }
  if (port == 0 || !port_answers(port)) {
    f.raw = "ragd serve did not start; see " + log.string();
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return f;
  }
  std::ofstream(lua) << wrk_script(questions, key);
  // A short warm-up (page cache, allocator), not measured.
  std::string warm = "wrk -t1 -c4 -d2s -s '" + lua.string() + "' http://127.0.0.1:" + std::to_string(port) +
                     " > /dev/null 2>&1";
  (void)!std::system(warm.c_str());
  std::string cmd = "wrk -t" + std::to_string(a.wrk_threads) + " -c" + std::to_string(a.connections) + " -d" +
                    std::to_string(a.seconds) + "s --timeout 10s -s '" + lua.string() + "' http://127.0.0.1:" +
                    std::to_string(port) + " > '" + out.string() + "' 2>&1";
  int rc = std::system(cmd.c_str());
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  f.raw = slurp(out);
  auto nums = [&](const std::string& name) {
    std::vector<double> v;
    size_t p = f.raw.find(name + " ");
    if (p == std::string::npos) return v;
    std::istringstream in(f.raw.substr(p + name.size(), f.raw.find('\n', p) - p - name.size()));
    double x;
    while (in >> x) v.push_back(x);
    return v;
  };
  auto req = nums("ragd_requests"), lat = nums("ragd_latency_us"), err = nums("ragd_errors");
  if (rc != 0 || req.size() < 2 || lat.size() < 4 || err.size() < 5) return f;
  f.ok = true;
  f.requests = req[0];
  f.seconds = req[1] / 1e6;
  f.p50_ms = lat[0] / 1000;
  f.p99_ms = lat[1] / 1000;
  f.max_ms = lat[2] / 1000;
  f.errors = err[0] + err[1] + err[2] + err[3] + err[4];
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bench::ArgReader r(argc, argv);
  while (r.next()) {
    const std::string& k = r.flag();
    if (k == "--seconds") a.seconds = std::atoi(r.value().c_str());
    else if (k == "--connections") a.connections = std::atoi(r.value().c_str());
    else if (k == "--wrk-threads") a.wrk_threads = std::atoi(r.value().c_str());
    else if (k == "--server-threads") a.server_threads = std::atoi(r.value().c_str());
    else if (k == "--ragd") a.ragd = r.value();
    else if (k == "--kb") a.kb = r.value();
    else if (k == "--questions") a.questions = r.value();
    else if (k == "--glove") a.glove = r.value();
    else if (k == "--dir") a.dir = r.value();
    else r.unknown();
  }
  if (a.ragd.empty()) {
    const char* env = std::getenv("RAGD_BIN");
    a.ragd = env != nullptr && *env != '\0' ? env : (fs::canonical("/proc/self/exe").parent_path() / "../api/ragd").string();
  }
  if (a.dir.empty()) a.dir = (fs::temp_directory_path() / "ragd-serve-load-bench").string();
  if (a.seconds <= 0 || a.connections <= 0) bench::die(Status::invalid_argument("--seconds and --connections must be > 0"));
  if (std::system("wrk --version > /dev/null 2>&1") == -1) bench::die(Status::unavailable("wrk is not installed"));
  const fs::path dir = a.dir, data = dir / "data";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<std::string> ingest = {a.ragd, "ingest", a.kb, "--data", data.string(), "--quiet"};
  if (!a.glove.empty()) ingest.insert(ingest.end(), {"--glove", a.glove});
  if (run(ingest, dir / "ingest.log") != 0) {
    bench::die(Status::io_error("ragd ingest failed; see " + (dir / "ingest.log").string()));
  }
  const auto questions = load_questions(a.questions);
  std::printf("serve_load_bench: /v1/search, %d keep-alive connections, %d wrk threads, %d s per run, %zu queries\n",
              a.connections, a.wrk_threads, a.seconds, questions.size());

  Figures open = measure(a, data, questions, "", "noauth");
  // Keys exist from here on: the second server requires one on every request.
  const fs::path key_out = dir / "key.txt";
  if (run({a.ragd, "keys", "create", "--data", data.string(), "--name", "bench", "--role", "reader"}, key_out) != 0) {
    bench::die(Status::io_error("ragd keys create failed; see " + key_out.string()));
  }
  const std::string key_text = slurp(key_out);
  const std::string key = key_text.substr(0, key_text.find('\n'));
  Figures keyed = measure(a, data, questions, key, "keys");

  std::printf("\n  %-26s %-10s %-9s %-8s %-8s %-8s %-s\n", "run", "requests", "req/s", "p50 ms", "p99 ms", "max ms",
              "errors");
  for (const auto* f : {&open, &keyed}) {
    const char* name = f == &open ? "--insecure-no-auth" : "API key (reader)";
    if (!f->ok) {
      std::printf("  %-26s failed:\n%s\n", name, f->raw.c_str());
      continue;
    }
    std::printf("  %-26s %-10.0f %-9.0f %-8.2f %-8.2f %-8.2f %.0f\n", name, f->requests, f->requests / f->seconds,
                f->p50_ms, f->p99_ms, f->max_ms, f->errors);
  }
  if (!open.ok || !keyed.ok) return 1;
  const double ratio = open.p99_ms > 0 ? keyed.p99_ms / open.p99_ms : 0;
  std::printf("\n  p99 ratio (keys / no auth): %.2f; target <= 1.2 and 0 errors -> %s\n", ratio,
              ratio <= 1.2 && open.errors == 0 && keyed.errors == 0 ? "met" : "NOT met");
  return 0;
}
