// End-to-end serving figures for the LLM answer path, over real sockets.
//
// Usage: answer_bench [--ragd PATH] [--kb DIR] [--questions FILE] [--glove FILE] [--dir DIR]
//                     [--clients 1,4,16] [--requests-per-client 4] [--max-tokens 32] [--threads T]
//                     [--wrk-seconds 10] [--wrk-connections 64] [--soak-minutes 0]
//
// 1. Writes a SmolLM2-135M-shaped decoder with random weights into DIR
//    (30 layers, 576 wide, 9/3 heads, ffn 1536, 49152 tokens, F16, tied
//    output): a SentencePiece vocabulary holding the sample KB's words, filled
//    up to 49152 pieces. Reused when present.
// 2. Ingests the sample KB (`ragd ingest`) into a fresh store and starts
//    `ragd serve --llm` on loopback.
// 3. The model's own prefill: in this process, the same prompt length the
//    server reported, evaluated by Generator with max_tokens 1; the answer
//    path's overhead = server-side time to first token - that.
// 4. /v1/answer with "stream": true at each client count: time to first token
//    (request sent -> first delta received) and total, p50/p95, 503s.
// 5. /v1/search under wrk (a second process) at --wrk-connections: req/s,
//    p50/p99 latency, non-2xx and socket errors.
// 6. The server's peak RSS (VmHWM). With --soak-minutes M: M minutes of mixed
//    answer/search load from 4 clients, RSS sampled every 30 s.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "model/generator.h"
#include "model/gguf.h"
#include "model/llama.h"
#include "model/quant.h"
#include "model/tokenizer.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using namespace ragd;

namespace {

struct Args {
  std::string ragd, kb = "examples/kb", questions = "examples/kb-eval/questions.jsonl", glove, dir;
  std::vector<int> clients = {1, 4, 16};
  int per_client = 4, max_tokens = 32, threads = 0, wrk_seconds = 10, wrk_connections = 64;
  double soak_minutes = 0;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * v.size())) - 1;
  return v[std::min(i, v.size() - 1)];
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------- the model

std::vector<std::string> kb_words(const fs::path& kb) {
  std::set<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(kb)) {
    if (!e.is_regular_file()) continue;
    std::string t = slurp(e.path()), cur;
    for (char c : t + " ") {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        cur.push_back(c);
      } else {
        if (cur.size() > 1 && cur.size() < 20) out.insert(cur);
        cur.clear();
      }
    }
  }
  return {out.begin(), out.end()};
}

Status write_smollm2_shaped(const fs::path& path, const std::vector<std::string>& words) {
  const int E = 576, L = 30, H = 9, HKV = 3, FF = 1536, V = 49152;
  const std::string sp = "\xe2\x96\x81";
  std::vector<std::string> toks = {"<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"};
  std::vector<int32_t> types = {2, 3, 3, 3, 3};
  char buf[16];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    toks.push_back(buf);
    types.push_back(6);
  }
  std::set<std::string> pieces;
  for (char c = 33; c < 127; ++c) pieces.insert(std::string(1, c));
  pieces.insert(sp);
  for (const auto& w : words) {
    const std::string full = sp + w;
    for (size_t n = sp.size() + 1; n <= full.size(); ++n) pieces.insert(full.substr(0, n));
    for (size_t n = 2; n <= w.size(); ++n) pieces.insert(w.substr(0, n));
  }
  std::vector<float> scores(toks.size(), 0.0f);
  for (const auto& p : pieces) {
    if (static_cast<int>(toks.size()) >= V) break;
    toks.push_back(p);
    types.push_back(1);
    scores.push_back(static_cast<float>(p.size()));
  }
  for (int i = 0; static_cast<int>(toks.size()) < V; ++i) {  // never-matched fillers up to SmolLM2's size
    toks.push_back("<filler" + std::to_string(i) + ">");
    types.push_back(4);
    scores.push_back(0.0f);
  }
  GgufWriter w;
  w.add_str("general.architecture", "llama");
  w.add_str("general.name", "SmolLM2-135M-shaped (random weights, ragd answer_bench)");
  w.add_u32("general.file_type", 1);
  w.add_u32("llama.context_length", 8192);
  w.add_u32("llama.embedding_length", E);
  w.add_u32("llama.block_count", L);
  w.add_u32("llama.feed_forward_length", FF);
  w.add_u32("llama.attention.head_count", H);
  w.add_u32("llama.attention.head_count_kv", HKV);
  w.add_u32("llama.rope.dimension_count", E / H);
  w.add_f32("llama.rope.freq_base", 100000.0f);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_str("tokenizer.ggml.model", "llama");
  w.add("tokenizer.ggml.tokens", GgufWriter::Value::array_str(toks));
  w.add("tokenizer.ggml.scores", GgufWriter::Value::array_f32(scores));
  w.add("tokenizer.ggml.token_type", GgufWriter::Value::array_i32(types));
  w.add_u32("tokenizer.ggml.bos_token_id", 1);
  w.add_u32("tokenizer.ggml.eos_token_id", 2);
  w.add_u32("tokenizer.ggml.unknown_token_id", 0);
  w.add_str("tokenizer.chat_template", "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}");
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto f16 = [&](const std::string& name, int64_t cols, int64_t rows, float scale) {
    std::vector<float> f(static_cast<size_t>(cols * rows));
    for (auto& x : f) x = u(rng) * scale;
    std::vector<uint8_t> bytes(f.size() * 2);
    fp32_to_fp16_row(f.data(), reinterpret_cast<uint16_t*>(bytes.data()), static_cast<int64_t>(f.size()));
    return w.add_tensor(name, GgmlType::F16, {cols, rows}, bytes);
  };
  auto ones = [&](const std::string& name, int64_t n) {
    return w.add_tensor_f32(name, {n}, std::vector<float>(static_cast<size_t>(n), 1.0f));
  };
  const int64_t kv = E / H * HKV;
  const float s = 1.0f / std::sqrt(static_cast<float>(E));
  RAGD_RETURN_IF_ERROR(f16("token_embd.weight", E, V, 0.05f));
  RAGD_RETURN_IF_ERROR(ones("output_norm.weight", E));
  for (int l = 0; l < L; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    RAGD_RETURN_IF_ERROR(ones(p + "attn_norm.weight", E));
    RAGD_RETURN_IF_ERROR(ones(p + "ffn_norm.weight", E));
    RAGD_RETURN_IF_ERROR(f16(p + "attn_q.weight", E, E, s));
    RAGD_RETURN_IF_ERROR(f16(p + "attn_k.weight", E, kv, s));
    RAGD_RETURN_IF_ERROR(f16(p + "attn_v.weight", E, kv, s));
    RAGD_RETURN_IF_ERROR(f16(p + "attn_output.weight", E, E, s));
    RAGD_RETURN_IF_ERROR(f16(p + "ffn_gate.weight", E, FF, s));
    RAGD_RETURN_IF_ERROR(f16(p + "ffn_up.weight", E, FF, s));
    RAGD_RETURN_IF_ERROR(f16(p + "ffn_down.weight", FF, E, 1.0f / std::sqrt(static_cast<float>(FF))));
  }
  return w.write(path.string());
}

// ---------------------------------------------------------------- processes and sockets

int run(const std::vector<std::string>& argv, const fs::path& log) {
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
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
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

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Timed {
  int status = 0;
  double first_ms = 0;  // first SSE delta (or first body byte)
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

// The final "done" event of an SSE answer body.
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

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (k == "--ragd") a.ragd = next();
    else if (k == "--kb") a.kb = next();
    else if (k == "--questions") a.questions = next();
    else if (k == "--glove") a.glove = next();
    else if (k == "--dir") a.dir = next();
    else if (k == "--clients") a.clients = parse_list(next());
    else if (k == "--requests-per-client") a.per_client = std::atoi(next().c_str());
    else if (k == "--max-tokens") a.max_tokens = std::atoi(next().c_str());
    else if (k == "--threads") a.threads = std::atoi(next().c_str());
    else if (k == "--wrk-seconds") a.wrk_seconds = std::atoi(next().c_str());
    else if (k == "--wrk-connections") a.wrk_connections = std::atoi(next().c_str());
    else if (k == "--soak-minutes") a.soak_minutes = std::atof(next().c_str());
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of bench/answer_bench.cpp)\n", k.c_str());
      return 2;
    }
  }
  if (a.ragd.empty()) a.ragd = std::getenv("RAGD_BIN") ? std::getenv("RAGD_BIN") : "api/ragd";
  if (a.dir.empty()) a.dir = (fs::temp_directory_path() / "ragd-answer-bench").string();
  fs::create_directories(a.dir);
  const fs::path dir = a.dir, model = dir / "smollm2-135m-shaped-f16.gguf", log = dir / "bench.log";
  signal(SIGPIPE, SIG_IGN);

  if (!fs::exists(model)) {
    auto t0 = Clock::now();
    Status s = write_smollm2_shaped(model, kb_words(a.kb));
    if (!s.is_ok()) {
      std::fprintf(stderr, "writing the model: %s\n", s.to_string().c_str());
      return 1;
    }
    std::printf("wrote %s (%.0f MB) in %.1f s\n", model.c_str(), fs::file_size(model) / 1e6, ms_since(t0) / 1000);
  }
  const fs::path data = dir / "data";
  fs::remove_all(data);
  std::vector<std::string> common = {"--data", data.string()};
  if (!a.glove.empty()) common.insert(common.end(), {"--glove", a.glove});
  std::vector<std::string> ingest = {a.ragd, "ingest", a.kb, "--quiet"};
  ingest.insert(ingest.end(), common.begin(), common.end());
  if (run(ingest, log) != 0) {
    std::fprintf(stderr, "ragd ingest failed; see %s\n", log.c_str());
    return 1;
  }
  const fs::path port_file = dir / "port";
  fs::remove(port_file);
  std::vector<std::string> serve = {a.ragd, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file.string(),
                                    "--llm", model.string(), "--max-queue", "256", "--threads", "2",
                                    "--max-inflight", "4096"};
  if (a.threads > 0) serve.insert(serve.end(), {"--llm-threads", std::to_string(a.threads)});
  serve.insert(serve.end(), common.begin(), common.end());
  pid_t server = spawn(serve, log);
  uint16_t port = 0;
  for (int i = 0; i < 600 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (fs::exists(port_file)) port = static_cast<uint16_t>(std::atoi(slurp(port_file).c_str()));
  }
  if (port == 0) {
    std::fprintf(stderr, "ragd serve did not start; see %s\n", log.c_str());
    kill(server, SIGKILL);
    return 1;
  }
  std::printf("ragd serve --llm on port %d (pid %d), RSS after start %ld kB\n", port, server, proc_kb(server, "VmRSS:"));
  const auto questions = load_questions(a.questions);
  auto answer_body = [&](size_t i) {
    return Json{{"query", questions[i % questions.size()]}, {"stream", true}, {"max_tokens", a.max_tokens}}.dump();
  };

  // Warm-up, and the prompt length for the prefill reference.
  Timed warm = post(port, "/v1/answer", answer_body(0));
  Json wd = done_event(warm.body);
  if (warm.status != 200 || !wd.is_object()) {
    std::fprintf(stderr, "warm-up answer failed (%d): %s\n", warm.status, warm.body.substr(0, 400).c_str());
    kill(server, SIGTERM);
    return 1;
  }

  // The model's own prefill for prompts of the same lengths, in this process.
  {
    auto m = DecoderModel::load(model.string());
    auto tok = Tokenizer::from_gguf((*m)->gguf());
    Generator gen(*m, std::shared_ptr<const Tokenizer>(std::move(tok).value()));
    std::vector<double> overhead, prefill_ms, server_ttft;
    for (size_t q = 0; q < std::min<size_t>(questions.size(), 3); ++q) {
      Timed t = post(port, "/v1/answer", answer_body(q));
      Json d = done_event(t.body);
      if (!d.is_object()) continue;
      const int n = d["usage"]["prompt_tokens"].get<int>();
      DecoderSessionOptions so;
      so.n_ctx = std::max(n + 8, 512);
      so.n_threads = a.threads;
      std::vector<int32_t> ids(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) ids[i] = 300 + (i * 7919) % 40000;
      GenerateOptions go;
      go.max_tokens = 1;
      go.sampling.temperature = 0;
      auto session = gen.new_session(so);
      auto t0 = Clock::now();
      (void)gen.generate(*session, ids, go);
      double own = ms_since(t0);
      prefill_ms.push_back(own);
      server_ttft.push_back(d["first_token_ms"].get<double>());
      overhead.push_back(d["first_token_ms"].get<double>() - own);
    }
    std::printf("\n== time to first token vs the model's own prefill (1 client, %zu questions)\n", prefill_ms.size());
    std::printf("  model prefill + first token (in-process): p50 %.1f ms\n", pct(prefill_ms, 50));
    std::printf("  server first_token_ms:                    p50 %.1f ms\n", pct(server_ttft, 50));
    std::printf("  answer-path overhead (retrieve, pack, template): p50 %.1f ms, max %.1f ms  (target <= 30 ms)\n",
                pct(overhead, 50), pct(overhead, 100));
  }

  std::printf("\n== /v1/answer, stream, max_tokens %d, sample KB, SmolLM2-135M-shaped F16\n", a.max_tokens);
  std::printf("  %-8s %-10s %-10s %-10s %-10s %-8s %-6s\n", "clients", "ttft p50", "ttft p95", "total p50", "total p95", "req/s", "503");
  for (int c : a.clients) {
    std::vector<double> ttft, total;
    std::atomic<int> rejected{0}, failed{0};
    std::mutex mu;
    auto t0 = Clock::now();
    std::vector<std::thread> th;
    for (int k = 0; k < c; ++k) {
      th.emplace_back([&, k] {
        for (int r = 0; r < a.per_client; ++r) {
          Timed t = post(port, "/v1/answer", answer_body(static_cast<size_t>(k * a.per_client + r)));
          if (t.status == 503) ++rejected;
          else if (t.status != 200 || !done_event(t.body).is_object()) ++failed;
          std::lock_guard lock(mu);
          if (t.status == 200) {
            ttft.push_back(t.first_ms > 0 ? t.first_ms : t.total_ms);
            total.push_back(t.total_ms);
          }
        }
      });
    }
    for (auto& x : th) x.join();
    double secs = ms_since(t0) / 1000;
    std::printf("  %-8d %-10.0f %-10.0f %-10.0f %-10.0f %-8.2f %-6d%s\n", c, pct(ttft, 50), pct(ttft, 95), pct(total, 50),
                pct(total, 95), total.size() / secs, rejected.load(),
                failed ? ("  FAILED " + std::to_string(failed.load())).c_str() : "");
  }

  // /v1/search under wrk.
  {
    const fs::path lua = dir / "search.lua";
    std::ofstream(lua) << "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
                          "local qs = {\"vpn error 809\", \"ORA-12541 listener\", \"outlook password prompt\", \"printer offline\", \"bitlocker recovery key\"}\n"
                          "local i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(nil, \"/v1/search\", nil, "
                          "'{\"query\":\"' .. qs[(i % #qs) + 1] .. '\",\"k\":10}')\nend\n";
    const fs::path out = dir / "wrk.txt";
    fs::remove(out);
    std::string cmd = "wrk -t2 -c" + std::to_string(a.wrk_connections) + " -d" + std::to_string(a.wrk_seconds) +
                      "s --latency -s '" + lua.string() + "' http://127.0.0.1:" + std::to_string(port) + " > '" +
                      out.string() + "' 2>&1";
    int rc = std::system(cmd.c_str());
    std::string w = slurp(out);
    auto grab = [&](const std::string& key) {
      size_t p = w.find(key);
      if (p == std::string::npos) return std::string("-");
      size_t s = w.find_first_not_of(" \t", p + key.size());
      return w.substr(s, w.find_first_of(" \n", s) - s);
    };
    std::printf("\n== /v1/search under wrk (%d connections, %d s, rc %d)\n", a.wrk_connections, a.wrk_seconds, rc);
    std::printf("  req/s %s, latency p50 %s, p90 %s, p99 %s (target p99 <= 20 ms)\n", grab("Requests/sec:").c_str(),
                grab("50%").c_str(), grab("90%").c_str(), grab("99%").c_str());
    std::printf("  non-2xx: %s, socket errors: %s\n", grab("Non-2xx or 3xx responses:").c_str(),
                w.find("Socket errors") == std::string::npos ? "0" : grab("Socket errors:").c_str());
  }
  std::printf("\n== server peak RSS (VmHWM) %ld kB, now %ld kB\n", proc_kb(server, "VmHWM:"), proc_kb(server, "VmRSS:"));

  if (a.soak_minutes > 0) {
    std::printf("\n== soak: %.1f min, 4 clients (3 answer, 1 search), RSS every 30 s\n", a.soak_minutes);
    std::atomic<bool> stop{false};
    std::atomic<long> done{0}, bad{0};
    std::vector<std::thread> th;
    for (int k = 0; k < 4; ++k) {
      th.emplace_back([&, k] {
        for (size_t r = 0; !stop; ++r) {
          Timed t = k == 3 ? post(port, "/v1/search", Json{{"query", questions[r % questions.size()]}}.dump())
                           : post(port, "/v1/answer", answer_body(r + k));
          if (t.status != 200 && t.status != 503) ++bad;
          ++done;
        }
      });
    }
    auto end = Clock::now() + std::chrono::duration<double, std::ratio<60>>(a.soak_minutes);
    std::vector<long> rss;
    while (Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::seconds(30));
      rss.push_back(proc_kb(server, "VmRSS:"));
      std::printf("  t=%3zus RSS %ld kB, %ld requests, %ld failed\n", rss.size() * 30, rss.back(), done.load(), bad.load());
      std::fflush(stdout);
    }
    stop = true;
    for (auto& x : th) x.join();
    if (rss.size() >= 2) {
      std::printf("  RSS first %ld kB, last %ld kB, max %ld kB, growth %.1f%%\n", rss.front(), rss.back(),
                  *std::max_element(rss.begin(), rss.end()), 100.0 * (rss.back() - rss.front()) / rss.front());
    }
  }
  kill(server, SIGTERM);
  int st = 0;
  waitpid(server, &st, 0);
  return 0;
}
