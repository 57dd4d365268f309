// Retrieval quality on a BEIR dataset (SciFact train by default): ingests the
// corpus into a temporary store with GloVe-SIF and prints nDCG@10 and
// Recall@100 for lexical, vector, plain RRF, and the tuned hybrid, then a
// sweep of the fusion weight. The tuned default lives in RetrieverOptions.
//
//   retrieval_quality_bench [--beir DIR] [--split train] [--glove FILE]
//                           [--sif-a A] [--no-common-component] [--threads N]
// DIR defaults to ../shared/testdata/eval/scifact (relative to the cwd).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "bench_args.h"
#include "index/store.h"
#include "ingest/pipeline.h"
#include "tests/support/scratch_store.h"
#include "model/glove_sif.h"
#include "retrieve/eval.h"
#include "retrieve/retriever.h"

namespace fs = std::filesystem;
using namespace ragd;
using ragd::bench::die;

namespace {

void row(const char* name, const EvalReport& r) {
  std::printf("%-34s nDCG@10=%.4f Recall@100=%.4f\n", name, r.ndcg, r.recall);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path beir = "../shared/testdata/eval/scifact";
  std::string split = "train";
  fs::path glove;
  GloveSifOptions gopt;
  int threads = 1;
  for (bench::ArgReader args(argc, argv); args.next();) {
    const std::string& a = args.flag();
    if (a == "--beir") beir = args.value();
    else if (a == "--split") split = args.value();
    else if (a == "--glove") glove = args.value();
    else if (a == "--sif-a") gopt.sif_a = std::atof(args.value().c_str());
    else if (a == "--no-common-component") gopt.remove_common_component = false;
    else if (a == "--threads") threads = std::atoi(args.value().c_str());
    else args.unknown();
  }
  if (!fs::exists(beir / "corpus.jsonl")) {
    std::printf("SKIP: %s/corpus.jsonl not found (pass --beir DIR)\n", beir.c_str());
    return 0;
  }
  auto corpus = load_beir_corpus(beir / "corpus.jsonl");
  if (!corpus) die(corpus.status());
  auto queries = load_beir_queries(beir / ("queries-" + split + ".jsonl"));
  if (!queries) die(queries.status());
  auto qrels = load_beir_qrels(beir / ("qrels-" + split + ".tsv"));
  if (!qrels) die(qrels.status());
  auto emb = open_glove(glove, gopt);
  if (!emb) die(emb.status());

  auto scratch = ScratchStore::open("quality-bench");
  if (!scratch) die(scratch.status());
  Store& store = scratch->store();
  auto t0 = std::chrono::steady_clock::now();
  {
    Ingestor ing(store, **emb);
    for (auto& d : *corpus) ing.add(std::move(d));
    ing.flush();
    if (ing.stats().failed) die(Status::internal("ingest failed: " + ing.stats().errors.front()));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("dataset %s (%s): %zu docs, %llu chunks, ingested in %.1fs; encoder %s (a=%g, cc=%d)\n",
                beir.filename().c_str(), split.c_str(), corpus->size(),
                static_cast<unsigned long long>(ing.stats().chunks), s, (*emb)->fingerprint().c_str(),
                gopt.sif_a, gopt.remove_common_component ? 1 : 0);
  }

  RetrieverOptions tuned;  // the shipped defaults
  Retriever retriever(store, emb->get(), tuned);
  EvalOptions eo;
  eo.threads = threads;
  auto gather = [&](SearchMode m) {
    eo.mode = m;
    auto c = gather_candidates(retriever, store, *queries, *qrels, eo);
    if (!c) die(c.status());
    return std::move(c).value();
  };
  t0 = std::chrono::steady_clock::now();
  EvalCandidates lex = gather(SearchMode::kLexical);
  EvalCandidates vec = gather(SearchMode::kVector);
  EvalCandidates hyb = gather(SearchMode::kHybrid);
  double gs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("queries: %zu judged; gathered 3 modes in %.1fs\n\n", hyb.sets.size(), gs);

  const EvalReport r_lex = score_candidates(lex, *qrels, SearchMode::kLexical, tuned, eo);
  row("lexical (BM25)", r_lex);
  row("vector (GloVe-SIF)", score_candidates(vec, *qrels, SearchMode::kVector, tuned, eo));
  RetrieverOptions rrf;
  rrf.fusion = FusionMethod::kRrf;
  rrf.vector_weight = 0.5;
  row("hybrid plain RRF (k=60)", score_candidates(hyb, *qrels, SearchMode::kHybrid, rrf, eo));
  const EvalReport r_tuned = score_candidates(hyb, *qrels, SearchMode::kHybrid, tuned, eo);
  char name[96];
  std::snprintf(name, sizeof name, "hybrid tuned (%s w=%.2f gate=%.2f)",
                tuned.fusion == FusionMethod::kRrf ? "rrf" : "convex", tuned.vector_weight, tuned.gate_spread);
  row(name, r_tuned);
  int better = 0, worse = 0;
  for (const auto& [q, n] : r_tuned.ndcg_per_query) {
    double l = r_lex.ndcg_per_query.at(q);
    better += n > l + 1e-9;
    worse += n < l - 1e-9;
  }
  std::printf("  per query vs lexical: %d better, %d worse, %zu same\n", better, worse,
              r_tuned.ndcg_per_query.size() - better - worse);

  std::printf("\nsweep: convex fusion weight (gate off / gate 0.3)\n");
  for (double w : {0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6}) {
    RetrieverOptions o;
    o.fusion = FusionMethod::kConvex;
    o.vector_weight = w;
    o.gate_spread = 0;
    EvalReport a = score_candidates(hyb, *qrels, SearchMode::kHybrid, o, eo);
    o.gate_spread = 0.3;
    EvalReport b = score_candidates(hyb, *qrels, SearchMode::kHybrid, o, eo);
    std::printf("  w=%.2f  nDCG@10=%.4f Recall@100=%.4f | gated nDCG@10=%.4f Recall@100=%.4f\n", w, a.ndcg,
                a.recall, b.ndcg, b.recall);
  }
  std::printf("sweep: weighted RRF (k=60)\n");
  for (double w : {0.1, 0.2, 0.3, 0.4, 0.5}) {
    RetrieverOptions o;
    o.fusion = FusionMethod::kRrf;
    o.vector_weight = w;
    EvalReport a = score_candidates(hyb, *qrels, SearchMode::kHybrid, o, eo);
    std::printf("  w=%.2f  nDCG@10=%.4f Recall@100=%.4f\n", w, a.ndcg, a.recall);
  }
  return 0;
}
