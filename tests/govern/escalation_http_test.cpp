// Escalation only with permission, over real sockets (issue 16, point 5):
// the real `ragd serve` with [[escalation]] tables in its config file, and a
// loopback server speaking OpenAI's chat-completions shape as the larger
// model. A real `ragd serve --llm` cannot stand in for it: the test models
// are random weights and never write a sentence that cites a passage, so
// the "upstream" here is a fake that answers from the passages it was sent
// (the first sentence of passage [1], cited), or with an unsupported
// sentence. The upstream counts its requests: only the collection whose
// policy allows it, and only requests that say "escalate": true and whose
// local answer is refused, ever reach it; what reaches it is redacted, and
// the audit log holds exactly those bytes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/api/test_support.h"
#include "tests/sync/loopback_server.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;
namespace lt = ragd::sync::testing;

constexpr const char* kKeyEnv = "RAGD_TEST_UPSTREAM_KEY";
constexpr const char* kKey = "sk-test-upstream-5f2a";

// The fake larger model. kEcho: the first sentence of passage [1], citing
// it. kMadeUp: a sentence the passages do not support.
enum class Mode { kEcho, kMadeUp };

lt::Response upstream_answer(const lt::Request& req, Mode mode) {
  Json body = Json::parse(req.body, nullptr, false);
  if (req.path != "/v1/chat/completions" || !body.is_object()) return {404, {}, R"({"error":"no"})"};
  std::string content = "The moon is made of green cheese and sings at night [1].";
  if (mode == Mode::kEcho) {
    // Passage [1]: the lines after "[1] <title>" up to the blank line.
    const std::string user = body["messages"][1]["content"].get<std::string>();
    const size_t text_at = user.find('\n', user.find("[1] ")) + 1;
    std::string passage = user.substr(text_at, user.find("\n\n", text_at) - text_at);
    for (char& ch : passage) ch = ch == '\n' ? ' ' : ch;
    const size_t stop = passage.find(". ");
    content = (stop == std::string::npos ? passage : passage.substr(0, stop + 1)) + " [1]";
  }
  Json out{{"id", "chatcmpl-1"},
           {"object", "chat.completion"},
           {"model", body.value("model", "")},
           {"choices", Json::array({Json{{"index", 0},
                                         {"message", Json{{"role", "assistant"}, {"content", content}}},
                                         {"finish_reason", "stop"}}})},
           {"usage", Json{{"prompt_tokens", 100}, {"completion_tokens", 20}, {"total_tokens", 120}}}};
  return {200, {}, out.dump()};
}

const char* kPrinterText =
    "The print server prn-hq-01 at 10.20.30.40 queues jobs for the head office. "
    "Contact jane.roe@acme.example or open https://print.corp.acme.com/queue for help. "
    "Ticket CASE-4411 was raised by Jane Roe about stuck jobs.";

std::string docs_json() {
  Json docs = Json::array();
  docs.push_back(Json{{"id", "kb/printing.md"},
                      {"title", "Printing at the head office"},
                      {"text", kPrinterText},
                      {"metadata", Json{{"requester", "Jane Roe"}}}});
  docs.push_back(Json{{"id", "kb/vpn.md"},
                      {"title", "VPN runbook"},
                      {"text", "To fix the vpn tunnel restart the vpn client. The tunnel then reconnects."}});
  return Json{{"documents", docs}}.dump();
}

class EscalationHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("escalation");
    data_ = dir_->path / "data";
    fs::create_directories(data_);
    glove_ = dir_->path / "glove.bin";
    make_tiny_glove(glove_, {"the print server queues jobs for head office contact open help ticket was raised by "
                             "about stuck fix vpn tunnel restart client then reconnects which vendor painted mural "
                             "lobby colour"});
    upstream_ = std::make_unique<lt::LoopbackServer>([this](const lt::Request& r) {
      {
        std::lock_guard l(mu_);
        auth_headers_.push_back(r.headers.count("authorization") ? r.headers.at("authorization") : "");
      }
      return upstream_answer(r, mode_.load());
    });
    config_ = dir_->path / "ragd.toml";
    write_file(config_,
               "[[escalation]]\n"
               "collection = \"kb2\"\n"
               "allow = true\n"
               "url = \"" + upstream_->url() + "/v1\"\n"
               "model = \"big-model\"\n"
               "key_env = \"" + std::string(kKeyEnv) + "\"\n"
               "redact = [\"CASE-[0-9]+\"]\n"
               "\n"
               "[[escalation]]\n"
               "collection = \"default\"\n"
               "allow = false\n"
               "url = \"" + upstream_->url() + "/v1\"\n"
               "model = \"big-model\"\n"
               "\n"
               "[[escalation]]\n"
               "collection = \"down\"\n"
               "allow = true\n"
               "url = \"http://127.0.0.1:1/v1\"\n"
               "model = \"big-model\"\n"
               "timeout = 5\n");
    ::setenv(kKeyEnv, kKey, 1);
  }
  void TearDown() override { ::unsetenv(kKeyEnv); }

  Json ask(const std::string& prefix, const std::string& q, bool escalate, int expect = 200) {
    Json body{{"query", q}};
    if (escalate) body["escalate"] = true;
    HttpResult r = http_post(server_->port(), prefix + "/answer", body.dump());
    EXPECT_EQ(r.status, expect) << prefix << ": " << r.body;
    return Json::parse(r.body, nullptr, false);
  }

  std::unique_ptr<TempDir> dir_;
  fs::path data_, glove_, config_;
  std::unique_ptr<lt::LoopbackServer> upstream_;
  std::atomic<Mode> mode_{Mode::kEcho};
  std::mutex mu_;
  std::vector<std::string> auth_headers_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(EscalationHttp, OnlyWithPermissionAndRedacted) {
  server_ = std::make_unique<ServerProcess>(data_, glove_, std::vector<std::string>{"--config", config_.string()});
  ASSERT_TRUE(server_->start()) << server_->log();
  const uint16_t port = server_->port();
  for (const char* c : {"kb2", "kb3", "down"}) {
    ASSERT_EQ(http_post(port, "/v1/collections", Json{{"name", c}}.dump()).status, 201);
  }
  for (const std::string prefix : {"/v1", "/v1/collections/kb2", "/v1/collections/kb3", "/v1/collections/down"}) {
    HttpResult r = http_post(port, prefix + "/documents", docs_json());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  const std::string question = "Which vendor painted the mural in the print server lobby?";

  // The local answer is refused everywhere; without "escalate" nothing
  // leaves and the answer names no escalation.
  for (const std::string prefix : {"/v1", "/v1/collections/kb2", "/v1/collections/kb3"}) {
    Json a = ask(prefix, question, false);
    ASSERT_TRUE(a.value("refused", false)) << prefix << ": " << a.dump();
    EXPECT_FALSE(a.contains("escalation")) << a.dump();
  }
  // The default collection's policy says no; kb3 has none.
  for (const std::string prefix : {"/v1", "/v1/collections/kb3"}) {
    Json a = ask(prefix, question, true);
    EXPECT_TRUE(a.value("refused", false)) << a.dump();
    EXPECT_EQ(a["escalation"]["outcome"], "not_allowed") << a.dump();
  }
  EXPECT_EQ(upstream_->requests(), 0) << "a collection without permission called out";

  // kb2 allows it and the request asks: one call, redacted.
  Json a = ask("/v1/collections/kb2", question, true);
  ASSERT_EQ(upstream_->requests(), 1);
  EXPECT_EQ(a["escalation"]["outcome"], "answered") << a.dump();
  EXPECT_EQ(a["escalation"]["model"], "big-model");
  EXPECT_FALSE(a.value("refused", true)) << a.dump();
  EXPECT_EQ(a["grounding"], "verified") << a.dump();
  EXPECT_EQ(a["provenance"]["answerer"], "escalated");
  ASSERT_FALSE(a["citations"].empty()) << a.dump();
  EXPECT_EQ(a["citations"][0]["doc_id"], "kb/printing.md");
  EXPECT_NE(a["answer"].get<std::string>().find("[1]"), std::string::npos) << a.dump();
  const std::string sent = upstream_->bodies().at(0);
  for (const char* secret : {"prn-hq-01", "10.20.30.40", "jane.roe@acme.example", "print.corp.acme.com", "Jane Roe",
                             "CASE-4411"}) {
    EXPECT_EQ(sent.find(secret), std::string::npos) << secret << " left the box: " << sent;
  }
  for (const char* marker : {"[HOST]", "[IP]", "[EMAIL]", "[NAME]", "[REDACTED]", "print server", "mural"}) {
    EXPECT_NE(sent.find(marker), std::string::npos) << marker << " missing: " << sent;
  }
  {
    std::lock_guard l(mu_);
    EXPECT_EQ(auth_headers_.at(0), std::string("Bearer ") + kKey);
  }

  // The audit log holds exactly the bytes that left, and never the key.
  const std::string audit = read_file(data_ / "audit.jsonl");
  EXPECT_EQ(audit.find(kKey), std::string::npos);
  int escalations = 0;
  std::istringstream lines(audit);
  for (std::string line; std::getline(lines, line);) {
    Json rec = Json::parse(line, nullptr, false);
    if (!rec.is_object() || rec.value("task", "") != "escalation") continue;
    ++escalations;
    EXPECT_EQ(rec["escalation_sent"].get<std::string>(), sent);
    EXPECT_EQ(rec["escalation_outcome"], "answered");
    EXPECT_EQ(rec["request_id"], a["request_id"]) << line;
    EXPECT_EQ(rec["model_file"], "big-model");
    EXPECT_EQ(rec["grounding"], "verified");
  }
  EXPECT_EQ(escalations, 1) << audit;

  // An upstream answer the passages do not support is not taken.
  mode_ = Mode::kMadeUp;
  Json b = ask("/v1/collections/kb2", question, true);
  EXPECT_EQ(upstream_->requests(), 2);
  EXPECT_EQ(b["escalation"]["outcome"], "unverified") << b.dump();
  EXPECT_TRUE(b.value("refused", false)) << b.dump();
  EXPECT_EQ(b["answer"].get<std::string>().find("cheese"), std::string::npos) << b.dump();

  // An unreachable upstream: the local answer stands, the failure is named.
  Json c = ask("/v1/collections/down", question, true);
  EXPECT_EQ(c["escalation"]["outcome"], "failed") << c.dump();
  EXPECT_TRUE(c.value("refused", false));

  // A bad "escalate" is a 400.
  HttpResult bad = http_post(port, "/v1/collections/kb2/answer", R"({"query":"x","escalate":"yes"})");
  EXPECT_EQ(bad.status, 400) << bad.body;

  HttpResult m = http_get(port, "/metrics");
  EXPECT_NE(m.body.find("ragd_escalations_total{outcome=\"not_allowed\"} 2"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("ragd_escalations_total{outcome=\"answered\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("ragd_escalations_total{outcome=\"unverified\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("ragd_escalations_total{outcome=\"failed\"} 1"), std::string::npos);
  // A locally answered question never calls out.
  mode_ = Mode::kEcho;
  Json local = ask("/v1/collections/kb2", "How do I fix the vpn tunnel?", false);
  Json d = ask("/v1/collections/kb2", "How do I fix the vpn tunnel?", true);
  if (!local.value("refused", true)) {
    EXPECT_EQ(d["escalation"]["outcome"], "not_needed") << d.dump();
    EXPECT_EQ(upstream_->requests(), 2);
  }

  EXPECT_EQ(server_->stop(), 0);
}

TEST_F(EscalationHttp, BadPolicyStopsServe) {
  write_file(config_, "[[escalation]]\ncollection = \"kb2\"\nallow = true\nmodel = \"m\"\n");
  std::string out;
  const int code = run_ragd({"serve", "--listen", "127.0.0.1:0", "--data", data_.string(), "--glove", glove_.string(),
                             "--config", config_.string()},
                            &out);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("ragd.toml:1: escalation 'kb2': allow = true needs url"), std::string::npos) << out;
}

}  // namespace
}  // namespace ragd::test
