// Retrieval quality on SciFact train (slow: ingests 5,183 abstracts). The
// tuned hybrid must beat BM25's ~0.70 nDCG@10 and never fall below its own
// lexical half; plain RRF is shown for contrast. Skipped without the test
// data or the GloVe file.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "index/store.h"
#include "ingest/pipeline.h"
#include "tests/support/scratch_store.h"
#include "model/glove_sif.h"
#include "retrieve/eval.h"
#include "tests/testdata.h"

namespace ragd {
namespace {

namespace fs = std::filesystem;

TEST(SciFactSlow, TunedHybridBeatsLexicalAndPlainRrfDoesNot) {
  const fs::path data = testing::shared_testdata_dir() / "eval/scifact";
  RAGD_NEED_TESTDATA(data / "corpus.jsonl");
  RAGD_NEED_TESTDATA(default_glove_path());
  auto corpus = load_beir_corpus(data / "corpus.jsonl");
  auto queries = load_beir_queries(data / "queries-train.jsonl");
  auto qrels = load_beir_qrels(data / "qrels-train.tsv");
  ASSERT_TRUE(corpus.is_ok() && queries.is_ok() && qrels.is_ok());
  auto emb = open_glove();
  ASSERT_TRUE(emb.is_ok()) << emb.status().to_string();
  auto scratch = ScratchStore::open("scifact-slow");
  ASSERT_TRUE(scratch.is_ok()) << scratch.status().to_string();
  Store& store = scratch->store();
  {
    Ingestor ing(store, **emb);
    for (auto& d : *corpus) ing.add(std::move(d));
    ing.flush();
    ASSERT_EQ(ing.stats().failed, 0u);
  }
  Retriever retriever(store, emb->get());
  EvalOptions eo;
  eo.threads = 2;
  eo.mode = SearchMode::kHybrid;
  auto cands = gather_candidates(retriever, store, *queries, *qrels, eo);
  ASSERT_TRUE(cands.is_ok()) << cands.status().to_string();
  EXPECT_EQ(cands->sets.size(), 809u);
  // The hybrid candidate sets hold the full lexical top list, so lexical
  // scoring of them equals a lexical-only search to the same depth.
  EvalReport lex = score_candidates(*cands, *qrels, SearchMode::kLexical, retriever.options(), eo);
  EvalReport hyb = score_candidates(*cands, *qrels, SearchMode::kHybrid, retriever.options(), eo);
  RetrieverOptions rrf;
  rrf.fusion = FusionMethod::kRrf;
  rrf.vector_weight = 0.5;
  EvalReport plain = score_candidates(*cands, *qrels, SearchMode::kHybrid, rrf, eo);
  std::printf("SciFact train: lexical %s\n  hybrid %s\n  plain RRF nDCG@10=%.4f\n", lex.summary().c_str(),
              hyb.summary().c_str(), plain.ndcg);
  EXPECT_GT(lex.ndcg, 0.68);
  EXPECT_GE(hyb.ndcg, lex.ndcg);
  EXPECT_GT(hyb.ndcg, 0.70);
  EXPECT_GT(hyb.recall, 0.90);
  EXPECT_LT(plain.ndcg, lex.ndcg);
}

}  // namespace
}  // namespace ragd
