// Operator logs and request ids over real sockets (api/request_log.h):
//   - X-Request-Id: a safe one comes back as sent, a long or unsafe one is
//     replaced by a generated id, none gets one; on errors too (404, 413);
//   - `--log-format json`: every log line is a JSON object, one record per
//     request with its id, method, route, status, latency and bytes;
//   - /healthz and /v1/stats carry the version, commit and build type.
// The request id in the audit log of LLM answers is checked in
// llm_http_test.cpp (it needs the model fixture).
#include <gtest/gtest.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "api/request_log.h"
#include "ragd/version.h"
#include "test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

TEST(RequestIdTest, AcceptsSafeIdsAndReplacesOthers) {
  EXPECT_EQ(api::accept_request_id("abc-123_X.y:z"), "abc-123_X.y:z");
  const std::regex generated("[0-9a-f]{32}");
  for (const std::string& bad : {std::string(), std::string("has space"), std::string("new\r\nline"),
                                std::string("quote\""), std::string("{json}"), std::string(129, 'a')}) {
    std::string id = api::accept_request_id(bad);
    EXPECT_TRUE(std::regex_match(id, generated)) << bad << " -> " << id;
  }
  EXPECT_EQ(api::accept_request_id(std::string(128, 'a')), std::string(128, 'a'));
  EXPECT_NE(api::accept_request_id(""), api::accept_request_id(""));
}

TEST(RequestLogTest, RecordIsOneJsonLine) {
  api::RequestRecord r{"id-1", "POST", "/v1/search", 200, 12.3456, 42, 1234, "", "127.0.0.1:5"};
  // 2026-01-02T03:04:05.678Z
  auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1767323045678));
  std::string line = api::request_log_json(r, at);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  Json j = Json::parse(line);
  EXPECT_EQ(j["time"], "2026-01-02T03:04:05.678Z");
  EXPECT_EQ(j["request_id"], "id-1");
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["route"], "/v1/search");
  EXPECT_EQ(j["status"], 200);
  EXPECT_DOUBLE_EQ(j["latency_ms"].get<double>(), 12.346);
  EXPECT_EQ(j["bytes_in"], 42);
  EXPECT_EQ(j["bytes_out"], 1234);
  EXPECT_EQ(j["caller"], "");
  // Invalid UTF-8 (a method is bytes from the wire) does not break the line.
  r.method = "G\xff";
  EXPECT_TRUE(Json::parse(api::request_log_json(r, at)).is_object());
}

class RequestLogHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    glove_ = dir_.path / "glove.bin";
    make_tiny_glove(glove_, {"VPN error 809 means the firewall blocks L2TP."});
  }
  TempDir dir_{"reqlog"};
  fs::path glove_;
};

TEST_F(RequestLogHttpTest, RequestIdsAndJsonRecords) {
  ServerProcess s(dir_.path / "data", glove_, {"--log-format", "json", "--max-body", "4096"});
  ASSERT_TRUE(s.start()) << s.log();
  const uint16_t port = s.port();

  // A safe id comes back as sent.
  HttpResult health = http_request(port, "GET", "/healthz", {}, {}, {"X-Request-Id: ops-check.1"});
  ASSERT_EQ(health.status, 200);
  EXPECT_EQ(health.headers["x-request-id"], "ops-check.1");
  // The version fields, next to the old ones.
  Json h = Json::parse(health.body);
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["version"], build_info().version);
  EXPECT_EQ(h["commit"], build_info().commit);
  EXPECT_EQ(h["build_type"], build_info().build_type);
  HttpResult stats = http_get(port, "/v1/stats");
  ASSERT_EQ(stats.status, 200);
  Json st = Json::parse(stats.body);
  EXPECT_EQ(st["version"], build_info().version);
  EXPECT_EQ(st["commit"], build_info().commit);
  EXPECT_EQ(st["build_type"], build_info().build_type);
  EXPECT_TRUE(st.contains("documents") && st.contains("reindex"));

  // None sent: one is generated, different per request.
  const std::regex generated("[0-9a-f]{32}");
  const std::string gen1 = stats.headers["x-request-id"];
  EXPECT_TRUE(std::regex_match(gen1, generated)) << gen1;
  const std::string gen2 = http_get(port, "/v1/stats").headers["x-request-id"];
  EXPECT_TRUE(std::regex_match(gen2, generated));
  EXPECT_NE(gen1, gen2);

  // Unsafe or too long: replaced.
  const std::string search_body = R"({"query":"firewall"})";
  HttpResult unsafe = http_request(port, "POST", "/v1/search", search_body, "application/json",
                                   {"X-Request-Id: " + std::string(200, 'x')});
  ASSERT_EQ(unsafe.status, 200) << unsafe.body;
  EXPECT_TRUE(std::regex_match(unsafe.headers["x-request-id"], generated));
  HttpResult spaced = http_request(port, "POST", "/v1/search", search_body, "application/json",
                                   {"X-Request-Id: two words"});
  EXPECT_TRUE(std::regex_match(spaced.headers["x-request-id"], generated));

  // Errors carry it too: a route's 404 and the server's own 413.
  HttpResult missing = http_request(port, "GET", "/v1/documents/runbooks%2Fnone.md", {}, {}, {"X-Request-Id: r-404"});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers["x-request-id"], "r-404");
  HttpResult big = http_request(port, "POST", "/v1/search", std::string(8000, ' '), "application/json",
                                {"X-Request-Id: r-413"});
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.headers["x-request-id"], "r-413");

  ASSERT_EQ(s.stop(), 0);

  // Every line of the log is a JSON object; the request records name each
  // request by its id.
  std::map<std::string, Json> records;
  int lines = 0;
  std::istringstream in(s.log());
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    ++lines;
    Json j = Json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not JSON: " << line;
    ASSERT_TRUE(j.contains("time") && j.contains("level")) << line;
    EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line;
    if (j.value("event", "") == "request") records[j["request_id"].get<std::string>()] = j;
  }
  EXPECT_GE(lines, 9);
  ASSERT_TRUE(records.count("ops-check.1")) << s.log();
  const Json& r1 = records["ops-check.1"];
  EXPECT_EQ(r1["method"], "GET");
  EXPECT_EQ(r1["route"], "/healthz");
  EXPECT_EQ(r1["status"], 200);
  EXPECT_EQ(r1["bytes_in"], 0);
  EXPECT_EQ(r1["bytes_out"], health.body.size());
  EXPECT_EQ(r1["caller"], "");
  EXPECT_GE(r1["latency_ms"].get<double>(), 0.0);
  EXPECT_NE(r1["remote"].get<std::string>().find("127.0.0.1:"), std::string::npos);

  ASSERT_TRUE(records.count(unsafe.headers["x-request-id"]));
  const Json& r2 = records[unsafe.headers["x-request-id"]];
  EXPECT_EQ(r2["method"], "POST");
  EXPECT_EQ(r2["route"], "/v1/search");
  EXPECT_EQ(r2["bytes_in"], search_body.size());
  EXPECT_EQ(r2["bytes_out"], unsafe.body.size());

  ASSERT_TRUE(records.count("r-404"));
  EXPECT_EQ(records["r-404"]["status"], 404);
  EXPECT_EQ(records["r-404"]["route"], "/v1/documents/{id}");  // the label, not the document id
  ASSERT_TRUE(records.count("r-413"));
  EXPECT_EQ(records["r-413"]["status"], 413);
  EXPECT_TRUE(records.count(gen1) && records.count(gen2));
}

TEST_F(RequestLogHttpTest, TextFormatKeepsTheQuietLog) {
  ServerProcess s(dir_.path / "data", glove_);
  ASSERT_TRUE(s.start()) << s.log();
  HttpResult r = http_request(s.port(), "GET", "/healthz", {}, {}, {"X-Request-Id: text-1"});
  EXPECT_EQ(r.headers["x-request-id"], "text-1");
  ASSERT_EQ(s.stop(), 0);
  const std::string log = s.log();
  EXPECT_NE(log.find("ragd listening on http://127.0.0.1:"), std::string::npos) << log;
  EXPECT_EQ(log.find("text-1"), std::string::npos) << log;  // request lines are debug-level in text mode
}

}  // namespace
}  // namespace ragd::test
