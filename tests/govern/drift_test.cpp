// Drift signals: the monitor's window, its automatic baseline (persisted in
// the store and read back after a restart), the shift, OOV terms against a
// real lexical index; /metrics of a real server after answers (checked by
// promtool when it is installed), and the shipped alert rules through
// `promtool check rules`.
#include <gtest/gtest.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "govern/drift.h"
#include "index/store.h"
#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

bool have_promtool() { return std::system("promtool --version > /dev/null 2>&1") == 0; }

TEST(Drift, WindowBaselineAndShift) {
  TempDir dir("drift");
  StoreOptions so;
  so.dir = dir.path / "store";
  so.sync_writes = false;
  {
    auto store = Store::open(so);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    govern::DriftMonitor m(store->get(), govern::DriftOptions{4});
    EXPECT_FALSE(m.baseline().has_value());
    EXPECT_EQ(m.set_baseline().code(), StatusCode::kFailedPrecondition);
    int seen = 0;
    m.on_sample = [&seen](const govern::DriftSample&) { ++seen; };
    for (int i = 0; i < 4; ++i) m.observe({i == 0, 0.8, 0.0, i == 0 ? "refused" : "extractive"});
    ASSERT_TRUE(m.baseline().has_value());  // the first full window
    EXPECT_DOUBLE_EQ(m.baseline()->refusal_rate, 0.25);
    EXPECT_DOUBLE_EQ(m.baseline()->grounding_share.at("extractive"), 0.75);
    for (int i = 0; i < 4; ++i) m.observe({true, 0.2, 0.5, "refused"});
    const govern::DriftStats cur = m.current();
    EXPECT_EQ(cur.answers, 4u);  // the window slid
    EXPECT_DOUBLE_EQ(cur.refusal_rate, 1.0);
    EXPECT_DOUBLE_EQ(cur.oov_share, 0.5);
    EXPECT_NEAR(cur.best_score_mean, 0.2, 1e-12);
    EXPECT_DOUBLE_EQ(m.baseline()->refusal_rate, 0.25);  // the baseline stays
    EXPECT_EQ(seen, 8);
  }
  {
    auto store = Store::open(so);
    ASSERT_TRUE(store.is_ok());
    govern::DriftMonitor m(store->get(), govern::DriftOptions{4});
    ASSERT_TRUE(m.baseline().has_value()) << "the baseline did not survive a restart";
    EXPECT_DOUBLE_EQ(m.baseline()->refusal_rate, 0.25);
    m.observe({false, 0.5, 0.0, "extractive"});
    ASSERT_TRUE(m.set_baseline().is_ok());
    EXPECT_DOUBLE_EQ(m.baseline()->refusal_rate, 0.0);
  }
  EXPECT_FALSE(govern::drift_stats_from_json("{\"answers\": \"x\"}").is_ok());
}

TEST(Drift, MetricsOfARealServer) {
  TempDir dir("drift-http");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, {"to fix the vpn tunnel restart client then it reconnects zorblax quuxify"});
  ServerProcess server(data, glove);
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  Json docs{{"documents",
             Json::array({Json{{"id", "kb/vpn.md"},
                               {"title", "VPN runbook"},
                               {"text", "To fix the vpn tunnel restart the vpn client. The tunnel then reconnects."}}})}};
  ASSERT_EQ(http_post(port, "/v1/documents", docs.dump()).status, 200);
  ASSERT_EQ(http_post(port, "/v1/answer", R"({"query":"restart the vpn client"})").status, 200);
  // Two of its three analysed terms are not in the index.
  ASSERT_EQ(http_post(port, "/v1/answer", R"({"query":"zorblax quuxify vpn"})").status, 200);
  HttpResult m = http_get(port, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("ragd_drift_window_answers{window=\"current\"} 2"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("ragd_retrieval_best_score_count 2"), std::string::npos) << m.body;
  // OOV: 0 of 3 terms, then 2 of 3: a mean of 1/3.
  EXPECT_NE(m.body.find("ragd_drift_oov_share{window=\"current\"} 0.333333"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("ragd_drift_shift{signal=\"refusal_rate\"} 0"), std::string::npos) << m.body;
  if (have_promtool()) {
    const fs::path f = dir.path / "metrics.txt";
    write_file(f, m.body);
    EXPECT_EQ(std::system(("promtool check metrics < " + f.string() + " > /dev/null 2>&1").c_str()), 0);
  }
  EXPECT_EQ(server.stop(), 0);
}

TEST(Drift, ShippedAlertRulesPassPromtool) {
  const std::string rules = std::string(RAGD_SOURCE_DIR) + "/packaging/ragd-alerts.yml";
  ASSERT_TRUE(fs::exists(rules));
  if (!have_promtool()) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  std::string cmd = "promtool check rules " + rules + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // A broken copy fails, so the check can fail.
  TempDir dir("alerts");
  write_file(dir.path / "bad.yml", read_file(rules) + "      - alert: Broken\n        expr: rate(\n");
  EXPECT_NE(std::system(("promtool check rules " + (dir.path / "bad.yml").string() + " > /dev/null 2>&1").c_str()), 0);
}

}  // namespace
}  // namespace ragd::test
