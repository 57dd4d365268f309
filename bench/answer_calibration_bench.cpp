// Refusal calibration and retrieval check on the sample knowledge base:
// ingests examples/kb (and the generated office files), runs every question
// of examples/kb-eval/questions.jsonl through the extractive answerer with
// refusal off, picks the threshold on the calibration split and reports it
// on both splits; then hit@5 / MRR of the expected documents per retrieval
// mode and fusion weight.
//
// Last, it fits the evidence score's weights (ExtractiveOptions::doc_weight,
// w_confidence_cosine) and refuse_below on the tune splits of
// examples/kb-eval/answers.jsonl and answers-blind.jsonl plus the
// calibration split, and on each documentation set given with --set (all
// of its questions: development sets), and reports every source apart.
//
//   answer_calibration_bench [--kb DIR] [--office DIR] [--questions FILE] [--answers FILE]
//                            [--blind FILE] [--set DOCS_DIR=ANSWERS]... [--glove FILE] [-v]
// Paths default to examples/kb, build/examples/kb-office,
// examples/kb-eval/questions.jsonl, answers.jsonl and answers-blind.jsonl
// relative to the cwd. examples/doc-eval/calibrate.sh passes every
// development set of examples/doc-eval (never the held-out one).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench_args.h"
#include "tests/support/calibration.h"
#include "generate/extractive.h"
#include "index/store.h"
#include "tests/support/scratch_store.h"
#include "model/glove_sif.h"
#include "retrieve/eval.h"
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
  fs::path answers = "examples/kb-eval/answers.jsonl", blind = "examples/kb-eval/answers-blind.jsonl";
  std::vector<std::pair<fs::path, fs::path>> sets;  // documents, questions
  fs::path glove;
  bool verbose = false;
  for (bench::ArgReader args(argc, argv); args.next();) {
    const std::string& a = args.flag();
    if (a == "--kb") kb = args.value();
    else if (a == "--office") office = args.value();
    else if (a == "--questions") questions = args.value();
    else if (a == "--answers") answers = args.value();
    else if (a == "--blind") blind = args.value();
    else if (a == "--set") {
      const std::string v = args.value();
      const size_t eq = v.find('=');
      if (eq == std::string::npos) die(Status::invalid_argument("--set wants DOCS_DIR=ANSWERS, got '" + v + "'"));
      sets.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    }
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
  std::vector<double> latencies_ms;  // ExtractiveAnswerer::answer() per question, in process
  size_t in_answered_cited = 0, in_total = 0, contains_ok = 0;
  for (const KbQuestion& q : *qs) {
    SearchRequest r;
    r.query = q.query;
    r.groups = q.groups;
    auto t0 = std::chrono::steady_clock::now();
    auto a = answerer.answer(r);
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
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
  {
    std::vector<double> v = latencies_ms;
    std::sort(v.begin(), v.end());
    auto pct = [&](double p) { return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))]; };
    std::printf("answer latency (%zu questions, in process): p50 %.2f ms  p90 %.2f ms  max %.2f ms\n", v.size(), pct(0.5),
                pct(0.9), v.empty() ? 0.0 : v.back());
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

  // The evidence score's weights and refuse_below, fitted on the tune split
  // of the answer development set (answers.jsonl) together with the
  // calibration split above; the test splits are only reported.
  auto dev = load_answer_questions(answers);
  if (!dev) die(dev.status());
  std::vector<AnswerQuestion> blind_qs;
  if (fs::exists(blind)) {
    auto b = load_answer_questions(blind);
    if (!b) die(b.status());
    blind_qs = std::move(b).value();
  } else {
    std::printf("note: %s absent, not fitted on\n", blind.c_str());
  }
  // Each documentation set in a store of its own.
  struct DocSet {
    std::string name;
    ScratchStore store;
    std::unique_ptr<Retriever> retriever;
    std::vector<AnswerQuestion> questions;
  };
  std::vector<DocSet> doc_sets;
  for (const auto& [docs, file] : sets) {
    auto q = load_answer_questions(file);
    if (!q) die(q.status());
    auto st = ScratchStore::open("calib-set");
    if (!st) die(st.status());
    const std::vector<fs::path> set_roots{docs};
    auto ingested = ingest_paths(st->store(), **emb, set_roots,
                                 [](const Status& e) { std::fprintf(stderr, "skipped: %s\n", e.to_string().c_str()); });
    if (!ingested) die(ingested.status());
    DocSet d{file.parent_path().filename().string(), std::move(st).value(), nullptr, std::move(q).value()};
    d.retriever = std::make_unique<Retriever>(d.store.store(), emb->get());
    std::printf("set %s: %llu documents, %zu questions\n", d.name.c_str(),
                static_cast<unsigned long long>(ingested->ingested), d.questions.size());
    doc_sets.push_back(std::move(d));
  }
  // Where a point comes from, for the report by source.
  std::vector<std::string> sources = {"sample answers", "sample blind", "sample questions"};
  for (const DocSet& d : doc_sets) sources.push_back("set " + d.name);
  struct Point {
    Evidence ev;
    bool answerable;
    bool tune;
    size_t source;
  };
  // Evidence features per soft-match floor (ExtractiveOptions::
  // soft_match_floor changes the unit evidence), weights and threshold
  // fitted for each; 1.0 is exact matching only.
  // Exact matching first: a soft floor is fitted only when it beats it on
  // the tune halves (balanced accuracy, then fewer false answers), not on
  // the margin alone.
  const std::vector<double> floors = {1.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7};
  std::vector<std::vector<Point>> pts_by_floor;
  for (double floor : floors) {
    ExtractiveOptions fo = xo;
    fo.doc_weight = 1.0;
    fo.w_confidence_cosine = 0.0;
    fo.soft_match_floor = floor;
    std::vector<Point> pts;
    auto add_point = [&](const Retriever& from, const std::string& query, const std::vector<std::string>& groups,
                         bool answerable, bool tune, size_t source) {
      SearchRequest r;
      r.query = query;
      r.groups = groups;
      const ExtractiveAnswerer answerer(from, fo);
      r.k = answerer.chunks_for(r);  // what the answerer retrieves for it
      auto hits = from.retrieve(r);
      if (!hits) die(hits.status());
      auto ev = answerer.select_evidence(r, *hits);
      if (!ev) die(ev.status());
      pts.push_back({std::move(ev).value(), answerable, tune, source});
    };
    for (const AnswerQuestion& q : *dev) add_point(retriever, q.question, q.groups, q.answerable, q.split == "tune", 0);
    for (const AnswerQuestion& q : blind_qs)
      add_point(retriever, q.question, q.groups, q.answerable, q.split == "tune", 1);
    for (const KbQuestion& q : *qs) add_point(retriever, q.query, q.groups, q.in_domain, q.split == "calibration", 2);
    for (size_t d = 0; d < doc_sets.size(); ++d)
      for (const AnswerQuestion& q : doc_sets[d].questions)
        add_point(*doc_sets[d].retriever, q.question, q.groups, q.answerable, true, 3 + d);
    pts_by_floor.push_back(std::move(pts));
  }
  // The score's weights besides the soft-match floor.
  struct Weights {
    double doc = 0, situation = 0, cosine = 0;
  };
  auto score = [](const Evidence& ev, const Weights& w) {
    if (!ev.named_id.empty()) return ev.items.empty() ? 0.0 : 1.0;
    return refusal_score(ev, w.doc, w.situation, w.cosine);
  };
  double best_bal = -1, best_margin = -1;
  Weights best_w;
  size_t best_f = 0;
  ThresholdChoice best_t;
  struct FloorBest {
    double bal = -1;
    Weights w;
    double margin = -1;
    ThresholdChoice t;
  };
  std::vector<FloorBest> per_floor(floors.size());
  for (size_t f = 0; f < floors.size(); ++f)
    for (double dw = 0.5; dw <= 1.0001; dw += 0.05)
      for (double sw = 0.6; sw <= 1.0001; sw += 0.05)
        for (double wc = 0; wc <= 2.0001; wc += 0.1) {
          const Weights w{dw, sw, wc};
          std::vector<CalibrationPoint> tune;
          for (const Point& p : pts_by_floor[f])
            if (p.tune) tune.push_back({score(p.ev, w), p.answerable});
          ThresholdChoice c = choose_refusal_threshold(tune);
          // The gap between the threshold and the best-scoring unanswerable
          // tune question: a wider one holds better on unseen questions.
          double top_out = 0;
          for (const auto& cp : tune)
            if (!cp.in_domain) top_out = std::max(top_out, cp.confidence);
          const double margin = c.threshold - top_out;
          // Ties: prefer fewer false answers, then (for the same floor) the
          // wider margin.
          const bool better =
              c.balanced_accuracy() > best_bal + 1e-9 ||
              (std::abs(c.balanced_accuracy() - best_bal) <= 1e-9 &&
               (c.answered_out < best_t.answered_out ||
                (c.answered_out == best_t.answered_out && f == best_f && margin > best_margin + 1e-9)));
          FloorBest& pf = per_floor[f];
          if (c.balanced_accuracy() > pf.bal + 1e-9 ||
              (std::abs(c.balanced_accuracy() - pf.bal) <= 1e-9 &&
               (c.answered_out < pf.t.answered_out ||
                (c.answered_out == pf.t.answered_out && margin > pf.margin + 1e-9))))
            pf = {c.balanced_accuracy(), w, margin, c};
          if (better) {
            best_bal = c.balanced_accuracy();
            best_f = f;
            best_w = w;
            best_t = c;
            best_margin = margin;
          }
        }
  ExtractiveOptions shipped;
  const Weights shipped_w{shipped.doc_weight, shipped.situation_doc_weight, shipped.w_confidence_cosine};
  size_t shipped_f = 0;
  for (size_t f = 0; f < floors.size(); ++f)
    if (std::abs(floors[f] - shipped.soft_match_floor) < 1e-9) shipped_f = f;
  auto report = [&](const char* name, size_t f, const Weights& w, double t) {
    for (bool tune : {true, false}) {
      std::vector<CalibrationPoint> v;
      for (const Point& p : pts_by_floor[f])
        if (p.tune == tune) v.push_back({score(p.ev, w), p.answerable});
      ThresholdChoice c = evaluate_threshold(v, t);
      std::printf("%-16s %-5s floor=%.2f doc_weight=%.2f situation_doc_weight=%.2f w_cos=%.2f t=%.4f  "
                  "bal_acc=%.3f  false refusals %zu/%zu  false answers %zu/%zu\n",
                  name, tune ? "tune" : "test", floors[f], w.doc, w.situation, w.cosine, t, c.balanced_accuracy(),
                  c.refused_in, c.answered_in + c.refused_in, c.answered_out, c.answered_out + c.refused_out);
    }
  };
  // The same fit's errors per source of questions.
  auto by_source = [&](const char* name, size_t f, const Weights& w, double t) {
    for (size_t src = 0; src < sources.size(); ++src)
      for (bool tune : {true, false}) {
        std::vector<CalibrationPoint> v;
        for (const Point& p : pts_by_floor[f])
          if (p.source == src && p.tune == tune) v.push_back({score(p.ev, w), p.answerable});
        if (v.empty()) continue;
        ThresholdChoice c = evaluate_threshold(v, t);
        std::printf("  %-16s %-18s %-5s false refusals %3zu/%-3zu  false answers %2zu/%zu\n", name,
                    sources[src].c_str(), tune ? "tune" : "test", c.refused_in, c.answered_in + c.refused_in,
                    c.answered_out, c.answered_out + c.refused_out);
      }
  };
  std::printf("\nrefusal fit (tune: answers.jsonl and answers-blind.jsonl tune, questions.jsonl calibration, "
              "every --set; test = the other halves)\n");
  std::printf("fitted: margin above the best unanswerable tune question %.3f\n", best_margin);
  report("fitted", best_f, best_w, best_t.threshold);
  report("shipped default", shipped_f, shipped_w, shipped.refuse_below);
  std::printf("by source:\n");
  by_source("fitted", best_f, best_w, best_t.threshold);
  by_source("shipped default", shipped_f, shipped_w, shipped.refuse_below);
  std::printf("best fit per floor (margin = threshold - best unanswerable tune score):\n");
  for (size_t f = 0; f < floors.size(); ++f) {
    std::printf("  margin %.3f\n", per_floor[f].margin);
    report("  per floor", f, per_floor[f].w, per_floor[f].t.threshold);
  }
  if (verbose)
    for (const Point& p : pts_by_floor[shipped_f])
      std::printf("  %s %s unit=%.3f doc=%.3f cos=%.3f share=%.3f specific=%d situated=%d named=%d\n",
                  p.tune ? "tune" : "test", p.answerable ? "ANS" : "UNA", p.ev.unit_coverage, p.ev.doc_coverage,
                  p.ev.cosine, p.ev.embedded_share, p.ev.intent_specific ? 1 : 0, p.ev.situated ? 1 : 0,
                  p.ev.named_id.empty() ? 0 : 1);
  return 0;
}
