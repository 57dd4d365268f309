// Answer feedback: linked to the audit record, stored durably, exported as
// an answers-eval file that `ragd eval --answers` reads. Unit tests of
// govern/feedback.h, then the real `ragd serve` and `ragd eval`.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "govern/feedback.h"
#include "tests/api/test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

AuditRecord record(const std::string& id, const std::string& task, const std::string& grounding) {
  AuditRecord r;
  r.request_id = id;
  r.task = task;
  r.query = "how do I fix the vpn tunnel?";
  r.grounding = grounding;
  r.cited_doc_ids = {"kb/vpn.md"};
  r.answerer = task == "escalation" ? "escalated" : "extractive";
  return r;
}

TEST(AnswerFeedback, LinksToTheAuditRecordAndMakesEvalLines) {
  EXPECT_EQ(govern::feedback_for({}, true, "").status().code(), StatusCode::kNotFound);
  auto f = govern::feedback_for({record("a1", "answer", "extractive")}, true, "restart the vpn client");
  ASSERT_TRUE(f.is_ok());
  EXPECT_EQ(f->question, "how do I fix the vpn tunnel?");
  EXPECT_FALSE(f->refused);
  auto line = govern::feedback_eval_line(*f, "feedback");
  ASSERT_TRUE(line.has_value());
  Json j = Json::parse(*line);
  EXPECT_TRUE(j["answerable"].get<bool>());
  EXPECT_EQ(j["key_facts"], Json::array({"restart the vpn client"}));
  EXPECT_EQ(j["gold_doc_ids"], Json::array({"kb/vpn.md"}));

  // A right refusal becomes an unanswerable question; an escalated answer
  // that answered is the final one, so the answer was not refused.
  auto refused = govern::feedback_for({record("a2", "answer", "refused")}, true, "");
  ASSERT_TRUE(refused.is_ok());
  EXPECT_TRUE(refused->refused);
  Json r = Json::parse(*govern::feedback_eval_line(*refused, "feedback"));
  EXPECT_FALSE(r["answerable"].get<bool>());
  AuditRecord esc = record("a3", "escalation", "verified");
  esc.escalation_outcome = "answered";
  auto escalated = govern::feedback_for({record("a3", "answer", "refused"), esc}, false, "");
  ASSERT_TRUE(escalated.is_ok());
  EXPECT_FALSE(escalated->refused);
  EXPECT_EQ(escalated->answerer, "escalated");
  // Not helpful without a correction says nothing checkable.
  EXPECT_FALSE(govern::feedback_eval_line(*escalated, "feedback").has_value());

  auto back = govern::feedback_from_json(govern::feedback_to_json(*f));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->correction, "restart the vpn client");
  EXPECT_EQ(back->cited_doc_ids, f->cited_doc_ids);
  EXPECT_FALSE(govern::feedback_from_json("[1]").is_ok());
  EXPECT_FALSE(govern::feedback_from_json("{\"answer_id\": 3}").is_ok());
}

TEST(AnswerFeedbackHttp, StoredAndExported) {
  TempDir dir("feedback");
  const fs::path data = dir.path / "data";
  fs::create_directories(data);
  const fs::path glove = dir.path / "glove.bin";
  make_tiny_glove(glove, {"to fix the vpn tunnel restart client then it reconnects printer spooler service which "
                          "vendor painted mural lobby"});
  ServerProcess server(data, glove);
  ASSERT_TRUE(server.start()) << server.log();
  const uint16_t port = server.port();
  Json docs{{"documents",
             Json::array({Json{{"id", "kb/vpn.md"},
                               {"title", "VPN runbook"},
                               {"text", "To fix the vpn tunnel restart the vpn client. The tunnel then reconnects."}}})}};
  ASSERT_EQ(http_post(port, "/v1/documents", docs.dump()).status, 200);

  auto ask = [&](const std::string& q) {
    HttpResult r = http_post(port, "/v1/answer", Json{{"query", q}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body, nullptr, false);
  };
  Json answered = ask("How do I fix the vpn tunnel?");
  Json refused = ask("Which vendor painted the mural in the lobby?");
  ASSERT_TRUE(refused.value("refused", false)) << refused.dump();
  const std::string id1 = answered.value("request_id", ""), id2 = refused.value("request_id", "");
  ASSERT_FALSE(id1.empty()) << answered.dump();
  ASSERT_FALSE(id2.empty());
  ASSERT_NE(id1, id2);

  auto feedback = [&](const std::string& id, const std::string& body) {
    return http_post(port, "/v1/answers/" + id + "/feedback", body);
  };
  HttpResult f1 = feedback(id1, R"({"helpful": true, "correction": "restart the vpn client"})");
  ASSERT_EQ(f1.status, 200) << f1.body;
  EXPECT_EQ(Json::parse(f1.body)["question"], "How do I fix the vpn tunnel?");
  ASSERT_EQ(feedback(id2, R"({"helpful": true})").status, 200);
  // Judged twice: the newest judgement wins.
  ASSERT_EQ(feedback(id2, R"({"helpful": false})").status, 200);
  ASSERT_EQ(feedback(id2, R"({"helpful": true})").status, 200);
  EXPECT_EQ(feedback("no-such-answer", R"({"helpful": true})").status, 404);
  EXPECT_EQ(feedback(id1, R"({"helpful": "yes"})").status, 400);
  EXPECT_EQ(feedback(id1, R"({"helpful": true, "correction": 5})").status, 400);
  EXPECT_EQ(feedback(id1, "not json").status, 400);
  EXPECT_EQ(feedback(id1, Json{{"helpful", true}, {"correction", std::string(5000, 'x')}}.dump()).status, 400);
  EXPECT_EQ(http_post(port, "/v1/answers/" + id1 + "/other", R"({"helpful": true})").status, 404);
  ASSERT_EQ(server.stop(), 0);

  const fs::path out = dir.path / "feedback.jsonl";
  std::string log;
  ASSERT_EQ(run_ragd({"eval", "export-feedback", "--data", data.string(), "--out", out.string()}, &log), 0) << log;
  EXPECT_NE(log.find("2 judged answers, 2 questions written"), std::string::npos) << log;
  std::vector<Json> lines;
  std::istringstream in(read_file(out));
  for (std::string l; std::getline(in, l);) lines.push_back(Json::parse(l));
  ASSERT_EQ(lines.size(), 2u);
  int answerable = 0;
  for (const auto& l : lines) answerable += l["answerable"].get<bool>() ? 1 : 0;
  EXPECT_EQ(answerable, 1);
  // The file is what `ragd eval --answers` reads: both questions are scored.
  ASSERT_EQ(run_ragd({"eval", "--answers", out.string(), "--data", data.string(), "--glove", glove.string()}, &log), 0)
      << log;
  EXPECT_NE(log.find("questions=2"), std::string::npos) << log;
  EXPECT_NE(run_ragd({"eval", "export-feedback", "--data", data.string()}, &log), 0);
}

}  // namespace
}  // namespace ragd::test
