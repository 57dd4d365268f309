// `ragd serve --embed-model FILE.gguf` end to end with a tiny BERT encoder
// written by GgufWriter: ingest over HTTP, vector search, /v1/embeddings,
// the e5 prefixes (chosen from the file name) and explicit ones, batching,
// and texts longer than the encoder's positions (truncated, never a 500).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/bert_embedder.h"
#include "tests/api/test_support.h"
#include "tests/api/tiny_bert.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

const std::vector<std::string> kTexts = {
    "printer toner replacement on floor three",      "vpn client fails after password change",
    "laptop battery drains overnight in sleep",     "outlook calendar invites arrive twice",
    "badge reader at the garage gate is offline",    "wifi drops in meeting room orion",
    "database backup job exceeded its window",      "new hire needs access to payroll reports",
    "monitor flickers when docked to the station",  "shared drive quota exceeded for finance",
    "phone voicemail pin reset request",            "software license renewal for design tools"};
const std::vector<std::string> kQueries = {"toner for the printer", "vpn password", "battery sleep drain",
                                           "search access payroll"};
constexpr int kCtx = 48;

std::string long_text(size_t words) {
  std::string s;
  for (size_t i = 0; i < words; ++i) s += kTexts[i % kTexts.size()].substr(0, kTexts[i % kTexts.size()].find(' ')) + " ";
  return s;
}

class EmbedModelHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("embed");
    std::vector<std::string> all = kTexts;
    all.insert(all.end(), kQueries.begin(), kQueries.end());
    TinyBertSpec spec;
    spec.ctx = kCtx;
    // "e5" in the name: --embed-prefixes auto picks "query: " / "passage: ".
    model_ = dir_->path / "tiny-e5-encoder.gguf";
    write_tiny_bert(model_, tiny_bert_words(all), spec);
    auto e = BertEmbedder::load(model_.string());  // no prefixes: the test adds them
    ASSERT_TRUE(e.is_ok()) << e.status().to_string();
    local_ = e.value().release();
  }
  static void TearDownTestSuite() {
    delete local_;
    delete dir_;
  }

  static std::vector<float> local(const std::string& text) {
    std::vector<float> out;
    std::vector<std::string> one{text};
    EXPECT_TRUE(local_->embed(one, EmbedRole::kPassage, out).is_ok());
    return out;
  }
  static double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += static_cast<double>(a[i]) * b[i];
    return s;
  }

  // Ingests kTexts and one long document over HTTP.
  static void ingest(uint16_t port) {
    Json docs = Json::array();
    for (size_t i = 0; i < kTexts.size(); ++i) {
      docs.push_back({{"id", "KB" + std::to_string(i)}, {"title", "note"}, {"text", kTexts[i]}, {"kind", "ticket"}});
    }
    docs.push_back({{"id", "LONG"}, {"title", "long"}, {"text", long_text(400)}, {"kind", "runbook"}});
    HttpResult r = http_post(port, "/v1/documents", Json{{"documents", docs}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Json::parse(r.body)["ingested"], kTexts.size() + 1) << r.body;
  }

  // Every vector hit's score is the cosine of the locally computed
  // query and passage vectors with these prefixes.
  static void expect_scores(uint16_t port, const std::string& qp, const std::string& pp) {
    size_t checked = 0;
    bool other_prefix_differs = false;
    for (const auto& q : kQueries) {
      HttpResult r = http_post(port, "/v1/search", Json{{"query", q}, {"k", 5}, {"mode", "vector"}}.dump());
      ASSERT_EQ(r.status, 200) << r.body;
      Json hits = Json::parse(r.body)["hits"];
      ASSERT_FALSE(hits.empty()) << q;
      const auto qv = local(qp + q);
      double prev = 2;
      for (const auto& h : hits) {
        // Ingest embeds the chunk with its title (ingest/chunker.h
        // chunk_embed_text); these documents have no section path.
        EXPECT_TRUE(h["section_path"].empty());
        const std::string text = h["title"].get<std::string>() + "\n" + h["text"].get<std::string>();
        const double want = dot(qv, local(pp + text));
        EXPECT_NEAR(h["score_vector"].get<double>(), want, 2e-3) << q << " / " << text;
        EXPECT_LE(h["score_vector"].get<double>(), prev + 1e-6);
        prev = h["score_vector"].get<double>();
        if (std::abs(dot(local(q), local(text)) - want) > 1e-2) other_prefix_differs = true;
        ++checked;
      }
    }
    EXPECT_GE(checked, kQueries.size());
    EXPECT_TRUE(other_prefix_differs) << "prefixes change no score: the check could not fail";
  }

  static TempDir* dir_;
  static fs::path model_;
  static BertEmbedder* local_;
};

TempDir* EmbedModelHttpTest::dir_ = nullptr;
fs::path EmbedModelHttpTest::model_;
BertEmbedder* EmbedModelHttpTest::local_ = nullptr;

TEST_F(EmbedModelHttpTest, E5PrefixesBatchingAndLongInputs) {
  ServerProcess server(dir_->path / "data-e5", dir_->path / "no-glove.bin", {"--embed-model", model_.string()});
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  Json stats = Json::parse(http_get(port, "/v1/stats").body);
  EXPECT_EQ(stats["encoder_loaded"].get<std::string>().rfind("gguf-bert:tiny-bert:mean:", 0), 0u) << stats;
  ingest(port);
  expect_scores(port, "query: ", "passage: ");

  // /v1/embeddings: 40 inputs of mixed lengths (two batches of 32), each as
  // if embedded alone, with the passage prefix; a text far past the
  // encoder's 48 positions is truncated to 47 tokens + [SEP].
  std::vector<std::string> inputs;
  for (int i = 0; i < 40; ++i) inputs.push_back(i == 7 ? long_text(3000) : kTexts[i % kTexts.size()].substr(i % 5));
  HttpResult r = http_post(port, "/v1/embeddings", Json{{"model", "ragd-embed"}, {"input", inputs}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  ASSERT_EQ(j["data"].size(), inputs.size());
  size_t want_tokens = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto want = local("passage: " + inputs[i]);
    auto got = j["data"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), want.size());
    EXPECT_NEAR(dot(got, want), 1.0, 1e-4) << i;
    want_tokens += local_->tokenize("passage: " + inputs[i]).size();
  }
  EXPECT_EQ(local_->tokenize("passage: " + inputs[7]).size(), static_cast<size_t>(kCtx));
  EXPECT_EQ(j["usage"]["prompt_tokens"].get<size_t>(), want_tokens) << j["usage"];

  // Long texts never fail: a long query in every mode, and the long
  // document (its chunks run past 48 tokens) is found.
  for (const char* mode : {"vector", "hybrid", "lexical"}) {
    HttpResult s = http_post(port, "/v1/search", Json{{"query", long_text(5000)}, {"k", 3}, {"mode", mode}}.dump());
    EXPECT_EQ(s.status, 200) << mode << ": " << s.body.substr(0, 300);
  }
  HttpResult doc = http_get(port, "/v1/documents/LONG");
  ASSERT_EQ(doc.status, 200);
  Json chunks = Json::parse(doc.body)["chunks"];
  ASSERT_FALSE(chunks.empty());
  const std::string chunk0 = chunks[0]["text"];
  EXPECT_EQ(local_->tokenize(chunk0).size(), static_cast<size_t>(kCtx)) << "the chunk should need truncating";
  HttpResult s = http_post(port, "/v1/search", Json{{"query", chunk0}, {"k", 1}, {"mode", "vector"}}.dump());
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(Json::parse(s.body)["hits"][0]["doc_id"], "LONG") << s.body.substr(0, 300);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST_F(EmbedModelHttpTest, ExplicitPrefixesFromFlags) {
  ServerProcess server(dir_->path / "data-custom", dir_->path / "no-glove.bin",
                       {"--embed-model", model_.string(), "--query-prefix", "search: ", "--passage-prefix", ""});
  ASSERT_TRUE(server.start()) << server.log();
  ingest(server.port());
  expect_scores(server.port(), "search: ", "");
  HttpResult r = http_post(server.port(), "/v1/embeddings", Json{{"model", "ragd-embed"}, {"input", kTexts[0]}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto got = Json::parse(r.body)["data"][0]["embedding"].get<std::vector<float>>();
  EXPECT_NEAR(dot(got, local(kTexts[0])), 1.0, 1e-4);
  EXPECT_EQ(server.stop(), 0) << server.log();
  // Other prefixes are another encoder: the e5 store refuses them.
  ServerProcess other(dir_->path / "data-custom", dir_->path / "no-glove.bin", {"--embed-model", model_.string()});
  EXPECT_FALSE(other.start(20));
  EXPECT_NE(other.log().find("ragd reindex"), std::string::npos) << other.log();
}

}  // namespace
}  // namespace ragd::test
