// Triage retraining over HTTP against a real `ragd serve` (issue 13): the
// server holds the store, so POST /v1/triage/train trains inside it; the
// new model serves /v1/tickets/assist without a restart; only admins may
// train; GET /v1/triage shows the served version and the last run.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "auth/key_store.h"
#include "tests/api/test_support.h"
#include "tests/support/synthetic_tickets.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

HttpResult call(uint16_t port, const std::string& method, const std::string& target, const std::string& secret,
                const std::string& body = {}) {
  return http_request(port, method, target, body, "application/json", {"Authorization: Bearer " + secret});
}

TEST(TriageHttp, TrainInTheServerThenAssistPredictsWithTheNewModel) {
  TempDir dir("triage-http");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  triage::SyntheticOptions so;
  so.tickets = 500;
  so.groups = 6;
  so.signal = 0.85;
  so.label_noise = 0.05;
  const auto tickets = triage::generate_tickets(so);
  const fs::path csv = dir.path / "tickets.csv";
  write_file(csv, triage::tickets_csv(tickets));
  std::string words;
  for (size_t i = 0; i < 50; ++i) words += tickets[i].subject + " " + tickets[i].description + " ";
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, {words});
  std::string out;
  ASSERT_EQ(run_ragd({"ingest", csv.string(), "--data", data.string(), "--glove", glove.string(), "--csv-map",
                      triage::tickets_csv_map()},
                     &out),
            0)
      << out;
  auto ks = auth::KeyStore::open(data.string());
  ASSERT_TRUE(ks.is_ok());
  const std::string admin = (*ks)->create("admin", auth::Role::kAdmin, {}, "", 0)->secret;
  const std::string reader = (*ks)->create("reader", auth::Role::kReader, {}, "", 0)->secret;
  ks->reset();

  ServerProcess server(data, glove);
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  const auto& probe = tickets.back();
  const std::string assist = Json{{"subject", probe.subject}, {"description", probe.description}}.dump();

  HttpResult before = call(port, "POST", "/v1/tickets/assist", reader, assist);
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_TRUE(Json::parse(before.body)["triage"].empty()) << before.body;

  // Readers may not train; bad bodies are 400.
  EXPECT_EQ(call(port, "POST", "/v1/triage/train", reader, "{}").status, 403);
  EXPECT_EQ(call(port, "POST", "/v1/triage/train", admin, R"({"fields":"assignment_group"})").status, 400);
  EXPECT_EQ(call(port, "POST", "/v1/triage/train", admin, R"({"feilds":[]})").status, 400);

  HttpResult started = call(port, "POST", "/v1/triage/train", admin, R"({"fields":["assignment_group"]})");
  ASSERT_EQ(started.status, 202) << started.body;
  Json status;
  for (int i = 0; i < 600; ++i) {
    HttpResult g = call(port, "GET", "/v1/triage", admin);
    ASSERT_EQ(g.status, 200) << g.body;
    status = Json::parse(g.body);
    if (status["retrain"]["runs"].get<int>() >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(status["retrain"]["runs"], 1) << status.dump();
  const Json& last = status["retrain"]["last"][0];
  EXPECT_EQ(last["field"], "assignment_group");
  EXPECT_EQ(last["activated"], true) << last.dump();
  EXPECT_EQ(last["version"], "v000001");
  ASSERT_EQ(status["served"].size(), 1u) << status.dump();
  EXPECT_EQ(status["served"][0]["version"], "v000001");

  HttpResult after = call(port, "POST", "/v1/tickets/assist", reader, assist);
  ASSERT_EQ(after.status, 200) << after.body;
  const Json triage = Json::parse(after.body)["triage"];
  ASSERT_TRUE(triage.contains("assignment_group")) << after.body;
  EXPECT_TRUE(triage["assignment_group"].contains("confidence")) << after.body;
  // Provenance: the model version that predicted, the encoder, the store.
  EXPECT_EQ(triage["assignment_group"]["model_version"], "v000001") << after.body;
  const Json prov = Json::parse(after.body)["provenance"];
  EXPECT_FALSE(prov["encoder"].get<std::string>().empty()) << after.body;
  EXPECT_GT(prov["store_sequence"].get<uint64_t>(), 0u) << after.body;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

}  // namespace
}  // namespace ragd::test
