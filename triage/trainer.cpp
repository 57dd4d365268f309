#include "triage/trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "ragd/clock.h"
#include "triage/triage.h"

namespace ragd::triage {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Examples [begin, end) as features and label indexes.
struct Slice {
  std::vector<SparseVec> x;
  std::vector<int> y;
};

FeatureOptions knn_features(const FeatureOptions& base) {
  FeatureOptions o;
  o.hash_bits = base.hash_bits;
  o.word_bigrams = false;
  o.char_max = 0;
  o.field_tokens.clear();
  return o;
}

std::vector<SparseVec> counts_of(const std::vector<LabeledTicket>& ex, size_t b, size_t e, const FeatureOptions& o,
                                 const std::string& field) {
  std::vector<SparseVec> out;
  out.reserve(e - b);
  for (size_t i = b; i < e; ++i) out.push_back(ticket_counts(ex[i].text, o, field));
  return out;
}

Slice vectorize(const Vectorizer& v, const std::vector<SparseVec>& counts, size_t b, size_t e,
                const std::vector<int>& labels) {
  Slice s;
  for (size_t i = b; i < e; ++i) {
    s.x.push_back(v.transform(counts[i]));
    s.y.push_back(labels[i]);
  }
  return s;
}

std::vector<Scored> predict_linear(const LinearModel& m, const Slice& s, double t,
                                   std::vector<std::vector<float>>* logits = nullptr) {
  std::vector<Scored> out;
  std::vector<float> z;
  for (const auto& x : s.x) {
    m.logits(x, z);
    if (logits) logits->push_back(z);
    out.push_back(top1(softmax(z, t)));
  }
  return out;
}

double accuracy(const std::vector<Scored>& p, const std::vector<int>& y) {
  size_t r = 0;
  for (size_t i = 0; i < p.size(); ++i) r += p[i].label == y[i];
  return p.empty() ? 0 : static_cast<double>(r) / p.size();
}

}  // namespace

TimeSplit time_split(size_t n, const TrainOptions& o) {
  TimeSplit s;
  s.test = std::min(n, std::max<size_t>(1, static_cast<size_t>(std::lround(n * o.holdout_fraction))));
  const size_t train = n - s.test;
  s.validation = std::min(train, std::max<size_t>(1, static_cast<size_t>(std::lround(train * o.validation_fraction))));
  s.fit = train - s.validation;
  return s;
}

Result<Evaluation> evaluate_examples(const std::vector<LabeledTicket>& examples, const TrainOptions& o) {
  auto t0 = Clock::now();
  if (o.field.empty()) return Status::invalid_argument("no field to predict (--field)");
  if (examples.size() < o.min_examples) {
    return Status::invalid_argument("field '" + o.field + "': " + std::to_string(examples.size()) +
                                    " closed tickets carry it; at least " + std::to_string(o.min_examples) +
                                    " are needed (ingest the ticket history with the field, e.g. "
                                    "--csv-map meta:" + o.field + "=<column>)");
  }
  if (!(o.holdout_fraction > 0 && o.holdout_fraction < 1 && o.validation_fraction > 0 &&
        o.validation_fraction < 1)) {
    return Status::invalid_argument("holdout and validation fractions must be in (0, 1)");
  }
  Evaluation ev;
  ev.field = o.field;
  ev.examples = examples.size();
  std::map<std::string, int> index;
  std::vector<std::string> names;
  std::vector<int> labels;
  for (const auto& e : examples) {
    auto [it, added] = index.emplace(e.label, static_cast<int>(names.size()));
    if (added) names.push_back(e.label);
    labels.push_back(it->second);
  }
  const int C = static_cast<int>(names.size());
  ev.classes = names.size();
  if (C < 2) {
    return Status::invalid_argument("field '" + o.field + "': every ticket has the same value '" + names[0] +
                                    "'; there is nothing to learn");
  }
  const size_t n = examples.size();
  const TimeSplit split = time_split(n, o);
  const size_t n_fit = split.fit, n_val = split.validation, n_test = split.test;
  const size_t n_train = n_fit + n_val;
  ev.fit = n_fit;
  ev.validation = n_val;
  ev.test = n_test;
  std::vector<int> y_val(labels.begin() + n_fit, labels.begin() + n_train);
  std::vector<int> y_test(labels.begin() + n_train, labels.end());

  // ---- majority -----------------------------------------------------------
  auto majority = [&](size_t end) {
    std::vector<size_t> count(C, 0);
    for (size_t i = 0; i < end; ++i) ++count[labels[i]];
    Scored s;
    s.label = static_cast<int>(std::max_element(count.begin(), count.end()) - count.begin());
    // As the served prior computes it (a float), so the threshold is chosen
    // on the type serving compares with it.
    s.confidence = static_cast<float>(count[s.label]) / end;
    return s;
  };
  {
    FamilyResult f;
    f.family = "majority";
    f.servable = true;
    std::vector<Scored> pv(n_val, majority(n_fit));
    double thr = choose_threshold(pv, y_val, o.target_precision);
    f.validation = evaluate(pv, y_val, C, thr);
    f.calibration_error = calibration_error(pv, y_val);
    Scored m = majority(n_train);
    f.params = "value=" + names[m.label];
    f.test = evaluate(std::vector<Scored>(n_test, m), y_test, C, thr, o.target_precision);
    f.test_calibration_error = calibration_error(std::vector<Scored>(n_test, m), y_test);
    ev.families.push_back(f);
  }

  // ---- TF-IDF kNN ---------------------------------------------------------
  std::vector<std::vector<float>> knn_val_votes, knn_test_votes;  // best k, for the blend
  int knn_k = 10;
  {
    FeatureOptions ko = knn_features(o.features);
    auto counts = counts_of(examples, 0, n, ko, o.field);
    FamilyResult f;
    f.family = "knn";
    Vectorizer v_fit(ko);
    v_fit.fit(std::vector<SparseVec>(counts.begin(), counts.begin() + n_fit));
    Slice fit = vectorize(v_fit, counts, 0, n_fit, labels), val = vectorize(v_fit, counts, n_fit, n_train, labels);
    KnnModel knn(fit.x, fit.y, C);
    int best_k = o.knn_k.empty() ? 10 : o.knn_k[0];
    double best_acc = -1;
    std::vector<Scored> best_pv;
    for (int k : o.knn_k) {
      std::vector<Scored> pv;
      std::vector<std::vector<float>> votes;
      for (const auto& x : val.x) {
        votes.push_back(knn.votes(x, k));
        pv.push_back(top1(votes.back()));
      }
      double a = accuracy(pv, y_val);
      if (a > best_acc) {
        best_acc = a;
        best_k = k;
        best_pv = std::move(pv);
        knn_val_votes = std::move(votes);
      }
    }
    knn_k = best_k;
    double thr = choose_threshold(best_pv, y_val, o.target_precision);
    f.validation = evaluate(best_pv, y_val, C, thr);
    f.calibration_error = calibration_error(best_pv, y_val);
    f.params = "k=" + std::to_string(best_k);
    Vectorizer v_train(ko);
    v_train.fit(std::vector<SparseVec>(counts.begin(), counts.begin() + n_train));
    Slice train = vectorize(v_train, counts, 0, n_train, labels), test = vectorize(v_train, counts, n_train, n, labels);
    KnnModel knn2(train.x, train.y, C);
    std::vector<Scored> pt;
    for (const auto& x : test.x) {
      knn_test_votes.push_back(knn2.votes(x, best_k));
      pt.push_back(top1(knn_test_votes.back()));
    }
    f.test = evaluate(pt, y_test, C, thr, o.target_precision);
    f.test_calibration_error = calibration_error(pt, y_test);
    ev.families.push_back(f);
  }

  // ---- linear ---------------------------------------------------------------
  std::vector<std::vector<float>> lin_val_probs, lin_test_probs;
  {
    auto counts = counts_of(examples, 0, n, o.features, o.field);
    FamilyResult f;
    f.family = "linear";
    f.servable = true;
    Vectorizer v_fit(o.features);
    v_fit.fit(std::vector<SparseVec>(counts.begin(), counts.begin() + n_fit));
    Slice fit = vectorize(v_fit, counts, 0, n_fit, labels), val = vectorize(v_fit, counts, n_fit, n_train, labels);
    LinearOptions best = o.linear;
    double best_acc = -1;
    for (float lr : o.learning_rates) {
      for (int cw : o.class_weightings) {
        LinearOptions lo = o.linear;
        lo.class_weighting = cw;
        lo.learning_rate = lr;
        LinearModel::train(fit.x, fit.y, C, v_fit.dim(), lo, [&](int epoch, const LinearModel& m) {
          double a = accuracy(predict_linear(m, val, 1.0), y_val);
          if (a > best_acc + 1e-9) {
            best_acc = a;
            best = lo;
            best.epochs = epoch;
          }
        });
      }
    }
    LinearModel m = LinearModel::train(fit.x, fit.y, C, v_fit.dim(), best);
    m.quantize();
    std::vector<std::vector<float>> logits;
    predict_linear(m, val, 1.0, &logits);
    ev.temperature = fit_temperature(logits, y_val);
    std::vector<Scored> pv;
    for (const auto& z : logits) {
      lin_val_probs.push_back(softmax(z, ev.temperature));
      pv.push_back(top1(lin_val_probs.back()));
    }
    ev.calibration = fit_confidence_map(pv, y_val);
    pv = apply_map(ev.calibration, std::move(pv));
    ev.threshold = choose_threshold(pv, y_val, o.target_precision);
    f.validation = evaluate(pv, y_val, C, ev.threshold);
    f.calibration_error = calibration_error(pv, y_val);
    char params[160];
    std::snprintf(params, sizeof params, "epochs=%d lr=%.2f class_weights=%s T=%.2f map=%zu", best.epochs,
                  best.learning_rate,
                  best.class_weighting == 0   ? "none"
                  : best.class_weighting == 1 ? "sqrt-balanced,corrected"
                                              : "sqrt-balanced", ev.temperature, ev.calibration.x().size());
    f.params = params;
    ev.linear = best;
    Vectorizer v_train(o.features);
    v_train.fit(std::vector<SparseVec>(counts.begin(), counts.begin() + n_train));
    Slice train = vectorize(v_train, counts, 0, n_train, labels), test = vectorize(v_train, counts, n_train, n, labels);
    LinearModel m2 = LinearModel::train(train.x, train.y, C, v_train.dim(), best);
    m2.quantize();
    std::vector<std::vector<float>> test_logits;
    predict_linear(m2, test, ev.temperature, &test_logits);
    std::vector<Scored> pt;
    for (const auto& z : test_logits) {
      lin_test_probs.push_back(softmax(z, ev.temperature));
      pt.push_back(top1(lin_test_probs.back()));
    }
    pt = apply_map(ev.calibration, std::move(pt));
    f.test = evaluate(pt, y_test, C, ev.threshold, o.target_precision);
    f.test_calibration_error = calibration_error(pt, y_test);
    ev.families.push_back(f);
  }

  // ---- blend: linear probabilities mixed with kNN vote shares --------------
  if (!o.blend_weights.empty()) {
    auto mix = [&](const std::vector<std::vector<float>>& p, const std::vector<std::vector<float>>& v, double a) {
      std::vector<Scored> out;
      std::vector<float> q(C);
      for (size_t i = 0; i < p.size(); ++i) {
        for (int c = 0; c < C; ++c) q[c] = static_cast<float>((1 - a) * p[i][c] + a * v[i][c]);
        out.push_back(top1(q));
      }
      return out;
    };
    double best_a = o.blend_weights[0], best_acc = -1;
    for (double a : o.blend_weights) {
      double acc = accuracy(mix(lin_val_probs, knn_val_votes, a), y_val);
      if (acc > best_acc) {
        best_acc = acc;
        best_a = a;
      }
    }
    FamilyResult f;
    f.family = "blend";
    f.servable = true;
    auto pv = mix(lin_val_probs, knn_val_votes, best_a);
    ev.blend_calibration = fit_confidence_map(pv, y_val);
    pv = apply_map(ev.blend_calibration, std::move(pv));
    double thr = choose_threshold(pv, y_val, o.target_precision);
    f.validation = evaluate(pv, y_val, C, thr);
    f.calibration_error = calibration_error(pv, y_val);
    auto pt = apply_map(ev.blend_calibration, mix(lin_test_probs, knn_test_votes, best_a));
    f.test = evaluate(pt, y_test, C, thr, o.target_precision);
    f.test_calibration_error = calibration_error(pt, y_test);
    char params[96];
    std::snprintf(params, sizeof params, "linear + %.2f * kNN(k=%d)", best_a, knn_k);
    f.params = params;
    ev.families.push_back(f);
    ev.blend = best_a;
    ev.blend_threshold = thr;
    ev.knn_k = knn_k;
  }

  // The servable family with the best validation accuracy (the linear model
  // on ties: it also serves a useful confidence).
  const FamilyResult* chosen = nullptr;
  for (const auto& f : ev.families) {
    if (!f.servable) continue;
    if (!chosen || f.validation.accuracy > chosen->validation.accuracy ||
        (f.validation.accuracy == chosen->validation.accuracy && f.family == "linear")) {
      chosen = &f;
    }
  }
  ev.chosen = chosen->family;
  if (ev.chosen != "linear") ev.threshold = chosen->validation.threshold;
  ev.seconds = seconds_since(t0);
  return ev;
}

Result<std::unique_ptr<FieldModel>> fit_serving_model(const std::vector<LabeledTicket>& examples,
                                                      const Evaluation& eval, const TrainOptions& o) {
  if (examples.empty()) return Status::invalid_argument("no examples");
  auto m = std::make_unique<FieldModel>();
  m->field = o.field;
  std::map<std::string, int> index;
  std::vector<int> labels;
  for (const auto& e : examples) {
    auto [it, added] = index.emplace(e.label, static_cast<int>(m->labels.size()));
    if (added) m->labels.push_back(e.label);
    labels.push_back(it->second);
  }
  const int C = static_cast<int>(m->labels.size());
  m->threshold = eval.threshold;
  m->temperature = eval.temperature;
  m->vectorizer = Vectorizer(o.features);
  std::vector<size_t> count(C, 0);
  for (int y : labels) ++count[y];
  for (size_t c : count) m->prior.push_back(static_cast<float>(c) / labels.size());
  if (eval.chosen == "majority") {
    m->family = FieldModel::Family::kMajority;
    return m;
  }
  m->family = eval.chosen == "blend" ? FieldModel::Family::kBlend : FieldModel::Family::kLinear;
  m->calibration = m->family == FieldModel::Family::kBlend ? eval.blend_calibration : eval.calibration;
  if (m->family == FieldModel::Family::kBlend) {
    m->blend = eval.blend;
    m->knn_k = eval.knn_k;
    m->knn_vectorizer = Vectorizer(knn_features(o.features));
    auto kc = counts_of(examples, 0, examples.size(), m->knn_vectorizer.options(), o.field);
    m->knn_vectorizer.fit(kc);
    for (size_t i = 0; i < kc.size(); ++i) m->knn_docs.push_back(m->knn_vectorizer.transform(kc[i]));
    m->knn_labels = labels;
    m->build_knn();
  }
  auto counts = counts_of(examples, 0, examples.size(), o.features, o.field);
  m->vectorizer.fit(counts);
  Slice all = vectorize(m->vectorizer, counts, 0, counts.size(), labels);
  m->linear = LinearModel::train(all.x, all.y, C, m->vectorizer.dim(), eval.linear);
  m->linear.quantize();
  return m;
}

namespace {

nlohmann::json metrics_json(const Metrics& m) {
  return {{"n", m.n},           {"accuracy", m.accuracy}, {"macro_f1", m.macro_f1},
          {"threshold", m.threshold}, {"precision", m.precision}, {"coverage", m.coverage}};
}

}  // namespace

std::string recipe_json(const TrainOptions& o) {
  nlohmann::json j = {{"field", o.field},
                      {"first_comment", o.first_comment},
                      {"target_precision", o.target_precision},
                      {"holdout_fraction", o.holdout_fraction},
                      {"validation_fraction", o.validation_fraction},
                      {"hash_bits", o.features.hash_bits},
                      {"min_examples", o.min_examples},
                      {"l2", o.linear.l2}};
  return j.dump();
}

Result<TrainOptions> stored_recipe(std::string_view manifest) {
  const nlohmann::json j = nlohmann::json::parse(manifest, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::corruption("triage manifest is not a JSON object");
  if (!j.contains("options")) {
    return Status::failed_precondition(
        "the model was trained before training settings were stored with a version; train it again (ragd triage "
        "train --no-activate)");
  }
  TrainOptions o;
  try {
    const nlohmann::json& r = j.at("options");
    o.field = r.at("field").get<std::string>();
    o.first_comment = r.at("first_comment").get<bool>();
    o.target_precision = r.at("target_precision").get<double>();
    o.holdout_fraction = r.at("holdout_fraction").get<double>();
    o.validation_fraction = r.at("validation_fraction").get<double>();
    o.features.hash_bits = r.at("hash_bits").get<uint32_t>();
    o.min_examples = r.at("min_examples").get<size_t>();
    // A recipe stored before "l2" was recorded was trained with the L2 of
    // that time, 1e-6 (not today's default): retraining from it keeps it.
    o.linear.l2 = r.contains("l2") ? r.at("l2").get<float>() : kRecipeL2BeforeRecorded;
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(std::string("triage manifest's options: ") + e.what());
  }
  auto fraction = [](double f) { return f > 0 && f < 1; };
  if (o.field.empty() || o.features.hash_bits < 8 || o.features.hash_bits > 24 || !fraction(o.holdout_fraction) ||
      !fraction(o.validation_fraction) || !(o.target_precision >= 0 && o.target_precision <= 1) ||
      !(o.linear.l2 >= 0 && std::isfinite(o.linear.l2))) {
    return Status::corruption(
        "triage manifest's options: empty field, hash_bits outside 8..24, a slice fraction outside (0, 1), a "
        "target precision outside [0, 1] or an l2 negative or not finite");
  }
  return o;
}

std::string manifest_json(const Evaluation& ev, const FieldModel& model, int64_t trained_at, const TrainOptions& o) {
  nlohmann::json fams = nlohmann::json::array();
  for (const auto& f : ev.families) {
    fams.push_back({{"family", f.family},
                    {"params", f.params},
                    {"servable", f.servable},
                    {"calibration_error", f.calibration_error},
                    {"test_calibration_error", f.test_calibration_error},
                    {"validation", metrics_json(f.validation)},
                    {"test", metrics_json(f.test)}});
  }
  const FamilyResult* chosen = nullptr;
  for (const auto& f : ev.families)
    if (f.family == ev.chosen) chosen = &f;
  nlohmann::json j = {
      {"field", ev.field},
      {"family", ev.chosen},
      {"trained_at", trained_at},
      {"metrics", chosen ? metrics_json(chosen->test) : nlohmann::json::object()},
      {"families", fams},
      {"window",
       {{"oldest", ev.data.oldest},
        {"newest", ev.data.newest},
        {"examples", ev.examples},
        {"fit", ev.fit},
        {"validation", ev.validation},
        {"test", ev.test},
        {"served_on", ev.examples},
        {"feedback_applied", ev.data.feedback_applied},
        {"skipped_open", ev.data.skipped_open}}},
      {"classes", model.labels.size()},
      {"temperature", model.temperature},
      {"calibration", {{"confidence", model.calibration.x()}, {"right", model.calibration.y()}}},
      {"threshold", model.threshold},
      {"train_seconds", ev.seconds},
      {"options", nlohmann::json::parse(recipe_json(o))},
  };
  return j.dump();
}

Result<Evaluation> evaluate_field(const Store& store, const TrainOptions& o) {
  DatasetStats ds;
  auto ex = load_examples(store, o.field, o.first_comment, &ds);
  if (!ex.is_ok()) return ex.status();
  auto ev = evaluate_examples(*ex, o);
  if (!ev.is_ok()) return ev.status();
  ev->data = ds;
  return ev;
}

Result<TrainReport> train_field(Store& store, const TrainOptions& o) {
  auto t0 = Clock::now();
  DatasetStats ds;
  auto ex = load_examples(store, o.field, o.first_comment, &ds);
  if (!ex.is_ok()) return ex.status();
  auto ev = evaluate_examples(*ex, o);
  if (!ev.is_ok()) return ev.status();
  ev->data = ds;
  auto model = fit_serving_model(*ex, *ev, o);
  if (!model.is_ok()) return model.status();
  TrainReport rep;
  rep.eval = std::move(*ev);
  const int64_t now = unix_seconds();
  auto version = store_model(store, **model, manifest_json(rep.eval, **model, now, o));
  if (!version.is_ok()) return version.status();
  rep.version = *version;
  auto prev = active_version(store, o.field);
  if (!prev.is_ok()) return prev.status();
  rep.previous = *prev;
  const FamilyResult* mine = nullptr;
  for (const auto& f : rep.eval.families)
    if (f.family == rep.eval.chosen) mine = &f;
  bool better = true;
  if (!rep.previous.empty()) {
    auto versions = list_versions(store, o.field);
    if (!versions.is_ok()) return versions.status();
    for (const auto& v : *versions) {
      if (v.version != rep.previous) continue;
      auto j = nlohmann::json::parse(v.manifest_json, nullptr, false);
      double acc = j.is_object() ? j["metrics"].value("accuracy", 0.0) : 0.0;
      double f1 = j.is_object() ? j["metrics"].value("macro_f1", 0.0) : 0.0;
      better = mine->test.accuracy >= acc - o.activation_tolerance && mine->test.macro_f1 >= f1 - o.activation_tolerance;
      char buf[256];
      std::snprintf(buf, sizeof buf, "held-out accuracy %.4f vs %.4f, macro-F1 %.4f vs %.4f of active %s",
                    mine->test.accuracy, acc, mine->test.macro_f1, f1, rep.previous.c_str());
      rep.decision = buf;
    }
  } else {
    rep.decision = "no active model";
  }
  if (!o.activate) {
    rep.decision = "stored as a candidate, not activated: " + rep.decision;
  } else if (better || o.force) {
    if (!better && o.before_forced_activation) {
      RAGD_RETURN_IF_ERROR(o.before_forced_activation(o.field, rep.version, rep.decision)
                               .with_context("recording the forced activation of " + o.field + " " + rep.version +
                                             " (stored, not served)"));
    }
    Status st = activate(store, o.field, rep.version);
    if (!st.is_ok()) return st;
    rep.activated = true;
    rep.decision = (better ? "activated: " : "activated (forced, worse): ") + rep.decision;
  } else {
    rep.decision = "kept, not served (worse): " + rep.decision;
  }
  rep.seconds = seconds_since(t0);
  return rep;
}

}  // namespace ragd::triage
