// Crash test: kill -9 the server at seeded random moments during a bulk
// ingest over HTTP, several rounds. After each restart every acknowledged
// document is present and whole, acknowledged deletes stay deleted, and the
// vector and lexical indexes agree with the store: every stored chunk is
// found by a token unique to it and by its own text as a vector query.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

constexpr int kDocs = 6000;
constexpr int kParagraphs = 3;
constexpr int kBatch = 6;
constexpr int kRounds = 5;
constexpr uint64_t kSeed = 20240611;

std::string para_token(int doc, int para) { return "zqd" + std::to_string(doc) + "p" + std::to_string(para) + "x"; }
std::string doc_id(int doc) { return "crash/doc-" + std::to_string(doc); }

// Paragraphs of ~90 words from a fixed vocabulary, each led by its token.
std::vector<std::string> make_texts() {
  static const char* vocab[] = {"server", "restart",  "disk",    "network", "printer", "queue",   "password",
                                "reset",  "account",  "locked",  "vpn",     "tunnel",  "firewall", "rule",
                                "backup", "restore",  "volume",  "latency", "packet",  "loss",    "switch",
                                "port",   "database", "replica", "lag",     "index",   "rebuild", "cache",
                                "memory", "leak",     "process", "thread",  "kernel",  "update",  "patch",
                                "driver", "install",  "license", "expired", "certificate"};
  std::mt19937_64 rng(kSeed);
  std::uniform_int_distribution<size_t> pick(0, std::size(vocab) - 1);
  std::vector<std::string> texts;
  for (int d = 0; d < kDocs; ++d) {
    std::string text;
    for (int p = 0; p < kParagraphs; ++p) {
      if (p > 0) text += "\n\n";
      text += para_token(d, p);
      for (int w = 0; w < 90; ++w) {
        text += ' ';
        text += vocab[pick(rng)];
        if (w % 12 == 11) text += '.';
      }
      text += '.';
    }
    texts.push_back(std::move(text));
  }
  return texts;
}

struct Ledger {
  std::mutex mu;
  std::set<int> acked;          // acknowledged ingests
  std::set<int> deleted;        // acknowledged deletes (never re-ingested)
};

// Posts batches in order from `next`; stops at the first failure.
void ingest_until_failure(uint16_t port, const std::vector<std::string>& texts, std::atomic<int>& next,
                          Ledger& ledger) {
  for (;;) {
    int start = next.load();
    if (start >= kDocs) return;
    Json docs = Json::array();
    std::vector<int> ids;
    for (int d = start; d < std::min(kDocs, start + kBatch); ++d) {
      {
        std::lock_guard<std::mutex> lock(ledger.mu);
        if (ledger.deleted.count(d) != 0) continue;
      }
      docs.push_back({{"id", doc_id(d)}, {"title", "Crash doc " + std::to_string(d)}, {"text", texts[d]},
                      {"kind", "runbook"}});
      ids.push_back(d);
    }
    HttpResult r = http_post(port, "/v1/documents", Json{{"documents", docs}}.dump());
    if (r.status != 200) return;
    Json j = Json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j["ingested"].get<int>() + j["unchanged"].get<int>() != static_cast<int>(ids.size())) {
      ADD_FAILURE() << "partial acknowledgement: " << r.body;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      for (int d : ids) ledger.acked.insert(d);
    }
    next.store(start + kBatch);
  }
}

Json get_doc(uint16_t port, int d, int* status) {
  std::string id = doc_id(d);
  std::string enc;
  for (char c : id) enc += c == '/' ? std::string("%2F") : std::string(1, c);
  HttpResult r = http_get(port, "/v1/documents/" + enc);
  *status = r.status;
  return r.status == 200 ? Json::parse(r.body) : Json();
}

// A present document must hold every paragraph token in its chunks.
void expect_whole(const Json& doc, int d) {
  std::string all;
  for (const auto& c : doc["chunks"]) all += c["text"].get<std::string>() + "\n";
  for (int p = 0; p < kParagraphs; ++p) {
    EXPECT_NE(all.find(para_token(d, p)), std::string::npos) << doc_id(d) << " lost paragraph " << p;
  }
}

TEST(CrashSlow, KillNineDuringBulkIngest) {
  TempDir tmp("crash");
  fs::path data = tmp.path / "data";
  fs::path glove = tmp.path / "glove.bin";
  const std::vector<std::string> texts = make_texts();
  make_tiny_glove(glove, texts);

  Ledger ledger;
  std::atomic<int> next{0};
  std::vector<int> boundaries;  // next document at each kill
  std::mt19937_64 rng(kSeed);
  // Each kill lands after a random number of documents more have been sent
  // in its round, not after a random time: how fast the ingest goes depends
  // on the machine (an idle one finished all 6000 before the last kill), and
  // 4 rounds of at most kDocs / 6 leave the last round some to finish.
  std::uniform_int_distribution<int> kill_after_docs(kDocs / 20, kDocs / 6);
  // Then up to a few batches' time more, so the kill falls inside a request
  // as often as between two.
  std::uniform_int_distribution<int> then_us(0, 20000);

  for (int round = 0; round < kRounds; ++round) {
    ServerProcess server(data, glove);
    ASSERT_TRUE(server.start()) << "round " << round << "\n" << server.log();
    const uint16_t port = server.port();

    // Everything acknowledged before the last crash is here and whole; every
    // acknowledged delete stayed deleted.
    std::set<int> acked, deleted;
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      acked = ledger.acked;
      deleted = ledger.deleted;
    }
    // The documents acknowledged just before the kill are the ones at risk;
    // the final round checks all of them.
    const int boundary = next.load();
    for (int d = std::max(0, boundary - 4 * kBatch); d < std::min(kDocs, boundary + 2 * kBatch); ++d) {
      int status = 0;
      Json doc = get_doc(port, d, &status);
      if (acked.count(d) != 0) {
        ASSERT_EQ(status, 200) << "round " << round << ": acknowledged " << doc_id(d) << " is missing";
      }
      if (status == 200) expect_whole(doc, d);  // unacknowledged may be there, but whole
    }
    for (int d : deleted) {
      int status = 0;
      get_doc(port, d, &status);
      EXPECT_EQ(status, 404) << "round " << round << ": deleted " << doc_id(d) << " came back";
    }

    // Delete one acknowledged document (acknowledged delete).
    if (!acked.empty()) {
      int victim = *std::next(acked.begin(), static_cast<long>(rng() % acked.size()));
      std::string enc = "crash%2Fdoc-" + std::to_string(victim);
      HttpResult r = http_request(port, "DELETE", "/v1/documents/" + enc);
      ASSERT_EQ(r.status, 200) << r.body;
      std::lock_guard<std::mutex> lock(ledger.mu);
      ledger.acked.erase(victim);
      ledger.deleted.insert(victim);
    }

    if (round + 1 == kRounds) {
      // Last round: finish the ingest, then check index agreement.
      ingest_until_failure(port, texts, next, ledger);
      EXPECT_EQ(next.load() >= kDocs, true);
      int present = 0;
      int checked_chunks = 0;
      for (int d = 0; d < kDocs; ++d) {
        int status = 0;
        Json doc = get_doc(port, d, &status);
        if (status == 404) continue;
        ASSERT_EQ(status, 200);
        ++present;
        expect_whole(doc, d);
        {
          std::lock_guard<std::mutex> lock(ledger.mu);
          EXPECT_EQ(ledger.acked.count(d), 1u) << doc_id(d) << " present but never acknowledged";
        }
        // Index agreement on a seeded sample plus every kill boundary.
        bool sample = d % 10 == 0;
        for (int b : boundaries) sample = sample || (d >= b - 4 * kBatch && d < b + 2 * kBatch);
        if (!sample) continue;
        for (const auto& c : doc["chunks"]) {
          const std::string chunk_id = c["id"];
          const std::string text = c["text"];
          // Lexical: the rarest token of the chunk (its paragraph token) finds it.
          int para = -1;
          for (int p = 0; p < kParagraphs; ++p) {
            if (text.find(para_token(d, p)) != std::string::npos) { para = p; break; }
          }
          if (para >= 0) {
            Json req{{"query", para_token(d, para)}, {"mode", "lexical"}, {"k", 10}, {"dedup", false}};
            HttpResult r = http_post(port, "/v1/search", req.dump());
            ASSERT_EQ(r.status, 200) << r.body;
            const Json res = Json::parse(r.body);
            bool found = false;
            for (const auto& h : res["hits"]) found = found || h["chunk_id"] == chunk_id;
            EXPECT_TRUE(found) << "lexical index lost " << chunk_id << ": " << r.body;
          }
          // Vector: its own text is its nearest neighbour.
          Json vreq{{"query", text}, {"mode", "vector"}, {"k", 5}, {"dedup", false}};
          HttpResult r = http_post(port, "/v1/search", vreq.dump());
          ASSERT_EQ(r.status, 200) << r.body;
          const Json res = Json::parse(r.body);
          bool found = false;
          for (const auto& h : res["hits"]) found = found || h["chunk_id"] == chunk_id;
          EXPECT_TRUE(found) << "vector index lost " << chunk_id << ": " << r.body.substr(0, 300);
          ++checked_chunks;
        }
      }
      HttpResult st = http_get(port, "/v1/stats");
      ASSERT_EQ(st.status, 200);
      Json stats = Json::parse(st.body);
      EXPECT_EQ(stats["documents"].get<int>(), present);
      EXPECT_EQ(present, kDocs - static_cast<int>(ledger.deleted.size()));
      EXPECT_GT(checked_chunks, present / 10);
      EXPECT_EQ(server.stop(), 0) << server.log();
      std::cout << "[ crash ] " << kRounds - 1 << " kill -9 rounds, " << present << " documents, " << checked_chunks
                << " chunks (sampled) checked against both indexes\n";
      return;
    }

    const int target = next.load() + kill_after_docs(rng);
    const auto started = std::chrono::steady_clock::now();
    std::thread writer([&] { ingest_until_failure(port, texts, next, ledger); });
    while (next.load() < target && std::chrono::steady_clock::now() - started < std::chrono::seconds(120)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(then_us(rng)));
    const int wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - started)
                                             .count());
    const int sent_before_kill = next.load();
    server.kill_hard();
    boundaries.push_back(next.load());
    writer.join();
    std::cout << "[ crash ] round " << round << ": kill -9 after " << wait_ms << " ms, " << sent_before_kill
              << "/" << kDocs << " documents acknowledged\n";
    // The kill must land during the ingest for the round to test anything.
    EXPECT_LT(sent_before_kill, kDocs) << "ingest finished before the kill; raise kDocs";
  }
}

}  // namespace
}  // namespace ragd::test
