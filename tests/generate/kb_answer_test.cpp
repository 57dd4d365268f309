// The extractive answerer on the sample knowledge base with the real GloVe
// vectors, on the TEST split of examples/kb-eval/questions.jsonl (the
// calibration split chose the shipped threshold; see generate/README.md).
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/calibration.h"
#include "generate/context_packer.h"
#include "generate/extractive.h"
#include "index/store.h"
#include "model/glove_sif.h"
#include "retrieve/eval.h"
#include "sample_kb.h"
#include "tests/testdata.h"

namespace ragd {
namespace {

// Share of answerable dev questions that must be answered with a key fact.
constexpr double kDevCorrectShare = 0.75;

class SampleKb : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto kb = testing_kb::open_sample_kb("kb-answer-test", /*with_office=*/true, &skip_);
    ASSERT_TRUE(kb.is_ok()) << kb.status().to_string();
    kb_ = std::move(kb).value().release();
    if (kb_ == nullptr) return;
    ASSERT_GT(kb_->stats.ingested, 40u);
    questions_ = &kb_->questions;
    embedder_ = kb_->embedder.get();
    store_ = &kb_->scratch->store();
    retriever_ = new Retriever(*store_, embedder_);
  }
  static void TearDownTestSuite() {
    delete retriever_;
    delete kb_;
  }
  void SetUp() override {
    if (!skip_.empty()) RAGD_TESTDATA_MISSING(skip_);
  }
  // The shipped options, with the GloVe word ranks the service passes.
  static ExtractiveOptions options() {
    ExtractiveOptions o;
    o.word_ranks = embedder_;
    return o;
  }
  // The shipped extractive answer to `q`.
  static Answer answer_to(const std::string& q) {
    SearchRequest r;
    r.query = q;
    auto a = ExtractiveAnswerer(*retriever_, options()).answer(r);
    EXPECT_TRUE(a.is_ok()) << a.status().to_string();
    return a.is_ok() ? std::move(a).value() : Answer{};
  }

  static inline std::string skip_;
  static inline testing_kb::SampleKb* kb_ = nullptr;
  static inline const std::vector<KbQuestion>* questions_ = nullptr;
  static inline GloveSifEmbedder* embedder_ = nullptr;
  static inline Store* store_ = nullptr;
  static inline Retriever* retriever_ = nullptr;
};

TEST_F(SampleKb, InDomainTestQuestionsGetCorrectCitations) {
  ExtractiveAnswerer answerer(*retriever_, options());
  size_t n = 0, good = 0;
  for (const KbQuestion& q : *questions_) {
    if (q.split != "test" || !q.in_domain) continue;
    ++n;
    SearchRequest r;
    r.query = q.query;
    r.groups = q.groups;
    auto a = answerer.answer(r);
    ASSERT_TRUE(a.is_ok()) << q.id << ": " << a.status().to_string();
    bool cited = false;
    for (const auto& c : a->citations) {
      cited |= std::find(q.expected_doc_ids.begin(), q.expected_doc_ids.end(), c.doc_id) != q.expected_doc_ids.end();
      std::string tag = "[";
      tag += std::to_string(c.n);
      tag += ']';
      EXPECT_NE(a->text.find(tag), std::string::npos) << q.id;
    }
    if (!a->refused && cited) {
      ++good;
    } else {
      std::printf("miss: %s \"%s\" refused=%d conf=%.3f -> %s\n", q.id.c_str(), q.query.c_str(), a->refused,
                  a->confidence, a->text.substr(0, 200).c_str());
    }
  }
  ASSERT_GE(n, 20u);
  std::printf("in-domain test questions answered with a correct citation: %zu/%zu\n", good, n);
  // Measured 28/30 when the threshold was chosen; allow one more miss.
  EXPECT_GE(good, n - 3);
}

TEST_F(SampleKb, OutOfDomainTestQuestionsAreRefused) {
  ExtractiveAnswerer answerer(*retriever_, options());
  size_t n = 0, refused = 0;
  for (const KbQuestion& q : *questions_) {
    if (q.split != "test" || q.in_domain) continue;
    ++n;
    SearchRequest r;
    r.query = q.query;
    auto a = answerer.answer(r);
    ASSERT_TRUE(a.is_ok()) << q.id << ": " << a.status().to_string();
    if (a->refused) {
      ++refused;
      EXPECT_EQ(a->text, kRefusalText);
      EXPECT_TRUE(a->citations.empty());
    } else {
      std::printf("answered: %s \"%s\" conf=%.3f -> %s\n", q.id.c_str(), q.query.c_str(), a->confidence,
                  a->text.substr(0, 200).c_str());
    }
  }
  ASSERT_GE(n, 10u);
  std::printf("out-of-domain test questions refused: %zu/%zu\n", refused, n);
  // Measured 15/15 when the threshold was chosen; allow one miss.
  EXPECT_GE(refused, n - 1);
}

TEST_F(SampleKb, ExactErrorCodesFindTheirTicketAtRankOne) {
  for (const auto& [code, doc] : std::vector<std::pair<std::string, std::string>>{
           {"ORA-12541", "runbooks/oracle-ora-12541-no-listener.md"},
           {"0x80180014", "runbooks/autopilot-enrollment-0x80180014.html"}}) {
    SearchRequest r;
    r.query = code;
    r.mode = SearchMode::kHybrid;
    auto hits = retriever_->retrieve(r);
    ASSERT_TRUE(hits.is_ok());
    ASSERT_FALSE(hits->empty()) << code;
    bool top_mentions = (*hits)[0].text.find(code) != std::string::npos || (*hits)[0].title.find(code) != std::string::npos;
    EXPECT_TRUE(top_mentions || (*hits)[0].doc_id == doc) << code << " -> " << (*hits)[0].doc_id;
  }
}

// An error code alone is answered on its words: GloVe knows nothing of it,
// so its cosine does not count in the refusal score (refusal_score()).
TEST_F(SampleKb, AnErrorCodeAloneIsAnswered) {
  for (const char* code : {"ORA-12541", "0x80180014"}) {
    const Answer a = answer_to(code);
    EXPECT_FALSE(a.refused) << code << " conf=" << a.confidence;
    EXPECT_NE(a.text.find(code), std::string::npos) << a.text;
  }
}

// The development set of examples/kb-eval/answers.jsonl (users' words: fix,
// fact, look-up, paraphrase, near- and off-domain), judged as `ragd eval
// --answers` judges it, on the TEST split (the tune split set refuse_below).
TEST_F(SampleKb, DevSetTestSplitAnswersWithKeyFacts) {
  auto qs = load_answer_questions(std::filesystem::path(RAGD_SOURCE_DIR) / "examples/kb-eval/answers.jsonl");
  ASSERT_TRUE(qs.is_ok()) << qs.status().to_string();
  ExtractiveAnswerer answerer(*retriever_, options());
  std::vector<AnswerQuestion> test;
  std::vector<AnswerOutcome> outcomes;
  for (const AnswerQuestion& q : *qs) {
    if (q.split != "test") continue;
    SearchRequest r;
    r.query = q.question;
    r.k = 5;
    r.groups = q.groups;
    auto a = answerer.answer(r);
    ASSERT_TRUE(a.is_ok()) << q.id << ": " << a.status().to_string();
    AnswerOutcome o;
    o.refused = a->refused;
    o.text = a->text;
    for (const auto& c : a->citations) o.cited_doc_ids.push_back(c.doc_id);
    for (const auto& h : a->hits) o.retrieved_doc_ids.push_back(h.doc_id);
    // Every answer is Markdown with a lead line and cited items; no raw emphasis.
    EXPECT_EQ(a->format, "markdown");
    if (!a->refused) {
      EXPECT_EQ(a->text.find("**"), std::string::npos) << q.id << ": " << a->text;
      for (const auto& c : a->citations)
        EXPECT_NE(a->text.find("[" + std::to_string(c.n) + "]"), std::string::npos) << q.id;
    }
    AnswerVerdict v = judge_answer(q, o);
    if (v != AnswerVerdict::kCorrect && v != AnswerVerdict::kCorrectRefusal)
      std::printf("%s %s \"%s\" conf=%.3f -> %s\n", answer_verdict_name(v), q.id.c_str(), q.question.c_str(),
                  a->confidence, a->text.substr(0, 240).c_str());
    test.push_back(q);
    outcomes.push_back(std::move(o));
  }
  AnswerEvalReport rep = score_answers(test, outcomes);
  std::printf("%s", rep.to_string().c_str());
  const AnswerTally& all = rep.overall;
  const size_t answerable = all.correct + all.wrong + all.false_refusal;
  const size_t unanswerable = all.correct_refusal + all.hallucinated;
  ASSERT_GE(answerable, 20u);
  ASSERT_GE(unanswerable, 9u);
  EXPECT_GE(static_cast<double>(all.correct), kDevCorrectShare * static_cast<double>(answerable));
  EXPECT_GE(all.correct_refusal, unanswerable - 1);
  EXPECT_GE(all.citation_precision(), 0.9);  // the target; 0.952 measured
  EXPECT_GE(rep.per_category["fix"].correct + 1, rep.per_category["fix"].questions);
}

// A ticket's report (its problem block) says what a user saw, not what is
// true or what fixed it. INC0012630 is open and holds only a report whose
// words match this question almost word for word: the answer does not
// quote it. A question about the tickets themselves gets it.
TEST_F(SampleKb, AnOpenTicketsReportIsNoAnswer) {
  const Answer a = answer_to("The big screen in the meeting room says No signal with my USB-C laptop. How do I fix it?");
  EXPECT_EQ(a.text.find("shows No signal"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("Board meeting"), std::string::npos) << a.text;
  EXPECT_TRUE(a.refused) << a.text;
  const Answer t = answer_to("Is there a ticket about the big screen in meeting room 4.12?");
  EXPECT_NE(t.text.find("No signal"), std::string::npos) << t.text;
}

// A ticket found by its report answers with what was found and done: "What
// was the problem with ..." asks for the cause, and gets the resolution's
// account of it rather than the report ("Scanners in Leeds aisle 14-20
// lose wifi").
TEST_F(SampleKb, ATicketFoundByItsReportAnswersWithItsResolution) {
  const Answer a = answer_to("What was the problem with the scanners in Leeds aisles 14-20?");
  ASSERT_FALSE(a.refused) << a.text;
  EXPECT_EQ(a.intent, "cause");
  EXPECT_NE(a.text.find("switch port had shut itself off"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("lose wifi"), std::string::npos) << a.text;
}

// The cause of a named ticket that no sentence states with a word of cause:
// the agents' notes, where the diagnosis is, not the report's "since the
// 14:00 deploy"; a consequence ("No ready endpoints, so the ingress answers
// 502.") comes with the sentence before it, its reason.
TEST_F(SampleKb, ANamedTicketsCauseComesFromItsWorkNotes) {
  const Answer a = answer_to("What caused ITSM-2240?");
  ASSERT_FALSE(a.refused) << a.text;
  EXPECT_NE(a.text.find("/actuator/health"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("since the 14:00 deploy"), std::string::npos) << a.text;
}

// A named ticket whose notes name no cause but report a change ("which was
// switched off last year"): the change is the cause, not the agent's first
// check ("Listener on db-prod-03 is up").
TEST_F(SampleKb, ANamedTicketsCauseIsTheChangeItReports) {
  const Answer a = answer_to("What caused INC0011876?");
  ASSERT_FALSE(a.refused) << a.text;
  EXPECT_EQ(a.intent, "cause");
  EXPECT_NE(a.text.find("which was switched off"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("lsnrctl status ok"), std::string::npos) << a.text;
}

// The LLM path's prompt holds each answerable dev question's key fact: the
// extractive evidence (steps, resolution notes, facts) goes first.
TEST_F(SampleKb, LlmPromptHoldsTheKeyFactsFirst) {
  auto qs = load_answer_questions(std::filesystem::path(RAGD_SOURCE_DIR) / "examples/kb-eval/answers.jsonl");
  ASSERT_TRUE(qs.is_ok()) << qs.status().to_string();
  ExtractiveAnswerer selector(*retriever_, options());
  size_t n = 0, held = 0, first = 0;
  for (const AnswerQuestion& q : *qs) {
    if (!q.answerable) continue;
    SearchRequest r;
    r.query = q.question;
    r.k = 6;
    auto hits = retriever_->retrieve(r);
    ASSERT_TRUE(hits.is_ok());
    auto ev = selector.select_evidence(r, *hits);
    ASSERT_TRUE(ev.is_ok()) << ev.status().to_string();
    std::vector<Hit> passages = evidence_first(*ev, *hits);
    std::string prompt, lead;
    for (size_t i = 0; i < passages.size(); ++i) {
      std::string block = format_passage(static_cast<int>(i + 1), passages[i], passages[i].text);
      if (i == 0) lead = block;
      prompt += block;
    }
    auto lower = [](std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    bool in_prompt = false, in_first = false;
    for (const auto& f : q.key_facts) {
      in_prompt |= lower(prompt).find(lower(f)) != std::string::npos;
      in_first |= lower(lead).find(lower(f)) != std::string::npos;
    }
    ++n;
    held += in_prompt;
    first += in_first;
    if (!in_first) std::printf("key fact not in the first passage: %s \"%s\"\n", q.id.c_str(), q.question.c_str());
  }
  std::printf("dev questions whose prompt holds a key fact: %zu/%zu, in the first passage: %zu/%zu\n", held, n, first, n);
  // Measured 43 of 46 (the other three are missed by retrieval's top 6).
  EXPECT_GE(held + 4, n);
  EXPECT_GE(static_cast<double>(first), kDevCorrectShare * static_cast<double>(n));
}

}  // namespace
}  // namespace ragd
