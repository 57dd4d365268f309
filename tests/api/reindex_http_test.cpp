// Background reindex over real sockets: `ragd serve --embed-model NEW
// --reindex` on a GloVe-SIF store keeps answering searches with the old
// encoder while it re-embeds, takes ingest and delete meanwhile, reports
// progress in /v1/stats and /metrics, switches, and a kill -9 mid-reindex
// leaves a store that still serves the old encoder.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/api/test_support.h"
#include "tests/api/tiny_bert.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

const char* const kTopics[] = {"printer toner jam",      "vpn tunnel timeout",    "laptop battery swap",
                               "outlook mailbox full",   "badge reader offline",  "wifi roaming drops",
                               "backup window overrun",  "payroll report access", "monitor dock flicker",
                               "finance drive quota"};

std::string doc_text(int i) {
  return "ticket about " + std::string(kTopics[i % 10]) + " on site " + std::to_string(i / 10) + " code zq" +
         std::to_string(i) + "x";
}
const std::string kMidText = "midway ticket about elevator alarm panel code zqmidx";

class ReindexHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> texts;
    for (int i = 0; i < kDocs; ++i) texts.push_back(doc_text(i));
    texts.push_back(kMidText);
    glove_ = dir_.path / "glove.bin";
    make_tiny_glove(glove_, texts);
    bert_ = dir_.path / "tiny-bert.gguf";  // no e5/bge in the name: no prefixes
    write_tiny_bert(bert_, tiny_bert_words(texts));
    data_ = dir_.path / "data";
    ServerProcess server(data_, glove_);
    ASSERT_TRUE(server.start()) << server.log();
    Json docs = Json::array();
    for (int i = 0; i < kDocs; ++i) {
      docs.push_back({{"id", "D" + std::to_string(i)}, {"title", "t"}, {"text", doc_text(i)}, {"kind", "ticket"}});
    }
    HttpResult r = http_post(server.port(), "/v1/documents", Json{{"documents", docs}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    glove_fp_ = Json::parse(http_get(server.port(), "/v1/stats").body)["encoder"].get<std::string>();
    ASSERT_EQ(server.stop(), 0);
  }

  static Json stats(uint16_t port) { return Json::parse(http_get(port, "/v1/stats").body, nullptr, false); }

  // The top hit of a search, "" when there is none; fails the test on a
  // non-200 answer.
  static std::string top(uint16_t port, const std::string& query, const char* mode) {
    HttpResult r = http_post(port, "/v1/search", Json{{"query", query}, {"k", 3}, {"mode", mode}}.dump());
    EXPECT_EQ(r.status, 200) << mode << " " << query << ": " << r.body << r.error;
    Json j = Json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j["hits"].empty()) return "";
    return j["hits"][0]["doc_id"];
  }

  // The vector score of the top hit.
  static double top_score(uint16_t port, const std::string& query) {
    HttpResult r = http_post(port, "/v1/search", Json{{"query", query}, {"k", 1}, {"mode", "vector"}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    Json j = Json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j["hits"].empty()) return 0;
    return j["hits"][0]["score_vector"].get<double>();
  }

  static constexpr int kDocs = 60;
  TempDir dir_{"reindex"};
  fs::path glove_, bert_, data_;
  std::string glove_fp_;
};

TEST_F(ReindexHttpTest, SearchesIngestAndDeleteWorkThroughABackgroundReindex) {
  ServerProcess server(data_, glove_,
                       {"--embed-model", bert_.string(), "--reindex", "--reindex-batch", "2", "--reindex-pause-ms",
                        "40"});
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  Json st = stats(port);
  ASSERT_EQ(st["reindex"]["state"], "running") << st;
  EXPECT_EQ(st["encoder"], glove_fp_);
  const std::string bert_fp = st["reindex"]["target"];
  EXPECT_EQ(bert_fp.rfind("gguf-bert:", 0), 0u) << st;

  int searches = 0, progress_seen = 0;
  bool ingested = false, deleted = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  for (int round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
    st = stats(port);
    const std::string state = st["reindex"]["state"];
    if (state == "done") break;
    ASSERT_TRUE(state == "running" || state == "switching") << st;
    const uint64_t done = st["reindex"]["done"], total = st["reindex"]["total"];
    if (done > 0 && done < total) ++progress_seen;
    const int i = 1 + round % (kDocs - 1);
    EXPECT_EQ(top(port, "zq" + std::to_string(i) + "x", "hybrid"), "D" + std::to_string(i));
    // As ingest embeds it (title "t" + text): exact for the new encoder.
    EXPECT_EQ(top(port, "t\n" + doc_text(i), "vector"), "D" + std::to_string(i));
    searches += 2;
    if (!ingested && done >= 10) {
      HttpResult r = http_post(port, "/v1/documents",
                               Json{{"documents", {{{"id", "MID"}, {"title", "t"}, {"text", kMidText}}}}}.dump());
      ASSERT_EQ(r.status, 200) << r.body;
      EXPECT_EQ(top(port, kMidText, "vector"), "MID");  // old encoder, before the switch
      ingested = true;
    }
    if (!deleted && done >= 20) {
      EXPECT_EQ(http_request(port, "DELETE", "/v1/documents/D0").status, 200);
      deleted = true;
    }
  }
  st = stats(port);
  ASSERT_EQ(st["reindex"]["state"], "done") << st;
  EXPECT_TRUE(ingested);
  EXPECT_TRUE(deleted);
  EXPECT_GE(progress_seen, 2) << "progress was not visible while running";
  EXPECT_GE(searches, 10);
  EXPECT_EQ(st["encoder"], bert_fp);
  EXPECT_EQ(st["encoder_loaded"], bert_fp);
  EXPECT_EQ(st["chunks"], kDocs);  // 60 - D0 + MID
  EXPECT_EQ(st["reindex"]["done"], st["reindex"]["total"]);
  // Everything, including the document written mid-reindex, is in the new space.
  EXPECT_EQ(top(port, "t\n" + kMidText, "vector"), "MID");
  for (int i = 1; i < kDocs; i += 7) EXPECT_EQ(top(port, "t\n" + doc_text(i), "vector"), "D" + std::to_string(i));
  EXPECT_NE(top(port, "t\n" + doc_text(0), "vector"), "D0");
  // Reindexed vectors are what ingest would store: the encoder's vector of
  // title + "\n" + text (ragd/chunk_text.h chunk_embed_text); the query has no
  // prefix with this encoder, so the same text scores 1.
  EXPECT_NEAR(top_score(port, "t\n" + doc_text(7)), 1.0, 1e-4);
  EXPECT_NEAR(top_score(port, "t\n" + kMidText), 1.0, 1e-4);
  const std::string metrics = http_get(port, "/metrics").body;
  EXPECT_NE(metrics.find("ragd_reindex_running 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("ragd_reindex_chunks_done " + std::to_string(kDocs)), std::string::npos);
  EXPECT_EQ(server.stop(), 0) << server.log();

  // The store is bound to the new encoder now.
  ServerProcess again(data_, glove_, {"--embed-model", bert_.string()});
  ASSERT_TRUE(again.start()) << again.log();
  EXPECT_EQ(stats(again.port())["encoder"], bert_fp);
  EXPECT_EQ(top(again.port(), "t\n" + kMidText, "vector"), "MID");
  EXPECT_EQ(again.stop(), 0);
}

TEST_F(ReindexHttpTest, KillDuringReindexLeavesTheOldEncodersStore) {
  std::string bert_fp;
  {
    ServerProcess server(data_, glove_,
                         {"--embed-model", bert_.string(), "--reindex", "--reindex-batch", "1", "--reindex-pause-ms",
                          "100"});
    ASSERT_TRUE(server.start()) << server.log();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    Json st;
    while (std::chrono::steady_clock::now() < deadline) {
      st = stats(server.port());
      if (st["reindex"]["done"].get<uint64_t>() >= 5) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(st["reindex"]["state"], "running") << st;
    bert_fp = st["reindex"]["target"].get<std::string>();
    server.kill_hard();
  }
  {
    ServerProcess server(data_, glove_);
    ASSERT_TRUE(server.start()) << server.log();
    Json st = stats(server.port());
    EXPECT_EQ(st["encoder"], glove_fp_);
    EXPECT_EQ(st["chunks"], kDocs);
    EXPECT_EQ(st["reindex"]["state"], "idle");
    EXPECT_EQ(st["reindex"]["discarded"], bert_fp) << st;
    for (int i = 0; i < kDocs; i += 9) EXPECT_EQ(top(server.port(), doc_text(i), "vector"), "D" + std::to_string(i));
    HttpResult r = http_post(server.port(), "/v1/documents",
                             Json{{"documents", {{{"id", "MID"}, {"title", "t"}, {"text", kMidText}}}}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(server.stop(), 0);
  }
  // The reindex can be run again, offline this time, through the same code.
  std::string out;
  ASSERT_EQ(run_ragd({"reindex", "--data", data_.string(), "--glove", glove_.string(), "--embed-model", bert_.string()},
                     &out),
            0)
      << out;
  ASSERT_EQ(run_ragd({"stats", "--json", "--data", data_.string()}, &out), 0) << out;
  Json st = Json::parse(out, nullptr, false);
  EXPECT_EQ(st["encoder"], bert_fp) << out;
  EXPECT_EQ(st["chunks"], kDocs + 1);
  ServerProcess server(data_, glove_, {"--embed-model", bert_.string()});
  ASSERT_TRUE(server.start()) << server.log();
  EXPECT_EQ(top(server.port(), "t\n" + kMidText, "vector"), "MID");
  EXPECT_NEAR(top_score(server.port(), "t\n" + doc_text(3)), 1.0, 1e-4);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace ragd::test
