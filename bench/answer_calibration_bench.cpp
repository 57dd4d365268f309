// Refusal calibration and retrieval check on the sample knowledge base:
// ingests examples/kb (and the generated office files), runs every question
// of examples/kb-eval/questions.jsonl through the extractive answerer with
// refusal off, picks the threshold on the calibration split and reports it
// on both splits; then hit@5 / MRR of the expected documents per retrieval
// mode and fusion weight.
//
//   answer_calibration_bench [--kb DIR] [--office DIR] [--questions FILE] [--glove FILE] [-v]
// Paths default to examples/kb, build/examples/kb-office and
// examples/kb-eval/questions.jsonl relative to the cwd.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench/bench_args.h"
#include "generate/calibration.h"
#include "generate/extractive.h"
#include "index/store.h"
#include "ingest/scratch_store.h"
#include "model/glove_sif.h"
#include "retrieve/retriever.h"

namespace fs = std::filesystem;
using namespace ragd;
using ragd::bench::die;

namespace {

bool cites_expected(const Answer& a, const KbQuestion& q) {
  for (const auto& c : a.citations)
    if (std::find(q.expected_doc_ids.begin(), q.expected_doc_ids.end(), c.doc_id) != q.expected_doc_ids.end())
      return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path kb = "examples/kb", office = "build/examples/kb-office", questions = "examples/kb-eval/questions.jsonl";
  fs::path glove;
  bool verbose = false;
  for (bench::ArgReader args(argc, argv); args.next();) {
    const std::string& a = args.flag();
    if (a == "--kb") kb = args.value();
    else if (a == "--office") office = args.value();
    else if (a == "--questions") questions = args.value();
    else if (a == "--glove") glove = args.value();
    else if (a == "-v") verbose = true;
    else args.unknown();
  }
  auto qs = load_kb_questions(questions);
  if (!qs) die(qs.status());
  auto emb = open_glove(glove);
  if (!emb) die(emb.status());
  auto scratch = ScratchStore::open("calib-bench");
  if (!scratch) die(scratch.status());
  std::vector<fs::path> roots;
  for (const fs::path& root : {kb, office}) {
    if (fs::exists(root)) roots.push_back(root);
    else std::printf("note: %s absent, not ingested\n", root.c_str());
  }
  auto stats = ingest_paths(scratch->store(), **emb, roots,
                            [](const Status& st) { std::fprintf(stderr, "skipped: %s\n", st.to_string().c_str()); });
  if (!stats) die(stats.status());
  std::printf("sample KB: %llu documents, %llu chunks\n", static_cast<unsigned long long>(stats->ingested),
              static_cast<unsigned long long>(stats->chunks));
  Retriever retriever(scratch->store(), emb->get());
  ExtractiveOptions xo;
  xo.refuse_below = 0;  // record every confidence
  xo.word_ranks = emb->get();
  ExtractiveAnswerer answerer(retriever, xo);

  std::vector<CalibrationPoint> calib, test;
  size_t in_answered_cited = 0, in_total = 0, contains_ok = 0;
  for (const KbQuestion& q : *qs) {
    SearchRequest r;
    r.query = q.query;
    r.groups = q.groups;
    auto a = answerer.answer(r);
    if (!a) die(a.status());
    (q.split == "calibration" ? calib : test).push_back({a->confidence, q.in_domain});
    if (q.in_domain) {
      ++in_total;
      bool cited = cites_expected(*a, q);
      in_answered_cited += cited;
      bool has = false;
      for (const auto& c : a->citations)
        for (const auto& p : q.answer_contains) {
          std::string quote = c.quote, phrase = p;
          for (auto& ch : quote) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          for (auto& ch : phrase) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          has |= quote.find(phrase) != std::string::npos;
        }
      contains_ok += has;
    }
    if (verbose)
      std::printf("%-11s %-11s %s conf=%.3f cited=%d | %s\n    -> %s\n", q.id.c_str(), q.split.c_str(),
                  q.in_domain ? "IN " : "OUT", a->confidence, q.in_domain ? cites_expected(*a, q) : -1,
                  q.query.c_str(), a->text.substr(0, 160).c_str());
  }
  ThresholdChoice c = choose_refusal_threshold(calib);
  ThresholdChoice t = evaluate_threshold(test, c.threshold);
  ThresholdChoice shipped_c = evaluate_threshold(calib, ExtractiveOptions{}.refuse_below);
  ThresholdChoice shipped_t = evaluate_threshold(test, ExtractiveOptions{}.refuse_below);
  auto line = [](const char* name, const ThresholdChoice& x) {
    std::printf("%-34s t=%.3f acc=%.3f bal_acc=%.3f  in: %zu answered %zu refused | out: %zu answered %zu refused\n",
                name, x.threshold, x.accuracy(), x.balanced_accuracy(), x.answered_in, x.refused_in,
                x.answered_out, x.refused_out);
  };
  line("chosen on calibration split", c);
  line("  applied to test split", t);
  line("shipped default, calibration", shipped_c);
  line("shipped default, test", shipped_t);
  std::printf("in-domain questions citing an expected doc (no refusal): %zu/%zu; quote has key phrase: %zu/%zu\n",
              in_answered_cited, in_total, contains_ok, in_total);

  std::printf("\nretrieval on in-domain questions (hit@5 of an expected doc, MRR@10)\n");
  auto retrieval = [&](SearchMode mode, RetrieverOptions o, const char* name) {
    Retriever rr(scratch->store(), emb->get(), o);
    double hits = 0, mrr = 0;
    size_t n = 0;
    for (const KbQuestion& q : *qs) {
      if (!q.in_domain) continue;
      SearchRequest r;
      r.query = q.query;
      r.groups = q.groups;
      r.mode = mode;
      r.k = 10;
      auto h = rr.retrieve(r);
      if (!h) die(h.status());
      ++n;
      for (size_t i = 0; i < h->size(); ++i) {
        const auto& id = (*h)[i].doc_id;
        if (std::find(q.expected_doc_ids.begin(), q.expected_doc_ids.end(), id) != q.expected_doc_ids.end()) {
          hits += i < 5;
          mrr += 1.0 / static_cast<double>(i + 1);
          break;
        }
      }
    }
    std::printf("  %-26s hit@5=%.3f MRR@10=%.3f\n", name, hits / n, mrr / n);
  };
  retrieval(SearchMode::kLexical, {}, "lexical");
  retrieval(SearchMode::kVector, {}, "vector");
  for (double w : {0.1, 0.25, 0.4, 0.6}) {
    RetrieverOptions o;
    o.vector_weight = w;
    char name[64];
    std::snprintf(name, sizeof name, "hybrid convex w=%.2f", w);
    retrieval(SearchMode::kHybrid, o, name);
  }
  RetrieverOptions rrf;
  rrf.fusion = FusionMethod::kRrf;
  rrf.vector_weight = 0.5;
  retrieval(SearchMode::kHybrid, rrf, "hybrid plain RRF");
  return 0;
}
