// Calibrates the verifier's support thresholds on the sample KB and checks
// the shipped defaults on the held-out TEST split.
//
// Pairs (sentence, cited passage) per in-domain question:
//   supported:   the passage's sentence holding an answer_contains phrase,
//                (a) verbatim, (b) reworded: "To fix this, " + the sentence
//                with a quarter of its words dropped (seeded);
//   unsupported: against the same passage, (c) the best-matching sentence of
//                a retrieved passage from another document (hard negative),
//                (d) a random sentence of another document, (e) the query
//                echoed in front of (d) ("For <query>, <d>").
// The threshold maximising balanced accuracy on the calibration split is
// printed; the defaults in VerifierOptions come from it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "tests/support/calibration.h"
#include "generate/sentences.h"
#include "generate/verifier.h"
#include "index/analyzer.h"
#include "index/store.h"
#include "tests/support/scratch_store.h"
#include "model/glove_sif.h"
#include "retrieve/retriever.h"
#include "sample_kb.h"
#include "tests/testdata.h"

namespace ragd {
namespace {

struct Pair {
  std::string sentence, passage, split;
  bool supported = false;
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class VerifierCalibration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto kb = testing_kb::open_sample_kb("llm-calibration", /*with_office=*/false, &skip_);
    ASSERT_TRUE(kb.is_ok()) << kb.status().to_string();
    if (kb.value() == nullptr) return;
    const auto& qs = kb.value()->questions;
    ScratchStore* scratch = kb.value()->scratch.get();
    embedder_ = kb.value()->embedder.release();
    Store* store = &scratch->store();
    Retriever retriever(*store, embedder_);
    std::mt19937 rng(2024);
    pairs_ = new std::vector<Pair>();
    for (const KbQuestion& q : qs) {
      if (!q.in_domain) continue;
      SearchRequest req;
      req.query = q.query;
      req.k = 10;
      req.groups = q.groups;
      auto hits = retriever.retrieve(req);
      if (!hits.is_ok()) continue;
      const Hit* support = nullptr;
      std::string sentence;
      for (const Hit& h : hits.value()) {
        if (std::find(q.expected_doc_ids.begin(), q.expected_doc_ids.end(), h.doc_id) == q.expected_doc_ids.end()) {
          continue;
        }
        for (const auto& s : split_sentences(h.text)) {
          for (const auto& phrase : q.answer_contains) {
            if (sentence.empty() && lower(s).find(lower(phrase)) != std::string::npos) sentence = s;
          }
        }
        if (!sentence.empty()) {
          support = &h;
          break;
        }
      }
      if (!support) continue;
      const std::string& passage = support->text;
      // (a) verbatim, (b) reworded
      pairs_->push_back({sentence, passage, q.split, true});
      std::string reworded = "To fix this, ";
      for (const auto& w : analyze_words(sentence)) {
        if (std::uniform_real_distribution<double>(0, 1)(rng) < 0.25) continue;
        reworded += w + " ";
      }
      pairs_->push_back({reworded, passage, q.split, true});
      // Negatives from other documents' passages.
      const auto qt = analyze(q.query);
      std::string hard, random_other;
      size_t hard_hits = 0;
      std::vector<std::string> others;
      for (const Hit& h : hits.value()) {
        if (h.doc_id == support->doc_id) continue;
        for (const auto& s : split_sentences(h.text)) {
          if (analyze(s).size() < 4 || passage.find(s) != std::string::npos) continue;
          others.push_back(s);
          size_t n = 0;
          for (const auto& t : analyze(s)) n += std::count(qt.begin(), qt.end(), t) > 0;
          if (n > hard_hits) {
            hard_hits = n;
            hard = s;
          }
        }
      }
      if (others.empty()) continue;
      random_other = others[std::uniform_int_distribution<size_t>(0, others.size() - 1)(rng)];
      if (!hard.empty()) pairs_->push_back({hard, passage, q.split, false});
      pairs_->push_back({random_other, passage, q.split, false});
      pairs_->push_back({"For " + q.query + ", " + random_other, passage, q.split, false});
    }
  }
  static void TearDownTestSuite() {
    delete pairs_;
    delete embedder_;
  }
  void SetUp() override {
    if (!skip_.empty()) RAGD_TESTDATA_MISSING(skip_);
  }

  struct Eval {
    double tpr = 0, tnr = 0, bal = 0;
    size_t pos = 0, neg = 0;
  };
  static Eval evaluate(const std::vector<std::pair<double, bool>>& scored, double t) {
    Eval e;
    size_t tp = 0, tn = 0;
    for (const auto& [s, y] : scored) {
      if (y) {
        ++e.pos;
        tp += s >= t;
      } else {
        ++e.neg;
        tn += s < t;
      }
    }
    e.tpr = e.pos ? static_cast<double>(tp) / e.pos : 0;
    e.tnr = e.neg ? static_cast<double>(tn) / e.neg : 0;
    e.bal = (e.tpr + e.tnr) / 2;
    return e;
  }
  // Scores of every pair of `split` with the given verifier.
  static std::vector<std::pair<double, bool>> score(const Verifier& v, const std::string& split) {
    std::vector<std::pair<double, bool>> out;
    for (const Pair& p : *pairs_) {
      if (p.split == split) out.emplace_back(v.support(p.sentence, p.passage).score, p.supported);
    }
    return out;
  }
  // Calibrates on the calibration split, reports both splits, checks the default.
  static void run(const Verifier& v, const char* name, double shipped) {
    const auto cal = score(v, "calibration");
    const auto test = score(v, "test");
    double best_t = 0, best = -1;
    for (double t = 0.05; t <= 0.951; t += 0.01) {
      const double b = evaluate(cal, t).bal;
      if (b > best + 1e-12) {
        best = b;
        best_t = t;
      }
    }
    const Eval c = evaluate(cal, best_t), te = evaluate(test, best_t), ts = evaluate(test, shipped);
    std::printf("[calibration] %s: chosen threshold %.2f on %zu+%zu calibration pairs: TPR %.3f TNR %.3f "
                "balanced %.3f | test (%zu+%zu) at chosen: TPR %.3f TNR %.3f balanced %.3f | test at shipped "
                "%.2f: balanced %.3f\n",
                name, best_t, c.pos, c.neg, c.tpr, c.tnr, c.bal, te.pos, te.neg, te.tpr, te.tnr, te.bal, shipped,
                ts.bal);
    EXPECT_GT(c.pos, 20u);
    EXPECT_GT(c.neg, 30u);
    EXPECT_NEAR(shipped, best_t, 0.1) << "the shipped threshold drifted from the calibrated one";
    EXPECT_GE(ts.bal, 0.85) << "the verifier no longer separates supported from unsupported sentences";
  }

  static inline std::string skip_;
  static inline std::vector<Pair>* pairs_ = nullptr;
  static inline GloveSifEmbedder* embedder_ = nullptr;
};

TEST_F(VerifierCalibration, LexicalThreshold) {
  Verifier v(nullptr);
  run(v, "lexical", v.options().min_support_lexical);
}

TEST_F(VerifierCalibration, MixedThresholdWithGlove) {
  Verifier v(embedder_);
  run(v, "lexical+glove", v.options().min_support_mixed);
}

}  // namespace
}  // namespace ragd
