// POST /v1/tickets/assist on the sample KB without an LLM, over loopback
// HTTP: the sample KB (examples/kb) is ingested into a scratch store with the
// GloVe vectors, the real server (api::Server) serves it, and each ticket of
// examples/kb-eval/ticket_siblings.jsonl is sent as a new ticket (subject
// and description) --rounds times. Prints p50/p99 latency and the share of
// tickets whose known sibling is among the top 3 similar tickets.
//
//   assist_bench [--rounds N] [--glove FILE]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "api/app.h"
#include "api/server.h"
#include "bench_args.h"
#include "bench_stats.h"
#include "connectors/connector.h"
#include "model/glove_sif.h"
#include "service/extractive_path.h"
#include "service/ticket_assist.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace ragd;

namespace {

// One request on its own loopback connection; the response body ("" on a
// failure) and its status.
std::pair<int, std::string> post(uint16_t port, const std::string& target, const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {0, ""};
  }
  std::string req = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                    "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                    body;
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t he = raw.find("\r\n\r\n");
  if (raw.size() < 12 || he == std::string::npos) return {0, ""};
  return {std::atoi(raw.c_str() + 9), raw.substr(he + 4)};
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  fs::path glove;
  bench::ArgReader args(argc, argv);
  while (args.next()) {
    if (args.flag() == "--rounds") rounds = std::stoi(args.value());
    else if (args.flag() == "--glove") glove = args.value();
    else args.unknown();
  }
  const fs::path src = RAGD_SOURCE_DIR;
  const fs::path dir = fs::temp_directory_path() / ("ragd-assist-bench-" + std::to_string(getpid()));
  ServiceOptions so;
  so.store.dir = dir / "data";
  so.glove = glove.empty() ? default_glove_path() : glove;
  so.embedder_load = EmbedderLoad::kRequired;
  auto svc = ServiceContext::open(so);
  if (!svc.is_ok()) bench::die(svc.status());
  std::vector<Document> docs;
  FetchSink sink{[&](Document&& d) { docs.push_back(std::move(d)); }, [](const Status&) {}};
  if (Status st = fetch_path(src / "examples/kb", FetchOptions{}, sink); !st.is_ok()) bench::die(st);
  auto stats = (*svc)->ingest(docs);
  if (!stats.is_ok()) bench::die(stats.status());

  ExtractiveAnswerPath answerer(**svc, nullptr);
  api::Registry registry;
  api::App app(**svc, answerer, registry, nullptr);
  api::ServerOptions sopt;
  sopt.port = 0;
  sopt.io_threads = 1;
  sopt.worker_threads = 2;
  api::Server server(app, sopt);
  if (Status st = server.listen(); !st.is_ok()) bench::die(st);
  std::thread runner([&] { (void)server.run(); });

  struct Case {
    std::string id;
    Json body;
    std::vector<std::string> siblings;
  };
  std::vector<Case> cases;
  std::ifstream in(src / "examples/kb-eval/ticket_siblings.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json j = Json::parse(line);
    auto doc = (*svc)->store().get_document(j["ticket"]);
    if (!doc.is_ok()) bench::die(doc.status());
    TicketInput t = ticket_from_document(*doc);
    Json fields = Json::object();
    for (const auto& [k, v] : t.fields) fields[k] = v;
    cases.push_back({t.id,
                     Json{{"id", t.id}, {"subject", t.subject}, {"description", t.description}, {"fields", fields}},
                     j["siblings"].get<std::vector<std::string>>()});
  }
  std::printf("sample KB: %zu documents, %zu chunks; %zu tickets with known siblings; %d rounds\n", docs.size(),
              static_cast<size_t>(stats->chunks), cases.size(), rounds);

  const uint16_t port = server.port();
  post(port, "/v1/tickets/assist", cases.front().body.dump());  // warm-up
  std::vector<double> ms;
  int found = 0, failed = 0;
  std::mt19937 rng(42);
  for (int r = 0; r < rounds; ++r) {
    std::vector<size_t> order(cases.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      const Case& c = cases[i];
      const auto t0 = std::chrono::steady_clock::now();
      auto [status, body] = post(port, "/v1/tickets/assist", c.body.dump());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (status != 200) {
        ++failed;
        continue;
      }
      if (r == 0) {
        Json j = Json::parse(body);
        bool ok = false;
        for (size_t k = 0; k < 3 && k < j["similar"].size(); ++k) {
          ok |= std::find(c.siblings.begin(), c.siblings.end(), j["similar"][k]["id"].get<std::string>()) !=
                c.siblings.end();
        }
        found += ok;
        if (!ok) {
          std::string top;
          for (size_t k = 0; k < 3 && k < j["similar"].size(); ++k) top += " " + j["similar"][k]["id"].get<std::string>();
          std::printf("  miss %s: top 3%s\n", c.id.c_str(), top.c_str());
        }
      }
    }
  }
  server.stop();
  runner.join();
  (void)(*svc)->close();
  std::error_code ec;
  fs::remove_all(dir, ec);
  std::printf("POST /v1/tickets/assist (loopback HTTP, extractive, %zu requests, %d failed):\n", ms.size(), failed);
  std::printf("  p50 %.1f ms   p99 %.1f ms   max %.1f ms\n", bench::percentile(ms, 0.5), bench::percentile(ms, 0.99),
              bench::percentile(ms, 1.0));
  std::printf("similar incidents: sibling in top 3 for %d/%zu tickets = %.0f%% (target >= 90%%)\n", found,
              cases.size(), 100.0 * found / static_cast<double>(cases.size()));
  return failed ? 1 : 0;
}
