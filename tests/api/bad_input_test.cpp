// Bad input over real sockets: malformed JSON and HTTP, wrong types,
// oversized bodies (413) and headers (431), slow senders, truncated PDFs and
// malformed exports. Each gets a clear JSON error; the server stays healthy.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir("bad");
    make_tiny_glove(tmp_->path / "glove.bin", {"printer driver error vpn firewall password policy"});
    server_ = new ServerProcess(tmp_->path / "data", tmp_->path / "glove.bin",
                                {"--max-body", "1048576", "--max-header", "4096", "--read-timeout", "2"});
    ASSERT_TRUE(server_->start()) << server_->log();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
      delete server_;
      server_ = nullptr;
    }
    delete tmp_;
    tmp_ = nullptr;
  }
  void TearDown() override {
    // Whatever the test sent, the server is alive and answering.
    ASSERT_NE(server_, nullptr);
    HttpResult h = http_get(port(), "/healthz");
    EXPECT_EQ(h.status, 200) << h.error << "\n" << server_->log();
  }
  static uint16_t port() { return server_->port(); }

  static void expect_json_error(const HttpResult& r, int status, const std::string& needle) {
    EXPECT_EQ(r.status, status) << r.body << r.error;
    Json j = Json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_TRUE(j["error"].contains("code")) << r.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(needle), std::string::npos)
        << "expected '" << needle << "' in " << r.body;
  }

  // Sends raw bytes on a fresh connection and returns the parsed response.
  static HttpResult raw_exchange(const std::string& bytes) {
    int fd = connect_loopback(port(), 10);
    if (fd < 0) return {};
    send_all(fd, bytes);
    std::string raw = read_all(fd);
    ::close(fd);
    return parse_response(raw);
  }

  static TempDir* tmp_;
  static ServerProcess* server_;
};

TempDir* BadInputTest::tmp_ = nullptr;
ServerProcess* BadInputTest::server_ = nullptr;

TEST_F(BadInputTest, MalformedJsonAndWrongTypes) {
  expect_json_error(http_post(port(), "/v1/search", "{\"query\": "), 400, "malformed JSON");
  expect_json_error(http_post(port(), "/v1/search", "\xff\xfe{}"), 400, "malformed JSON");
  expect_json_error(http_post(port(), "/v1/search", R"({"query":["a"]})"), 400, "'query'");
  expect_json_error(http_post(port(), "/v1/search", R"({"query":"a","k":1.5})"), 400, "'k'");
  expect_json_error(http_post(port(), "/v1/search", R"({"query":"a","filters":{"kinds":[1]}})"), 400,
                    "filters.kinds[0]");
  expect_json_error(http_post(port(), "/v1/answer", R"({"query":"a","groups":[null]})"), 400, "groups[0]");
  expect_json_error(http_post(port(), "/v1/documents", R"({"documents":[{"id":"a","text":"t","acl":[1]}]})"), 400,
                    "documents[0].acl[0]");
  // Deeply nested JSON is an error, not a stack overflow.
  std::string deep(100000, '[');
  HttpResult r = http_post(port(), "/v1/search", deep);
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(BadInputTest, OversizedBodyGets413) {
  std::string big(2u << 20, 'a');
  HttpResult r = http_post(port(), "/v1/documents?filename=big.txt", big, "text/plain");
  expect_json_error(r, 413, "exceeds");
}

TEST_F(BadInputTest, OversizedHeadersGet431) {
  std::vector<std::string> headers{"X-Filler: " + std::string(8000, 'x')};
  HttpResult r = http_request(port(), "GET", "/healthz", {}, "application/json", headers);
  expect_json_error(r, 431, "header");
  // A huge URL counts against the same limit.
  r = http_get(port(), "/v1/documents/" + std::string(6000, 'q'));
  EXPECT_EQ(r.status, 431) << r.body;
}

TEST_F(BadInputTest, MalformedHttpGets400) {
  HttpResult r = raw_exchange("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_TRUE(r.status == 400 || r.status == 0) << r.body;
  r = raw_exchange("POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.body;
  r = raw_exchange("POST /v1/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(BadInputTest, SlowSenderIsCutOff) {
  int fd = connect_loopback(port(), 10);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"query\""));
  auto start = std::chrono::steady_clock::now();
  // Meanwhile other clients are served.
  EXPECT_EQ(http_get(port(), "/healthz").status, 200);
  std::string raw = read_all(fd);  // the server gives up after --read-timeout 2
  ::close(fd);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, 8.0);
  // Disconnected without an answer: no request was ever complete.
  EXPECT_EQ(raw.find("200 OK"), std::string::npos) << raw;
}

TEST_F(BadInputTest, PipelinedRequestsAnswerInOrder) {
  int fd = connect_loopback(port(), 10);
  ASSERT_GE(fd, 0);
  std::string body = R"({"query":"printer","mode":"lexical"})";
  std::string one = "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string req = one + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" +
                    "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(send_all(fd, req));
  std::string raw = read_all(fd);
  ::close(fd);
  size_t a = raw.find("HTTP/1.1 200");
  size_t b = raw.find("HTTP/1.1 404");
  size_t c = raw.find("HTTP/1.1 200", b == std::string::npos ? 0 : b);
  ASSERT_NE(a, std::string::npos) << raw;
  ASSERT_NE(b, std::string::npos) << raw;
  ASSERT_NE(c, std::string::npos) << raw;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST_F(BadInputTest, ExpectContinueUpload) {
  std::string body = R"({"documents":[{"id":"exp-1","text":"printer driver error"}]})";
  HttpResult r = http_request(port(), "POST", "/v1/documents", body, "application/json", {"Expect: 100-continue"});
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(BadInputTest, TruncatedPdfAndMalformedExports) {
  std::string pdf =
      "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages "
      "/Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n"
      "4 0 obj\n<< /Length 200 >>\nstream\nBT /F1 12 Tf 72 712 Td (Trunc";
  std::string mp = "--ragdB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"policies/cut.pdf\"\r\n"
                   "Content-Type: application/pdf\r\n\r\n" +
                   pdf + "\r\n--ragdB--\r\n";
  HttpResult r = http_post(port(), "/v1/documents", mp, "multipart/form-data; boundary=ragdB");
  expect_json_error(r, 400, "cut.pdf");
  EXPECT_EQ(http_get(port(), "/v1/documents/policies%2Fcut.pdf").status, 404);

  // A multipart body cut before its closing boundary.
  r = http_post(port(), "/v1/documents", mp.substr(0, mp.size() - 30), "multipart/form-data; boundary=ragdB");
  expect_json_error(r, 400, "truncated");

  // Jira export that is not JSON at all.
  r = http_post(port(), "/v1/documents?filename=jira.json&format=jira", "{\"issues\": [ {\"key\": ", "application/json");
  expect_json_error(r, 400, "jira.json");

  // ServiceNow export with one good and one bad record: the good one goes in.
  std::string sn = R"({"result":[
    {"number":"INC0099001","short_description":"Printer offline","description":"prn-rtm-02 offline",
     "sys_updated_on":"2024-03-01 10:00:00","state":"Resolved","close_notes":"Restarted spooler"},
    {"number":17,"short_description":["wrong"]}]})";
  r = http_post(port(), "/v1/documents?filename=sn.json&format=servicenow", sn, "application/json");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  EXPECT_GE(j["ingested"].get<int>() + j["unchanged"].get<int>(), 1) << r.body;
  EXPECT_FALSE(j["errors"].empty()) << "the bad record should be reported: " << r.body;

  // A DOCX that is not a zip.
  r = http_post(port(), "/v1/documents?filename=policies/x.docx", "PK\x03\x04 not really a zip",
                "application/octet-stream");
  expect_json_error(r, 400, "x.docx");
}

}  // namespace
}  // namespace ragd::test
