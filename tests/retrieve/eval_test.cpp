// BEIR loaders and metrics against hand-computed values, and evaluate() end
// to end on a tiny corpus in a real store.
#include "retrieve/eval.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "tests/retrieve/toy_store.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;

TEST(Metrics, NdcgMatchesHandComputedValues) {
  std::map<std::string, int> judged{{"a", 1}, {"b", 2}, {"x", 0}};
  // Ideal order b(2), a(1): IDCG = 2/log2(2) + 1/log2(3).
  const double idcg = 2.0 + 1.0 / std::log2(3.0);
  EXPECT_NEAR(ndcg_at_k({"b", "a"}, judged, 10), 1.0, 1e-12);
  EXPECT_NEAR(ndcg_at_k({"a", "b"}, judged, 10), (1.0 + 2.0 / std::log2(3.0)) / idcg, 1e-12);
  // Irrelevant and zero-graded docs add nothing; rank 3 discounts by log2(4) = 2.
  EXPECT_NEAR(ndcg_at_k({"x", "q", "b"}, judged, 10), (2.0 / 2.0) / idcg, 1e-12);
  // The cut-off drops what comes after k.
  EXPECT_NEAR(ndcg_at_k({"x", "q", "b"}, judged, 2), 0.0, 1e-12);
  EXPECT_NEAR(ndcg_at_k({"a"}, judged, 1), 1.0 / 2.0, 1e-12);  // IDCG@1 = 2
  EXPECT_EQ(ndcg_at_k({}, judged, 10), 0.0);
  EXPECT_EQ(ndcg_at_k({"a"}, {{"a", 0}}, 10), 0.0);
}

TEST(Metrics, RecallAtK) {
  std::map<std::string, int> judged{{"a", 1}, {"b", 1}, {"c", 1}, {"z", 0}};
  EXPECT_NEAR(recall_at_k({"a", "z", "b"}, judged, 100), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(recall_at_k({"a", "z", "b"}, judged, 2), 1.0 / 3.0, 1e-12);
  EXPECT_EQ(recall_at_k({"a"}, {}, 10), 0.0);
}

TEST(Metrics, ChunksAggregateToDocumentsByBestScore) {
  std::vector<std::pair<std::string, double>> chunks{{"d1", 0.5}, {"d2", 0.9}, {"d1", 0.95}, {"d3", 0.1}, {"d2", 0.2}};
  EXPECT_EQ(rank_documents(chunks), (std::vector<std::string>{"d1", "d2", "d3"}));
}

class EvalFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ragd_eval_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& body) {
    std::ofstream(dir_ / name) << body;
    return dir_ / name;
  }
  fs::path dir_;
};

TEST_F(EvalFiles, LoadsBeirFormat) {
  auto corpus = load_beir_corpus(write("c.jsonl", R"({"_id":"d1","title":"T1","text":"one"}
{"id":7,"text":"seven"}

)"));
  ASSERT_TRUE(corpus.is_ok()) << corpus.status().to_string();
  ASSERT_EQ(corpus->size(), 2u);
  EXPECT_EQ((*corpus)[0].id, "d1");
  EXPECT_EQ((*corpus)[0].title, "T1");
  EXPECT_EQ((*corpus)[1].id, "7");
  EXPECT_EQ((*corpus)[1].text, "seven");
  auto q = load_beir_queries(write("q.jsonl", R"({"_id":"q1","text":"what"})"));
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ((*q)[0].text, "what");
  auto r = load_beir_qrels(write("r.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\t7\t0\r\n"));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->at("q1").at("d1"), 2);
  EXPECT_EQ(r->at("q1").at("7"), 0);
}

TEST_F(EvalFiles, BadLinesNameFileAndLine) {
  auto c = load_beir_corpus(write("bad.jsonl", "{\"_id\":\"a\"}\n{not json\n"));
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("bad.jsonl: line 2"), std::string::npos) << c.status().message();
  auto m = load_beir_corpus(write("noid.jsonl", "{\"title\":\"x\"}\n"));
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("_id"), std::string::npos);
  auto r = load_beir_qrels(write("bad.tsv", "query-id\tcorpus-id\tscore\nq1 d1 1\n"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos);
  EXPECT_EQ(load_beir_queries(dir_ / "absent.jsonl").status().code(), StatusCode::kNotFound);
}

TEST(Evaluate, PerfectAndImperfectRetrievalOnTinyCorpus) {
  testing::ToyStore kb("eval_test");
  ASSERT_TRUE(kb.ok());
  kb.add(testing::make_doc("d1", "Printer jam", "document", "Clear the paper jam in the printer tray."));
  kb.add(testing::make_doc("d2", "VPN drops", "document", "The vpn tunnel drops after a network change."));
  kb.add(testing::make_doc("d3", "Slow query", "document", "A slow oracle query needs a table index."));
  Retriever r(kb.store(), &kb.embedder());
  std::vector<BeirQuery> queries{{"q1", "printer paper jam"}, {"q2", "vpn tunnel"}, {"q3", "oracle index"},
                                 {"q4", "unjudged query"}};
  Qrels qrels{{"q1", {{"d1", 1}}}, {"q2", {{"d2", 1}}}, {"q3", {{"d1", 1}}}};
  EvalOptions eo;
  eo.mode = SearchMode::kLexical;
  auto rep = evaluate(r, kb.store(), queries, qrels, eo);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_EQ(rep->queries, 3u);
  // q1, q2 perfect; q3's relevant doc d1 shares no word with it: nDCG 0.
  EXPECT_NEAR(rep->ndcg_per_query.at("q1"), 1.0, 1e-12);
  EXPECT_NEAR(rep->ndcg_per_query.at("q2"), 1.0, 1e-12);
  EXPECT_NEAR(rep->ndcg_per_query.at("q3"), 0.0, 1e-12);
  EXPECT_NEAR(rep->ndcg, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(rep->recall, 2.0 / 3.0, 1e-12);
  const std::string s = rep->summary();
  EXPECT_NE(s.find("nDCG@10=0.6667"), std::string::npos) << s;
  EXPECT_NE(s.find("Recall@100=0.6667"), std::string::npos) << s;
}


TEST(AnswerEval, JudgesEachOutcome) {
  AnswerQuestion fix{"q1", "How do I fix error 809?", true, {"NW-VPN-SSTP", "IPsec passthrough"}, {"runbooks/vpn.md", "INC1"},
                     "fix", "test", {}};
  AnswerQuestion none{"q2", "Capital of Australia?", false, {}, {}, "off_domain", "test", {}};
  AnswerOutcome good{false, "Switch to the **nw-vpn-sstp** profile [1].", {"runbooks/vpn.md", "INC9"}, {"INC9", "runbooks/vpn.md"}};
  AnswerOutcome wrong{false, "Error 809 means no answer [1].", {"runbooks/vpn.md"}, {"X", "Y", "Z", "W", "V", "INC1"}};
  AnswerOutcome refused{true, "The knowledge base does not answer this question.", {}, {}};
  EXPECT_EQ(judge_answer(fix, good), AnswerVerdict::kCorrect);
  EXPECT_EQ(judge_answer(fix, wrong), AnswerVerdict::kWrong);
  EXPECT_EQ(judge_answer(fix, refused), AnswerVerdict::kFalseRefusal);
  EXPECT_EQ(judge_answer(none, refused), AnswerVerdict::kCorrectRefusal);
  EXPECT_EQ(judge_answer(none, good), AnswerVerdict::kHallucinated);

  AnswerEvalReport r = score_answers({fix, fix, fix, none, none}, {good, wrong, refused, refused, good});
  EXPECT_EQ(r.overall.questions, 5u);
  EXPECT_EQ(r.overall.correct, 1u);
  EXPECT_EQ(r.overall.wrong, 1u);
  EXPECT_EQ(r.overall.false_refusal, 1u);
  EXPECT_EQ(r.overall.correct_refusal, 1u);
  EXPECT_EQ(r.overall.hallucinated, 1u);
  // Cited: {vpn, INC9} and {vpn}: 2 of 3 gold.
  EXPECT_NEAR(r.overall.citation_precision(), 2.0 / 3.0, 1e-12);
  // Recall@5: gold in the top 5 for `good` only (INC1 is 6th for `wrong`).
  EXPECT_NEAR(r.overall.recall_at_5(), 1.0 / 3.0, 1e-12);
  EXPECT_EQ(r.per_category.at("fix").questions, 3u);
  EXPECT_EQ(r.per_category.at("off_domain").hallucinated, 1u);
  EXPECT_NE(r.to_string().find("all"), std::string::npos);
}

TEST(AnswerEval, LoadsQuestionsAndRejectsBadLines) {
  const fs::path dir = fs::temp_directory_path() / ("ragd_answer_eval_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "ok.jsonl")
      << R"({"id":"a","question":"How?","answerable":true,"key_facts":["x"],"gold_doc_ids":["d"],"category":"fix","split":"tune"})"
      << "\n\n"
      << R"({"question":"Capital?","answerable":false})" << "\n";
  auto qs = load_answer_questions(dir / "ok.jsonl");
  ASSERT_TRUE(qs.is_ok()) << qs.status().to_string();
  ASSERT_EQ(qs->size(), 2u);
  EXPECT_EQ((*qs)[0].key_facts, std::vector<std::string>{"x"});
  EXPECT_EQ((*qs)[1].category, "unanswerable");
  std::ofstream(dir / "bad.jsonl") << R"({"question":"How?","answerable":true,"key_facts":[]})" << "\n";
  auto bad = load_answer_questions(dir / "bad.jsonl");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().to_string().find("line 1"), std::string::npos) << bad.status().to_string();
  std::ofstream(dir / "bad2.jsonl") << R"({"question":"How?","answerable":"yes"})" << "\n";
  EXPECT_FALSE(load_answer_questions(dir / "bad2.jsonl").is_ok());
  EXPECT_FALSE(load_answer_questions(dir / "missing.jsonl").is_ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ragd
