// sync_bench: a first full sync of N ServiceNow incidents from a local fake
// Table API (loopback HTTP, the same fake the tests use), end to end: HTTP +
// JSON + connector mapping + ingest (GloVe-SIF, RocksDB synced, HNSW) +
// cursor writes. Printed next to the plain file ingest of the same records
// (one ServiceNow export file through `fetch_path` + Ingestor) as the baseline.
//
// Then freshness, through the scheduler of `ragd serve` (sync/scheduler.h)
// on a store of 1,000 synced incidents: (a) polling, a record changed at
// the fake is searchable (BM25 finds its new word) within one interval; (b)
// webhook, a signed ServiceNow event handed to the receiver of POST
// /v1/webhooks/{name} (Scheduler::webhook, without the HTTP hop) until the
// record is searchable.
//
// Usage: sync_bench [records=100000] [page_size=1000] [glove.bin] [--no-baseline] [--no-throughput]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "connectors/connector.h"
#include "index/store.h"
#include "ingest/pipeline.h"
#include "model/glove_sif.h"
#include "auth/crypto.h"
#include "index/analyzer.h"
#include "sync/engine.h"
#include "sync/scheduler.h"
#include "tests/sync/fake_vendors.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ragd::sync::testing::json;

namespace {

constexpr int64_t kT0 = 1717200000;

json make_incident(size_t i, std::mt19937_64& rng) {
  static const char* kWhat[] = {"VPN error 809", "Outlook password prompt", "printer queue stuck", "disk full on C:",
                                "badge reader offline", "Teams camera black", "SSO redirect loop",
                                "mailbox quota exceeded", "slow Wi-Fi on floor 3", "certificate expired"};
  static const char* kFix[] = {"re-registered the NAT-T key and rebooted", "cleared cached credentials",
                               "restarted the spooler and cleared the queue", "ran disk cleanup and moved the "
                               "profile", "power-cycled the controller", "updated the camera driver",
                               "cleared the browser cookies for the IdP", "archived old items and raised the quota",
                               "moved the user to the 5 GHz SSID", "renewed the certificate from the internal CA"};
  const size_t k = rng() % 10;
  char sys_id[40], number[16];
  std::snprintf(sys_id, sizeof sys_id, "%032zx", i);
  std::snprintf(number, sizeof number, "INC%07zu", i);
  const std::string what = kWhat[k];
  return {{"sys_id", sys_id},
          {"number", number},
          {"short_description", what + " for user " + std::to_string(rng() % 5000)},
          {"description", "The user reports " + what + " since this morning. Laptop model " +
                              std::to_string(rng() % 40) + ", site " + std::to_string(rng() % 12) +
                              ". Tried a reboot without success."},
          {"close_notes", std::string("Resolved: ") + kFix[k] + ". Confirmed with the user."},
          {"category", "network"},
          {"assignment_group", "Service Desk L" + std::to_string(1 + rng() % 3)},
          {"state", "Closed"},
          {"sys_created_on", ragd::sync::testing::sn_time(kT0 + static_cast<int64_t>(i) / 4 - 3600)},
          {"sys_updated_on", ragd::sync::testing::sn_time(kT0 + static_cast<int64_t>(i) / 4)}};
}

std::unique_ptr<ragd::Store> fresh_store(const fs::path& dir) {
  fs::remove_all(dir);
  ragd::StoreOptions so;
  so.dir = dir;
  auto s = ragd::Store::open(so);
  if (!s.is_ok()) {
    std::fprintf(stderr, "%s\n", s.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(*s);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void print_trials(const char* what, const std::vector<double>& v) {
  std::printf("%s", what);
  for (double x : v) std::printf(" %.3f", x);
  std::printf(" s; median %.3f s, max %.3f s\n", median(v), v.empty() ? 0 : *std::max_element(v.begin(), v.end()));
}

// Polling and webhook freshness through the scheduler, 5 trials each.
int freshness(const ragd::Embedder& embedder) {
  constexpr int kBase = 1000, kTrials = 5;
  constexpr int64_t kInterval = 2;
  const fs::path dir = fs::temp_directory_path() / "ragd-sync-bench-fresh";
  auto store = fresh_store(dir);
  std::mt19937_64 rng(7);
  ragd::sync::testing::FakeServiceNow sn("incident");
  for (int i = 1; i <= kBase; ++i) sn.put(make_incident(static_cast<size_t>(i), rng));
  ragd::sync::testing::LoopbackServer server([&](const ragd::sync::testing::Request& r) { return sn.handle(r); });
  setenv("RAGD_SYNC_BENCH_HOOK", "bench-secret", 1);
  ragd::sync::SourceConfig src;
  src.name = "bench";
  src.type = ragd::sync::SourceType::kServiceNow;
  src.url = server.url();
  src.table = "incident";
  src.page_size = 1000;
  src.interval_seconds = kInterval;
  src.webhook_secret_env = "RAGD_SYNC_BENCH_HOOK";
  ragd::sync::Scheduler sched(*store, [&embedder] { return &embedder; }, {src});
  sched.start();
  if (!sched.wait_passes("bench", 1, std::chrono::minutes(10))) {
    std::fprintf(stderr, "freshness: the first pass did not finish\n");
    return 1;
  }
  auto searchable = [&](const std::string& word) {
    const auto terms = ragd::analyze(word);
    return !store->search_lexical(terms, 1, [](const ragd::DocInfo&) { return true; }).empty();
  };
  auto wait_searchable = [&](const std::string& word, Clock::time_point t0) {
    while (!searchable(word)) {
      if (Clock::now() - t0 > std::chrono::seconds(60)) return -1.0;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  auto now_unix = [] { return static_cast<int64_t>(std::time(nullptr)); };
  std::vector<double> poll, hook;
  for (int k = 0; k < kTrials; ++k) {
    // The change lands at a random moment of the interval.
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (kInterval * 1000)));
    const std::string word = std::string("qzpollmark") + static_cast<char>('a' + k);
    json rec = make_incident(static_cast<size_t>(10 + k), rng);
    rec["short_description"] = rec["short_description"].get<std::string>() + " " + word;
    rec["sys_updated_on"] = ragd::sync::testing::sn_time(now_unix());
    const auto t0 = Clock::now();
    sn.put(rec);
    poll.push_back(wait_searchable(word, t0));
  }
  for (int k = 0; k < kTrials; ++k) {
    const std::string word = std::string("qzhookmark") + static_cast<char>('a' + k);
    json rec = make_incident(static_cast<size_t>(20 + k), rng);
    rec["short_description"] = rec["short_description"].get<std::string>() + " " + word;
    rec["sys_updated_on"] = ragd::sync::testing::sn_time(now_unix());
    const std::string body = json{{"operation", "update"}, {"table", "incident"}, {"record", rec}}.dump();
    const std::string ts = std::to_string(now_unix());
    const std::string sig = "sha256=" + ragd::auth::hex_encode(ragd::auth::hmac_sha256("bench-secret", ts + "." + body));
    const auto t0 = Clock::now();
    auto r = sched.webhook("bench", {{"x-ragd-timestamp", ts}, {"x-ragd-signature", sig}}, body);
    if (!r.is_ok()) {
      std::fprintf(stderr, "webhook: %s\n", r.status().to_string().c_str());
      return 1;
    }
    hook.push_back(wait_searchable(word, t0));
  }
  sched.stop();
  store.reset();
  fs::remove_all(dir);
  std::printf("freshness over %d synced incidents, GloVe-SIF, RocksDB synced:\n", kBase);
  print_trials(("  (a) polling, interval " + std::to_string(kInterval) + " s, change -> searchable:").c_str(), poll);
  print_trials("  (b) webhook (signed ServiceNow event), receive -> searchable:", hook);
  const bool ok_poll = *std::max_element(poll.begin(), poll.end()) <= kInterval + 1.0 &&
                       *std::min_element(poll.begin(), poll.end()) >= 0;
  const bool ok_hook = *std::max_element(hook.begin(), hook.end()) < 1.0 &&
                       *std::min_element(hook.begin(), hook.end()) >= 0;
  std::printf("  targets: polling within one interval (+1 s for the pass) %s; webhook < 1 s %s\n",
              ok_poll ? "met" : "MISSED", ok_hook ? "met" : "MISSED");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  bool baseline = true, throughput = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-baseline") baseline = false;
    else if (a == "--no-throughput") throughput = false;
    else pos.push_back(a);
  }
  const size_t n = pos.size() > 0 ? std::strtoul(pos[0].c_str(), nullptr, 10) : 100000;
  const int page_size = pos.size() > 1 ? std::atoi(pos[1].c_str()) : 1000;
  fs::path glove = pos.size() > 2 ? fs::path(pos[2]) : fs::path();
  if (glove.empty()) glove = std::getenv("RAGD_GLOVE") ? std::getenv("RAGD_GLOVE") : RAGD_DEFAULT_GLOVE_PATH;
  auto embedder = ragd::GloveSifEmbedder::open(glove);
  if (!embedder.is_ok()) {
    std::fprintf(stderr, "%s\n", embedder.status().to_string().c_str());
    return 1;
  }

  if (!throughput) return freshness(**embedder);
  std::mt19937_64 rng(20261204);
  ragd::sync::testing::FakeServiceNow sn("incident");
  json exported = json::array();
  for (size_t i = 1; i <= n; ++i) {
    json rec = make_incident(i, rng);
    exported.push_back(rec);
    sn.put(rec);
  }
  const fs::path export_file = fs::temp_directory_path() / "ragd-sync-bench-export.json";
  {
    std::ofstream out(export_file);
    out << json{{"result", exported}}.dump();
  }
  exported = json();
  std::printf("%zu ServiceNow incidents; page size %d; GloVe-SIF %s\n", n, page_size, glove.string().c_str());

  // Baseline: the same records as one export file.
  const fs::path base_dir = fs::temp_directory_path() / "ragd-sync-bench-file";
  double file_secs = 0;
  uint64_t file_docs = 0, file_chunks = 0;
  if (baseline) {
    auto store = fresh_store(base_dir);
    auto t0 = Clock::now();
    ragd::Ingestor ingestor(*store, **embedder);
    ragd::FetchSink sink;
    sink.on_document = [&](ragd::Document&& d) { ingestor.add(std::move(d)); };
    sink.on_error = [](const ragd::Status&) {};
    ragd::FetchOptions fo;
    fo.format = ragd::SourceFormat::kServiceNow;
    ragd::Status st = ragd::fetch_path(export_file, fo, sink);
    ingestor.flush();
    file_secs = std::chrono::duration<double>(Clock::now() - t0).count();
    file_docs = ingestor.stats().ingested;
    file_chunks = ingestor.stats().chunks;
    if (!st.is_ok()) std::fprintf(stderr, "file ingest: %s\n", st.to_string().c_str());
  }
  fs::remove_all(base_dir);
  fs::remove(export_file);
  if (baseline) {
    std::printf("file ingest (baseline):  %llu records, %llu chunks in %.2f s: %.0f records/s\n",
                static_cast<unsigned long long>(file_docs), static_cast<unsigned long long>(file_chunks), file_secs,
                file_docs / file_secs);
  }

  // Sync: first full pass, then a pass with nothing new.
  const fs::path sync_dir = fs::temp_directory_path() / "ragd-sync-bench-sync";
  {
    auto store = fresh_store(sync_dir);
    ragd::sync::testing::LoopbackServer server([&](const ragd::sync::testing::Request& r) { return sn.handle(r); });
    ragd::sync::SourceConfig src;
    src.name = "bench";
    src.type = ragd::sync::SourceType::kServiceNow;
    src.url = server.url();
    src.table = "incident";
    src.page_size = page_size;
    ragd::sync::SyncEngine engine(*store, **embedder);
    auto t0 = Clock::now();
    ragd::sync::SyncResult r = engine.run(src);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!r.status.is_ok()) {
      std::fprintf(stderr, "sync: %s\n", r.status.to_string().c_str());
      return 1;
    }
    char ratio[64] = "";
    if (baseline) {
      std::snprintf(ratio, sizeof ratio, " (%.2fx the file ingest)", (r.counts.fetched / secs) / (file_docs / file_secs));
    }
    std::printf("sync, first full pass:   %llu records (%llu new, %llu failed), %llu pages in %.2f s: %.0f records/s "
                "end to end%s\n",
                static_cast<unsigned long long>(r.counts.fetched), static_cast<unsigned long long>(r.counts.added),
                static_cast<unsigned long long>(r.counts.failed), static_cast<unsigned long long>(r.counts.pages), secs,
                r.counts.fetched / secs, ratio);
    auto t1 = Clock::now();
    ragd::sync::SyncResult again = engine.run(src);
    std::printf("sync, next pass (no changes): %llu records in %.3f s\n",
                static_cast<unsigned long long>(again.counts.fetched),
                std::chrono::duration<double>(Clock::now() - t1).count());
  }
  fs::remove_all(sync_dir);
  return freshness(**embedder);
}
