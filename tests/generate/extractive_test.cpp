// The extractive answerer on a small real store, and the threshold chooser.
#include "generate/extractive.h"

#include <gtest/gtest.h>

#include <regex>

#include "tests/support/calibration.h"
#include "tests/retrieve/toy_store.h"

namespace ragd {
namespace {

using testing::make_doc;
using testing::ToyStore;

class ExtractiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kb_.ok());
    kb_.add(make_doc("runbooks/printer.md", "Printer paper jam", "runbook", ""),
            {"Open tray 2 and remove the jammed paper. Then restart the printer. The toner is not involved.",
             "If the jam comes back, call facilities on extension 4411."},
            {{"Printer paper jam", "Fix"}, {"Printer paper jam", "Escalation"}});
    kb_.add(make_doc("INC0012345", "VPN tunnel drops", "ticket",
                     "The vpn tunnel drops after a network change. Error 0x80070005 on connection."));
    kb_.add(make_doc("policies/passwords.md", "Password policy", "policy",
                     "A password must have at least 14 characters. A locked account is reset by the service desk."));
    retriever_ = std::make_unique<Retriever>(kb_.store(), &kb_.embedder());
  }

  // The toy GloVe vocabulary gives the word ranks, as the service does.
  ExtractiveOptions options() const {
    ExtractiveOptions o;
    o.word_ranks = &kb_.embedder();
    return o;
  }

  Answer ask(const std::string& q, ExtractiveOptions o) {
    ExtractiveAnswerer a(*retriever_, o);
    SearchRequest r;
    r.query = q;
    auto ans = a.answer(r);
    EXPECT_TRUE(ans.is_ok()) << ans.status().to_string();
    return ans.is_ok() ? std::move(ans).value() : Answer{};
  }
  Answer ask(const std::string& q) { return ask(q, options()); }

  ToyStore kb_{"extractive_test"};
  std::unique_ptr<Retriever> retriever_;
};

TEST_F(ExtractiveTest, AnswersWithCitedSentences) {
  Answer a = ask("How do I clear a printer paper jam in the tray?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  ASSERT_FALSE(a.citations.empty());
  EXPECT_LE(a.citations.size(), 3u);
  EXPECT_EQ(a.citations[0].doc_id, "runbooks/printer.md");
  EXPECT_EQ(a.citations[0].chunk_id, "runbooks/printer.md#0");
  EXPECT_EQ(a.citations[0].title, "Printer paper jam");
  EXPECT_EQ(a.citations[0].url, "https://kb.example.com/runbooks/printer.md");
  // One citation per chunk; its quote holds the units taken from it.
  EXPECT_EQ(a.citations[0].quote.rfind("Open tray 2 and remove the jammed paper.", 0), 0u) << a.citations[0].quote;
  EXPECT_EQ(a.grounding, Grounding::kExtractive);
  EXPECT_EQ(a.intent, "fix");
  EXPECT_EQ(a.format, "markdown");
  EXPECT_GT(a.confidence, 0.5);
  EXPECT_FALSE(a.hits.empty());
  for (size_t i = 0; i < a.citations.size(); ++i) {
    EXPECT_EQ(a.citations[i].n, static_cast<int>(i + 1));
    EXPECT_NE(a.text.find("[" + std::to_string(i + 1) + "]"), std::string::npos) << a.text;
  }
  // A fix question is answered from the section whose heading is a fix:
  // a lead line naming the source, then each step as a cited list item;
  // the escalation section is not part of it.
  const std::regex lead_then_items(R"(^[^\n\[]+:\n(\n- [^\n]+ \[\d+\]\.)+$)");
  EXPECT_TRUE(std::regex_match(a.text, lead_then_items)) << a.text;
  EXPECT_NE(a.text.find("- Open tray 2 and remove the jammed paper [1]."), std::string::npos) << a.text;
  EXPECT_NE(a.text.find("- Then restart the printer [1]."), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("4411"), std::string::npos) << a.text;
}

TEST_F(ExtractiveTest, ExactIdentifierQuestion) {
  Answer a = ask("error 0x80070005");
  ASSERT_FALSE(a.refused) << a.confidence;
  EXPECT_EQ(a.citations[0].doc_id, "INC0012345");
  EXPECT_EQ(a.citations[0].quote, "Error 0x80070005 on connection.");
  EXPECT_EQ(a.text, "According to INC0012345: Error 0x80070005 on connection [1].");
}

TEST_F(ExtractiveTest, RefusesWhenTheKbDoesNotAnswer) {
  for (const char* q : {"Who won the football world cup?", "How do I bake sourdough bread?",
                        "What is the capital of Australia?"}) {
    Answer a = ask(q);
    EXPECT_TRUE(a.refused) << q << " conf=" << a.confidence << " text=" << a.text;
    EXPECT_EQ(a.text, kRefusalText);
    EXPECT_TRUE(a.citations.empty());
    EXPECT_LT(a.confidence, ExtractiveOptions{}.refuse_below);
  }
}

TEST_F(ExtractiveTest, ThresholdDecidesAndMaxSentencesCaps) {
  ExtractiveOptions strict = options();
  strict.refuse_below = 1.01;  // nothing reaches it
  EXPECT_TRUE(ask("printer paper jam", strict).refused);
  ExtractiveOptions one = options();
  one.max_sentences = 1;
  Answer a = ask("printer paper jam tray restart", one);
  ASSERT_FALSE(a.refused);
  EXPECT_EQ(a.citations.size(), 1u);
}

TEST_F(ExtractiveTest, AclAppliesToAnswers) {
  Document secret = make_doc("runbooks/breakglass.md", "Break glass", "runbook",
                             "The break glass vault code is kept by the security officer.");
  secret.acl = {"secops"};
  kb_.add(secret);
  ExtractiveAnswerer ans(*retriever_, options());
  SearchRequest r;
  r.query = "break glass vault code";
  auto anon = ans.answer(r);
  ASSERT_TRUE(anon.is_ok());
  for (const auto& c : anon->citations) EXPECT_NE(c.doc_id, "runbooks/breakglass.md");
  r.groups = {"secops"};
  auto ok = ans.answer(r);
  ASSERT_TRUE(ok.is_ok());
  ASSERT_FALSE(ok->refused);
  EXPECT_EQ(ok->citations[0].doc_id, "runbooks/breakglass.md");
}

TEST_F(ExtractiveTest, EmptyQueryIsInvalid) {
  ExtractiveAnswerer a(*retriever_, options());
  SearchRequest r;
  r.query = "";
  EXPECT_EQ(a.answer(r).status().code(), StatusCode::kInvalidArgument);
}

TEST(RefusalThreshold, ChoosesTheWidestSeparatingGap) {
  std::vector<CalibrationPoint> pts{{0.1, false}, {0.2, false}, {0.3, false}, {0.7, true}, {0.9, true}, {1.0, true}};
  ThresholdChoice c = choose_refusal_threshold(pts);
  EXPECT_NEAR(c.threshold, 0.5, 1e-12);
  EXPECT_EQ(c.answered_in, 3u);
  EXPECT_EQ(c.refused_out, 3u);
  EXPECT_DOUBLE_EQ(c.accuracy(), 1.0);
}

TEST(RefusalThreshold, OverlapMaximisesBalancedAccuracy) {
  // 4 in-domain, 2 out-of-domain; one out-of-domain question scores high.
  std::vector<CalibrationPoint> pts{{0.1, false}, {0.8, false}, {0.5, true}, {0.6, true}, {0.9, true}, {0.95, true}};
  ThresholdChoice c = choose_refusal_threshold(pts);
  // Best: t in (0.1, 0.5): in 4/4, out 1/2 -> 0.75; t in (0.8, 0.9): in 2/4, out 2/2 -> 0.75;
  // tie broken by the widest gap, (0.1, 0.5).
  EXPECT_NEAR(c.threshold, 0.3, 1e-12);
  EXPECT_DOUBLE_EQ(c.balanced_accuracy(), 0.75);
  ThresholdChoice e = evaluate_threshold(pts, 0.85);
  EXPECT_EQ(e.answered_in, 2u);
  EXPECT_EQ(e.refused_out, 2u);
}

// The cosine counts in proportion to the share of the question GloVe
// knows: an error code alone is judged on its words, a question GloVe reads
// fully on words and cosine alike; the document's coverage counts for
// intent-specific evidence and situated questions.
TEST(RefusalScore, TheCosineWeighsAsMuchAsGloveKnowsOfTheQuestion) {
  Evidence ev;
  ev.items.push_back({});
  ev.unit_coverage = 0.9;
  ev.doc_coverage = 1.0;
  ev.cosine = 0.1;
  ev.embedded_share = 0;
  EXPECT_DOUBLE_EQ(refusal_score(ev, 0.8, 0.85, 1.2), 0.9);
  ev.embedded_share = 1;
  EXPECT_DOUBLE_EQ(refusal_score(ev, 0.8, 0.85, 1.2), (0.9 + 1.2 * 0.1) / 2.2);
  ev.embedded_share = 0.5;
  EXPECT_DOUBLE_EQ(refusal_score(ev, 0.8, 0.85, 1.2), (0.9 + 0.6 * 0.1) / 1.6);
  ev.embedded_share = 0;
  ev.unit_coverage = 0.3;
  ev.intent_specific = true;
  EXPECT_DOUBLE_EQ(refusal_score(ev, 0.8, 0.85, 1.2), 0.8);
  ev.situated = true;
  EXPECT_DOUBLE_EQ(refusal_score(ev, 0.8, 0.85, 1.2), 0.85);
  ev.intent_specific = false;
  EXPECT_DOUBLE_EQ(refusal_score(ev, 0.8, 0.85, 1.2), 0.85);
  ev.situated = false;
  EXPECT_DOUBLE_EQ(refusal_score(ev, 0.8, 0.85, 1.2), 0.3);
  ev.items.clear();
  EXPECT_EQ(refusal_score(ev, 0.8, 0.85, 1.2), 0.0);
}

}  // namespace
}  // namespace ragd
