// The cluster's cost on one machine (issue 15): the same documents and
// queries through a single `ragd serve` and through clusters of 1, 2 and 4
// `ragd serve --cluster` nodes (8 shards, 2 replicas per shard where there
// are 2 nodes or more; three nats-server processes in one JetStream cluster
// with 3 stream replicas, one etcd), printed side by side in one run. On one
// machine every process shares the same cores, so this measures what the
// log, the fan-out and the merge cost, not a speed-up.
//
// Run from the repository root (build dir "build" below; any works):
//
//   build/bench/cluster_bench [--docs N] [--queries M] [--nodes 1,2,4] [--shards S] [--mode MODE]
//                             [--glove FILE] [--dir DIR] [--clients N] [--stall]
//
//   --docs     SciFact abstracts written (testdata eval/scifact). Default: 5183 (all).
//   --queries  SciFact train queries searched, one at a time. Default: 400.
//   --nodes    cluster sizes, comma-separated. Default: 1,2,4.
//   --shards   shards of every cluster. Default: 8.
//   --mode     search mode. Default: hybrid.
//   --glove    GloVe file. Default: .cache/ragd/glove-wink-sg-100d.bin (scripts/setup.sh).
//   --dir      work dir. Default: a fresh one under the temp dir, removed after.
//   --clients  also a third pass with N clients at once (the queries shared
//              out among them, through the nodes in turn): searches/s and
//              p50/p99. Default: 1 (no third pass).
//   --stall    also, for each cluster size of 3 nodes or more, two more
//              clusters with the last node stopped (SIGSTOP) after the
//              writes, its lease set to outlive the run so that it stays
//              "live": searched through the other nodes with hedged reads
//              (hedge_after_ms = 200) and without (0: the next replica only
//              after search_timeout_seconds, set to 2 in both). The first
//              30 queries only.
//
// Writes go through the first node, 100 documents per request, one request
// at a time: "acked" is documents over the time until every request was
// acknowledged (the documents are durable in JetStream), "applied" over the
// time until every replica had applied them (ragd_cluster_shard_applied_
// sequence on every node). Searches go through the nodes in turn, one at a
// time, k = 10, twice over the queries: the first pass reads most of the
// shards' BM25 statistics, the second finds them in the coordinators'
// caches (terms repeat across real queries; here each query comes again). Needs nats-server and etcd (scripts/install-deps.sh test).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.h"
#include "bench_stats.h"
#include "retrieve/eval.h"
#include "tests/cluster/cluster_servers.h"
#include "tests/testdata.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace ragd;
using ragd::test::ServerProcess;

namespace {

struct Args {
  size_t docs = 5183, queries = 400;
  std::vector<int> nodes{1, 2, 4};
  int shards = 8;
  std::string mode = "hybrid";
  std::string glove = ".cache/ragd/glove-wink-sg-100d.bin", dir;
  bool stall = false;
  int clients = 1;
};

struct Row {
  std::string setup;
  double acked = 0, applied = 0;
  double p50 = 0, p99 = 0;            // the first pass over the queries
  double again50 = 0, again99 = 0;    // the second
  double qps = 0, many50 = 0, many99 = 0;  // the third, with Args::clients at once
  size_t failed = 0;
};

// Two passes over the queries: a coordinator caches the shards' BM25
// statistics per term, so the first pass reads most of them and the second
// finds them cached (cluster/stats_cache.h).
void search_twice(Row& row, const std::vector<uint16_t>& ports, const std::vector<BeirQuery>& queries,
                  const std::string& mode, int clients);

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Writes the documents through `port` in requests of 100; the seconds until
// the last was acknowledged.
double write_all(uint16_t port, const std::vector<Document>& docs) {
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t begin = 0; begin < docs.size(); begin += 100) {
    Json batch = Json::array();
    for (size_t i = begin; i < std::min(docs.size(), begin + 100); ++i) {
      batch.push_back({{"id", docs[i].id}, {"title", docs[i].title}, {"text", docs[i].text}});
    }
    auto r = test::http_post(port, "/v1/documents", Json{{"documents", batch}}.dump());
    if (r.status != 200) bench::die(Status::internal("a write answered " + std::to_string(r.status) + ": " + r.body));
  }
  return seconds_since(t0);
}

// Each query once, through the ports in turn: latencies in ms, and failures.
std::vector<double> search_all(const std::vector<uint16_t>& ports, const std::vector<BeirQuery>& queries,
                               const std::string& mode, size_t* failed) {
  std::vector<double> ms;
  for (size_t q = 0; q < queries.size(); ++q) {
    const std::string body = Json{{"query", queries[q].text}, {"k", 10}, {"mode", mode}}.dump();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = test::http_post(ports[q % ports.size()], "/v1/search", body);
    ms.push_back(seconds_since(t0) * 1000);
    if (r.status != 200) ++*failed;
  }
  return ms;
}

void search_twice(Row& row, const std::vector<uint16_t>& ports, const std::vector<BeirQuery>& queries,
                  const std::string& mode, int clients) {
  auto first = search_all(ports, queries, mode, &row.failed);
  row.p50 = bench::median(first);
  row.p99 = bench::percentile(first, 0.99);
  auto again = search_all(ports, queries, mode, &row.failed);
  row.again50 = bench::median(again);
  row.again99 = bench::percentile(again, 0.99);
  if (clients <= 1) return;
  // The third pass: client t sends queries t, t + clients, ... one at a time.
  std::vector<std::vector<double>> ms(clients);
  std::vector<size_t> failed(clients, 0);
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<BeirQuery> mine;
      std::vector<uint16_t> via;
      for (size_t q = t; q < queries.size(); q += clients) {
        mine.push_back(queries[q]);
        via.push_back(ports[q % ports.size()]);
      }
      for (size_t i = 0; i < mine.size(); ++i) {
        auto one = search_all({via[i]}, {mine[i]}, mode, &failed[t]);
        ms[t].push_back(one.front());
      }
    });
  }
  for (auto& th : threads) th.join();
  const double seconds = seconds_since(t0);
  std::vector<double> all;
  for (int t = 0; t < clients; ++t) {
    all.insert(all.end(), ms[t].begin(), ms[t].end());
    row.failed += failed[t];
  }
  row.qps = static_cast<double>(all.size()) / seconds;
  row.many50 = bench::median(all);
  row.many99 = bench::percentile(all, 0.99);
}

Row run_single(const Args& a, const fs::path& dir, const std::vector<Document>& docs,
               const std::vector<BeirQuery>& queries) {
  ServerProcess single(dir / "single", a.glove);
  if (!single.start(120)) bench::die(Status::internal("ragd serve did not start:\n" + single.log()));
  Row row{"single ragd serve"};
  const double s = write_all(single.port(), docs);
  row.acked = row.applied = static_cast<double>(docs.size()) / s;
  search_twice(row, {single.port()}, queries, a.mode, a.clients);
  return row;
}

// `hedge_ms` >= 0: the stalled variant (--stall) with that hedge_after_ms.
Row run_cluster(const Args& a, const fs::path& dir, int n, const std::vector<Document>& docs,
                const std::vector<BeirQuery>& queries, int hedge_ms = -1) {
  test::ClusterServers servers;
  if (!servers.available()) bench::die(Status::failed_precondition("nats-server or etcd is not installed"));
  fs::create_directories(dir);
  if (!servers.start(dir)) bench::die(Status::internal("nats-server or etcd did not start; logs in " + dir.string()));
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("n" + std::to_string(i));
  const int replicas = n >= 2 ? 2 : 1;
  std::vector<std::unique_ptr<ServerProcess>> nodes;
  std::vector<uint16_t> ports;
  for (const auto& id : ids) {
    const fs::path file = dir / (id + ".toml");
    std::string text = servers.cluster_file(id, ids, a.shards, replicas, 3, 20000);
    if (hedge_ms >= 0) {
      text += "hedge_after_ms = " + std::to_string(hedge_ms) + "\nsearch_timeout_seconds = 2\n";
      // The node to stop keeps its lease for the whole run.
      const std::string ttl = "lease_ttl_seconds = 2";
      if (id == ids.back() && text.find(ttl) != std::string::npos) {
        text.replace(text.find(ttl), ttl.size(), "lease_ttl_seconds = 600");
      }
    }
    test::write_file(file, text);
    nodes.push_back(std::make_unique<ServerProcess>(dir / ("data-" + id), a.glove,
                                                    std::vector<std::string>{"--cluster", file.string()}));
  }
  for (auto& p : nodes) {
    if (!p->start(120)) bench::die(Status::internal("a cluster node did not start:\n" + p->log()));
    ports.push_back(p->port());
  }
  Row row{"cluster, " + std::to_string(n) + " node" + (n > 1 ? "s" : "") + ", " + std::to_string(a.shards) +
          " shards x " + std::to_string(replicas)};
  if (hedge_ms >= 0) row.setup = std::to_string(n) + " nodes, 1 stopped, hedge " + std::to_string(hedge_ms) + " ms";
  const auto t0 = std::chrono::steady_clock::now();
  const double acked = write_all(ports[0], docs);
  row.acked = static_cast<double>(docs.size()) / acked;
  const double want = static_cast<double>(replicas * docs.size());
  const bool applied = test::wait_until([&] {
    double sum = 0;
    for (uint16_t p : ports) sum += test::total(test::series(p, "ragd_cluster_shard_applied_sequence"));
    return sum >= want;
  }, 600000);
  if (!applied) bench::die(Status::internal("the replicas did not apply every document within 10 minutes"));
  row.applied = static_cast<double>(docs.size()) / seconds_since(t0);
  if (hedge_ms < 0) {
    search_twice(row, ports, queries, a.mode, a.clients);
    return row;
  }
  ::kill(nodes.back()->pid(), SIGSTOP);
  ports.pop_back();
  search_twice(row, ports, queries, a.mode, 1);
  ::kill(nodes.back()->pid(), SIGCONT);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bench::ArgReader args(argc, argv);
  while (args.next()) {
    const std::string& f = args.flag();
    if (f == "--docs") a.docs = std::stoul(args.value());
    else if (f == "--queries") a.queries = std::stoul(args.value());
    else if (f == "--shards") a.shards = std::stoi(args.value());
    else if (f == "--mode") a.mode = args.value();
    else if (f == "--glove") a.glove = args.value();
    else if (f == "--dir") a.dir = args.value();
    else if (f == "--stall") a.stall = true;
    else if (f == "--clients") a.clients = std::max(1, std::stoi(args.value()));
    else if (f == "--nodes") {
      a.nodes.clear();
      std::stringstream in(args.value());
      for (std::string n; std::getline(in, n, ',');) a.nodes.push_back(std::stoi(n));
    } else {
      args.unknown();
    }
  }
  const fs::path data = ragd::testing::shared_testdata_dir() / "eval/scifact";
  auto corpus = load_beir_corpus(data / "corpus.jsonl");
  if (!corpus.is_ok()) bench::die(corpus.status());
  auto queries = load_beir_queries(data / "queries-train.jsonl");
  if (!queries.is_ok()) bench::die(queries.status());
  if (corpus->size() > a.docs) corpus->resize(a.docs);
  if (queries->size() > a.queries) queries->resize(a.queries);
  if (!fs::exists(a.glove)) bench::die(Status::not_found("GloVe file " + a.glove + " (scripts/setup.sh fetches it)"));
  a.glove = fs::absolute(a.glove).string();
  std::unique_ptr<test::TempDir> temp;
  fs::path dir = a.dir;
  if (dir.empty()) {
    temp = std::make_unique<test::TempDir>("cluster-bench");
    dir = temp->path;
  }
  std::printf("cluster_bench: %zu SciFact abstracts, %zu queries (%s, k=10), one client%s; loopback, one machine\n",
              corpus->size(), queries->size(), a.mode.c_str(),
              a.clients > 1 ? (", then " + std::to_string(a.clients) + " at once").c_str() : "");
  std::vector<Row> rows{run_single(a, dir, *corpus, *queries)};
  for (int n : a.nodes) rows.push_back(run_cluster(a, dir / ("cluster-" + std::to_string(n)), n, *corpus, *queries));
  if (a.stall) {
    const std::vector<BeirQuery> few(queries->begin(), queries->begin() + std::min<size_t>(30, queries->size()));
    for (int n : a.nodes) {
      if (n < 3) continue;
      for (int hedge : {200, 0}) {
        rows.push_back(run_cluster(a, dir / ("stalled-" + std::to_string(n) + "-" + std::to_string(hedge)), n,
                                   *corpus, few, hedge));
      }
    }
  }
  std::printf("\n%-32s %11s %10s | %-21s %6s | %-21s %6s | %6s\n", "", "acked", "applied", "first pass (ms)", "",
              "second pass (ms)", "", "");
  std::printf("%-32s %11s %10s | %10s %10s %6s | %10s %10s %6s | %6s\n", "setup", "doc/s", "doc/s", "p50", "p99",
              "x p50", "p50", "p99", "x p50", "failed");
  for (const Row& r : rows) {
    std::printf("%-32s %11.0f %10.0f | %10.2f %10.2f %5.2fx | %10.2f %10.2f %5.2fx | %6zu\n", r.setup.c_str(),
                r.acked, r.applied, r.p50, r.p99, r.p50 / rows[0].p50, r.again50, r.again99,
                r.again50 / rows[0].again50, r.failed);
  }
  std::printf("x p50: the setup's median over the single server's, same pass\n");
  if (a.clients > 1) {
    std::printf("\n%-32s | %d clients at once (statistics cached)\n", "", a.clients);
    std::printf("%-32s | %10s %7s %10s %10s\n", "setup", "searches/s", "x", "p50 ms", "p99 ms");
    for (const Row& r : rows) {
      if (r.qps == 0) continue;
      std::printf("%-32s | %10.0f %6.2fx %10.2f %10.2f\n", r.setup.c_str(), r.qps, r.qps / rows[0].qps, r.many50,
                  r.many99);
    }
    std::printf("x: the setup's searches/s over the single server's\n");
  }
  return 0;
}
