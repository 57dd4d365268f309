#include "govern/eval_suite.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ragd/clock.h"
#include "retrieve/eval.h"
#include "service/extractive_path.h"
#include "service/triage_retrainer.h"
#include "sync/toml_items.h"
#include "triage/trainer.h"
#include "triage/triage.h"

namespace ragd::govern {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
constexpr const char* kResultPrefix = "eval_suite/";

std::optional<EvalKind> parse_kind(std::string_view s) {
  if (s == "retrieval") return EvalKind::kRetrieval;
  if (s == "answers") return EvalKind::kAnswers;
  if (s == "triage") return EvalKind::kTriage;
  return std::nullopt;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string resolve(const std::string& base, const std::string& p) {
  if (p.empty() || base.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(base) / p).string();
}

// Removes a temporary store when the evaluation ends.
struct TempStoreDir {
  fs::path path;
  ~TempStoreDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

Status run_retrieval(const EvalSpec& spec, const SuiteTarget& t, EvalResult& out) {
  auto mode = parse_search_mode(spec.mode);
  if (!mode) return Status::invalid_argument("mode: expected lexical, vector or hybrid, got '" + spec.mode + "'");
  RAGD_ASSIGN_OR_RETURN(auto corpus, load_beir_corpus(resolve(t.base_dir, spec.corpus)));
  RAGD_ASSIGN_OR_RETURN(auto queries, load_beir_queries(resolve(t.base_dir, spec.queries)));
  RAGD_ASSIGN_OR_RETURN(auto qrels, load_beir_qrels(resolve(t.base_dir, spec.qrels)));
  // A temporary store with the configuration's encoder (the GloVe vectors
  // already loaded are shared, not read again).
  static std::atomic<uint64_t> counter{0};
  TempStoreDir tmp;
  tmp.path = fs::path(t.temp_dir.empty() ? fs::temp_directory_path().string() : t.temp_dir) /
             ("ragd-eval-suite-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  ServiceOptions o = t.service->options();
  o.store.dir = tmp.path;
  if (!t.encoder_model.empty()) o.encoder.model = t.encoder_model;
  o.store.read_only = false;
  o.shared_glove = t.service->shared_word_ranks();
  o.reindex = {};
  o.bind_encoder = true;
  RAGD_ASSIGN_OR_RETURN(auto svc, ServiceContext::open(std::move(o)));
  if (svc->embedder() == nullptr) {
    return Status::failed_precondition("a retrieval evaluation ingests its corpus and needs an encoder (--glove)");
  }
  auto ingested = svc->ingest(std::move(corpus));
  if (!ingested.is_ok()) return ingested.status().with_context("ingesting the corpus");
  EvalOptions eo;
  eo.mode = *mode;
  RAGD_ASSIGN_OR_RETURN(EvalReport report, evaluate(svc->retriever(), svc->store(), queries, qrels, eo));
  out.metrics["ndcg@" + std::to_string(report.ndcg_k)] = report.ndcg;
  out.metrics["recall@" + std::to_string(report.recall_k)] = report.recall;
  out.metrics["queries"] = static_cast<double>(report.queries);
  return svc->close();
}

Status run_answers(const EvalSpec& spec, const SuiteTarget& t, EvalResult& out) {
  if (t.answerer == nullptr) return Status::failed_precondition("no answerer to evaluate");
  RAGD_ASSIGN_OR_RETURN(auto questions, load_answer_questions(resolve(t.base_dir, spec.answers)));
  std::vector<AnswerQuestion> qs = questions_of_split(std::move(questions), spec.split);
  if (qs.empty()) return Status::invalid_argument("no question of split '" + spec.split + "'");
  std::vector<AnswerOutcome> outcomes;
  for (const AnswerQuestion& q : qs) {
    AnswerRequest r;
    r.search.query = q.question;
    r.search.k = 5;
    r.search.groups = q.groups;
    r.caller = "eval-suite";
    auto ans = t.answerer->answer(r, nullptr);
    if (!ans.is_ok()) return ans.status().with_context("question " + q.id);
    // Retrieval is judged as `ragd eval --answers` judges it.
    SearchRequest rr = r.search;
    rr.k = kAnswerEvalRetrievalK;
    auto hits = t.service->search(rr);
    if (!hits.is_ok()) return hits.status().with_context("question " + q.id);
    outcomes.push_back(answer_outcome(*ans, *hits));
  }
  const AnswerTally all = score_answers(qs, outcomes).overall;
  const double n = static_cast<double>(std::max<size_t>(all.questions, 1));
  out.metrics["accuracy"] = static_cast<double>(all.correct + all.correct_refusal) / n;
  out.metrics["hallucination_rate"] = static_cast<double>(all.hallucinated) / n;
  out.metrics["false_refusal_rate"] = static_cast<double>(all.false_refusal) / n;
  out.metrics["citation_precision"] = all.citation_precision();
  out.metrics["recall@5"] = all.recall_at_5();
  out.metrics["questions"] = static_cast<double>(all.questions);
  return Status::ok();
}

// A stored version's recipe, after checking that its weights load. "" = no
// version: the default recipe. `old_ok`: a version from before recipes were
// stored is measured with the default recipe instead of failing.
Result<triage::TrainOptions> recipe_of(const Store& store, const std::string& field, const std::string& version,
                                       bool old_ok) {
  triage::TrainOptions o;
  o.field = field;
  if (version.empty()) return o;
  const std::string where = "triage model " + field + " " + version;
  RAGD_ASSIGN_OR_RETURN(std::string manifest, triage::version_manifest(store, field, version));
  auto recipe = triage::stored_recipe(manifest);
  if (recipe.is_ok()) {
    o = std::move(recipe).value();
    o.field = field;
  } else if (!old_ok || recipe.status().code() != StatusCode::kFailedPrecondition) {
    return recipe.status().with_context(where);
  }
  auto weights = triage::load_model(store, field, version);
  if (!weights.is_ok()) return weights.status().with_context(where);
  return o;
}

// The recipe a triage evaluation measures: the active version's, or a named
// candidate's with the active recipe's slices, so that both are tuned and
// scored on the same tickets (see run_eval_suite in the header).
Result<triage::TrainOptions> triage_recipe(const EvalSpec& spec, const SuiteTarget& t) {
  const Store& store = t.service->store();
  RAGD_ASSIGN_OR_RETURN(std::string active, triage::active_version(store, spec.field));
  auto named = t.triage_versions.find(spec.field);
  if (named == t.triage_versions.end()) return recipe_of(store, spec.field, active, /*old_ok=*/true);
  RAGD_ASSIGN_OR_RETURN(triage::TrainOptions o, recipe_of(store, spec.field, named->second, /*old_ok=*/false));
  triage::TrainOptions split;  // the active recipe's slices (the default ones when it cannot be read)
  if (auto m = triage::version_manifest(store, spec.field, active); m.is_ok()) {
    if (auto a = triage::stored_recipe(*m); a.is_ok()) split = *a;
  }
  o.holdout_fraction = split.holdout_fraction;
  o.validation_fraction = split.validation_fraction;
  return o;
}

Status run_triage(const EvalSpec& spec, const SuiteTarget& t, EvalResult& out) {
  RAGD_ASSIGN_OR_RETURN(triage::TrainOptions o, triage_recipe(spec, t));
  RAGD_ASSIGN_OR_RETURN(triage::Evaluation ev, triage::evaluate_field(t.service->store(), o));
  for (const auto& f : ev.families) {
    if (f.family != ev.chosen) continue;
    out.metrics["accuracy"] = f.test.accuracy;
    out.metrics["macro_f1"] = f.test.macro_f1;
    out.metrics["precision"] = f.test.precision;
    out.metrics["coverage"] = f.test.coverage;
  }
  out.metrics["test_examples"] = static_cast<double>(ev.test);
  return Status::ok();
}

// Counts are context, not quality: the gate leaves them out.
bool is_count(std::string_view metric) {
  return metric == "queries" || metric == "questions" || metric == "test_examples";
}

}  // namespace

const char* eval_kind_name(EvalKind k) {
  switch (k) {
    case EvalKind::kRetrieval: return "retrieval";
    case EvalKind::kAnswers: return "answers";
    case EvalKind::kTriage: return "triage";
  }
  return "retrieval";
}

bool metric_higher_is_better(std::string_view metric) {
  return metric != "hallucination_rate" && metric != "false_refusal_rate";
}

const EvalResult* SuiteResult::find(const std::string& name) const {
  for (const auto& e : evals)
    if (e.name == name) return &e;
  return nullptr;
}

Result<std::vector<EvalSpec>> parse_eval_specs(std::string_view toml, const std::string& path) {
  auto set = [](EvalSpec& s, const sync::TomlItem& it, const std::string& where) {
    if (it.inputs.size() != 1) throw std::invalid_argument(where + ": '" + it.name + "' takes one value");
    const std::string& v = it.inputs.front();
    if (it.name == "name") {
      if (!valid_name(v)) throw std::invalid_argument(where + ": name must be 1-64 of letters, digits, . _ -");
      s.name = v;
    } else if (it.name == "kind") {
      auto k = parse_kind(v);
      if (!k) throw std::invalid_argument(where + ": kind must be retrieval, answers or triage, got \"" + v + "\"");
      s.kind = *k;
    } else if (it.name == "corpus") {
      s.corpus = v;
    } else if (it.name == "queries") {
      s.queries = v;
    } else if (it.name == "qrels") {
      s.qrels = v;
    } else if (it.name == "mode") {
      if (v != "lexical" && v != "vector" && v != "hybrid") {
        throw std::invalid_argument(where + ": mode must be lexical, vector or hybrid, got \"" + v + "\"");
      }
      s.mode = v;
    } else if (it.name == "answers") {
      s.answers = v;
    } else if (it.name == "split") {
      s.split = v;
    } else if (it.name == "field") {
      s.field = v;
    } else {
      throw std::invalid_argument(where + ": unknown key '" + it.name +
                                  "' in [[eval]] (name, kind, corpus, queries, qrels, mode, answers, split, field)");
    }
  };
  std::set<std::string> names;
  auto finish = [&names](EvalSpec& s, const std::string& at) {
    if (s.name.empty()) throw std::invalid_argument(at + ": [[eval]] needs a name");
    if (!names.insert(s.name).second) throw std::invalid_argument(at + ": a second [[eval]] named '" + s.name + "'");
    if (s.kind == EvalKind::kRetrieval && (s.corpus.empty() || s.queries.empty() || s.qrels.empty())) {
      throw std::invalid_argument(at + ": a retrieval [[eval]] needs corpus, queries and qrels");
    }
    if (s.kind == EvalKind::kAnswers && s.answers.empty()) {
      throw std::invalid_argument(at + ": an answers [[eval]] needs answers (the questions file)");
    }
  };
  return sync::read_tables<EvalSpec>(toml, path, "eval", set, finish);
}

Result<std::vector<EvalSpec>> read_eval_specs(const std::string& path) {
  auto text = sync::read_config_file(path);
  if (!text.is_ok()) return text.status();
  return parse_eval_specs(*text, path);
}

SuiteResult run_eval_suite(const std::vector<EvalSpec>& specs, const SuiteTarget& target) {
  const auto start = std::chrono::steady_clock::now();
  SuiteResult r;
  r.label = target.label;
  r.versions = target.versions;
  const StoreStats st = target.service->store().stats();
  r.versions.store_sequence = st.sequence;
  if (r.versions.encoder.empty()) r.versions.encoder = st.encoder;
  if (auto served = triage::served_versions(target.service->store()); served.is_ok()) {
    std::map<std::string, std::string> fields = target.triage_versions;
    for (const auto& v : *served) fields.emplace(v.field, v.version);
    std::string t;
    for (const auto& [field, version] : fields) t += (t.empty() ? "" : ",") + field + "=" + version;
    r.versions.triage = t;
  }
  for (const EvalSpec& spec : specs) {
    const auto t0 = std::chrono::steady_clock::now();
    EvalResult e;
    e.name = spec.name;
    e.kind = spec.kind;
    Status s = spec.kind == EvalKind::kRetrieval ? run_retrieval(spec, target, e)
               : spec.kind == EvalKind::kAnswers ? run_answers(spec, target, e)
                                                 : run_triage(spec, target, e);
    if (!s.is_ok()) {
      e.error = s.to_string();
      e.metrics.clear();
    }
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.evals.push_back(std::move(e));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.time_ms = unix_ms();
  return r;
}

std::string suite_result_to_json(const SuiteResult& r) {
  json evals = json::array();
  for (const auto& e : r.evals) {
    json j{{"name", e.name}, {"kind", eval_kind_name(e.kind)}, {"metrics", e.metrics}, {"seconds", e.seconds}};
    if (!e.error.empty()) j["error"] = e.error;
    evals.push_back(std::move(j));
  }
  const EvalVersions& v = r.versions;
  json j{{"label", r.label},
         {"time_ms", r.time_ms},
         {"seconds", r.seconds},
         {"versions",
          {{"answerer", v.answerer},
           {"model_name", v.model_name},
           {"model_sha256", v.model_sha256},
           {"encoder", v.encoder},
           {"prompt_version", v.prompt_version},
           {"triage", v.triage},
           {"store_sequence", v.store_sequence}}},
         {"evals", std::move(evals)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<SuiteResult> suite_result_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::corruption("eval suite result is not a JSON object");
  SuiteResult r;
  try {
    r.label = j.at("label").get<std::string>();
    r.time_ms = j.value("time_ms", int64_t{0});
    r.seconds = j.value("seconds", 0.0);
    const json& v = j.at("versions");
    r.versions.answerer = v.value("answerer", "");
    r.versions.model_name = v.value("model_name", "");
    r.versions.model_sha256 = v.value("model_sha256", "");
    r.versions.encoder = v.value("encoder", "");
    r.versions.prompt_version = v.value("prompt_version", "");
    r.versions.triage = v.value("triage", "");
    r.versions.store_sequence = v.value("store_sequence", uint64_t{0});
    for (const json& e : j.at("evals")) {
      EvalResult er;
      er.name = e.at("name").get<std::string>();
      auto k = parse_kind(e.at("kind").get<std::string>());
      if (!k) return Status::corruption("eval suite result: unknown kind in '" + er.name + "'");
      er.kind = *k;
      er.metrics = e.at("metrics").get<std::map<std::string, double>>();
      er.error = e.value("error", "");
      er.seconds = e.value("seconds", 0.0);
      r.evals.push_back(std::move(er));
    }
  } catch (const json::exception& ex) {
    return Status::corruption(std::string("eval suite result: ") + ex.what());
  }
  return r;
}

std::string candidate_label(const std::string& model_name) { return "candidate/" + model_name; }

std::string triage_candidate_label(const std::string& field, const std::string& version) {
  return "candidate/triage:" + field + "@" + version;
}

std::string triage_baseline_label(const std::string& field, const std::string& version) {
  return "baseline/triage:" + field + "@" + version;
}

Result<std::pair<std::string, std::string>> parse_triage_candidate(std::string_view text) {
  const size_t at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) {
    return Status::invalid_argument("a triage candidate is FIELD@VERSION (ragd triage list), got '" +
                                    std::string(text.substr(0, 200)) + "'");
  }
  std::string field(text.substr(0, at)), version(text.substr(at + 1));
  if (!valid_name(version) || field.size() > 256) {
    return Status::invalid_argument("a triage candidate is FIELD@VERSION (ragd triage list), got '" +
                                    std::string(text.substr(0, 200)) + "'");
  }
  return std::make_pair(std::move(field), std::move(version));
}

Status store_suite_result(Store& store, const SuiteResult& r) {
  return store.put_state(kResultPrefix + r.label, suite_result_to_json(r));
}

Result<std::optional<SuiteResult>> load_suite_result(const Store& store, const std::string& label) {
  RAGD_ASSIGN_OR_RETURN(std::string text, store.get_state(kResultPrefix + label));
  if (text.empty()) return std::optional<SuiteResult>();
  RAGD_ASSIGN_OR_RETURN(SuiteResult r, suite_result_from_json(text));
  return std::optional<SuiteResult>(std::move(r));
}

Result<std::vector<SuiteResult>> list_suite_results(const Store& store) {
  RAGD_ASSIGN_OR_RETURN(auto rows, store.list_state(kResultPrefix, SIZE_MAX));
  std::vector<SuiteResult> out;
  for (const auto& [key, value] : rows) {
    RAGD_ASSIGN_OR_RETURN(SuiteResult r, suite_result_from_json(value));
    out.push_back(std::move(r));
  }
  return out;
}

GateVerdict compare_suites(const SuiteResult& active, const SuiteResult& candidate, double tolerance) {
  GateVerdict v;
  auto fail = [&v](const std::string& why) {
    if (v.pass) v.reason = why;
    v.pass = false;
  };
  for (const EvalResult& a : active.evals) {
    if (!a.error.empty()) continue;  // nothing to hold the candidate to
    const EvalResult* c = candidate.find(a.name);
    if (c == nullptr) {
      fail("evaluation '" + a.name + "' has no result for the candidate");
      continue;
    }
    if (!c->error.empty()) {
      fail("evaluation '" + a.name + "' failed for the candidate: " + c->error);
      continue;
    }
    for (const auto& [metric, av] : a.metrics) {
      if (is_count(metric)) continue;
      auto it = c->metrics.find(metric);
      if (it == c->metrics.end()) continue;
      MetricDelta d;
      d.eval = a.name;
      d.metric = metric;
      d.active = av;
      d.candidate = it->second;
      d.delta = d.candidate - d.active;
      const double loss = metric_higher_is_better(metric) ? -d.delta : d.delta;
      d.worse = loss > tolerance + 1e-12;
      if (d.worse) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s %s: %.4f -> %.4f (tolerance %.4f)", a.name.c_str(), metric.c_str(), d.active,
                      d.candidate, tolerance);
        fail(std::string("worse than the active configuration: ") + buf);
      }
      v.deltas.push_back(std::move(d));
    }
  }
  return v;
}

Result<GateVerdict> activation_gate(const Store& store, const std::string& model_name, double tolerance) {
  RAGD_ASSIGN_OR_RETURN(auto active, load_suite_result(store, "active"));
  if (!active) return GateVerdict{};  // no suite has run: no gate
  RAGD_ASSIGN_OR_RETURN(auto cand, load_suite_result(store, candidate_label(model_name)));
  if (!cand) {
    GateVerdict v;
    v.pass = false;
    v.reason = "no evaluation suite result for '" + model_name + "': run `ragd eval suite --candidate " + model_name +
               "` first";
    return v;
  }
  return compare_suites(*active, *cand, tolerance);
}

Result<GateVerdict> triage_activation_gate(const Store& store, const std::string& field, const std::string& version,
                                           double tolerance) {
  RAGD_ASSIGN_OR_RETURN(auto cand, load_suite_result(store, triage_candidate_label(field, version)));
  RAGD_ASSIGN_OR_RETURN(auto base, load_suite_result(store, triage_baseline_label(field, version)));
  GateVerdict v;
  auto refuse = [&v](std::string why) {
    v.pass = false;
    v.reason = std::move(why);
    return v;
  };
  const std::string again = "run `ragd eval suite --candidate-triage " + field + "@" + version + "`";
  if (!cand || !base) {
    RAGD_ASSIGN_OR_RETURN(auto stored, list_suite_results(store));
    if (stored.empty()) return GateVerdict{};  // no suite has run: no gate
    return refuse("no evaluation suite result for triage " + field + " " + version + ": " + again + " first");
  }
  // The baseline measured the version that serves now, or it says nothing
  // about what the candidate would replace.
  RAGD_ASSIGN_OR_RETURN(std::string serving, triage::active_version(store, field));
  std::string measured;
  const std::string& served = base->versions.triage;
  for (size_t at = 0; at <= served.size();) {
    const size_t end = std::min(served.find(',', at), served.size());
    const std::string item = served.substr(at, end - at);
    if (item.rfind(field + "=", 0) == 0) measured = item.substr(field.size() + 1);
    at = end + 1;
  }
  if (measured != serving) {
    return refuse("the evaluation compared the candidate with " + (measured.empty() ? "no active version" : measured) +
                  ", but " + (serving.empty() ? "none" : serving) + " serves now: " + again + " again");
  }
  for (const EvalResult& c : cand->evals) {
    if (!c.error.empty()) return refuse("evaluation '" + c.name + "' failed for the candidate: " + c.error);
    const EvalResult* b = base->find(c.name);
    if (b == nullptr || !b->error.empty()) {
      return refuse("evaluation '" + c.name + "' of the serving version " + (b ? "failed: " + b->error : "is missing") +
                    ", so there is nothing to compare the candidate with");
    }
  }
  v = compare_suites(*base, *cand, tolerance);
  if (v.pass && v.deltas.empty()) return refuse("no metric was compared: " + again);
  return v;
}

Result<GatedTriageActivation> activate_triage_gated(Store& store, const std::string& field,
                                                    const std::string& version, double tolerance, bool force,
                                                    AuditLog* audit, const std::string& caller) {
  GatedTriageActivation out;
  out.field = field;
  out.version = version;
  RAGD_RETURN_IF_ERROR(triage::version_manifest(store, field, version).status());
  // A version whose weights do not load never becomes the pointer the server
  // reads at start.
  RAGD_RETURN_IF_ERROR(triage::load_model(store, field, version).status());
  RAGD_ASSIGN_OR_RETURN(out.previous, triage::active_version(store, field));
  RAGD_ASSIGN_OR_RETURN(out.verdict, triage_activation_gate(store, field, version, tolerance));
  if (!out.verdict.pass) {
    if (!force) {
      return Status::failed_precondition("refusing to activate triage " + field + " " + version + ": " +
                                         out.verdict.reason +
                                         " (--force activates it anyway, recorded in the audit log)");
    }
    if (audit == nullptr) return Status::failed_precondition("a forced activation needs the audit log");
    RAGD_RETURN_IF_ERROR(audit_forced_triage(*audit, caller)(field, version, out.verdict.reason)
                             .with_context("recording the forced activation"));
    out.forced = true;
  }
  RAGD_RETURN_IF_ERROR(triage::activate(store, field, version));
  return out;
}

Result<GatedActivation> activate_gated(Store& store, const std::string& name, double tolerance, bool force,
                                       AuditLog* audit, const std::string& caller,
                                       const std::function<Status(const ModelEntry&)>& apply) {
  GatedActivation out;
  RAGD_ASSIGN_OR_RETURN(auto entries, list_models(store));
  auto entry = std::find_if(entries.begin(), entries.end(), [&](const ModelEntry& e) { return e.name == name; });
  if (entry == entries.end()) return Status::not_found("no model '" + name + "' in the registry (ragd models add)");
  RAGD_ASSIGN_OR_RETURN(out.verdict, activation_gate(store, name, tolerance));
  if (!out.verdict.pass) {
    if (!force) {
      return Status::failed_precondition("refusing to activate '" + name + "': " + out.verdict.reason +
                                         " (--force activates it anyway, recorded in the audit log)");
    }
    if (audit == nullptr) return Status::failed_precondition("a forced activation needs the audit log");
    AuditRecord rec;
    rec.request_id = "activate-" + name + "-" + std::to_string(unix_ms());
    rec.time_ms = unix_ms();
    rec.caller = caller;
    rec.task = "model_activation";
    rec.query = "activate " + name;
    rec.outcome = "forced";
    rec.finish_reason = out.verdict.reason;
    rec.model_file = entry->path;
    rec.model_sha256 = entry->sha256;
    RAGD_RETURN_IF_ERROR(audit->append(rec).with_context("recording the forced activation"));
    out.forced = true;
  }
  if (apply) RAGD_RETURN_IF_ERROR(apply(*entry));
  RAGD_ASSIGN_OR_RETURN(out.entry, activate_model(store, name));
  return out;
}

Result<SuiteResult> run_and_store_suite(ServiceContext& ctx, const std::vector<EvalSpec>& specs, const SuiteRun& run) {
  if (specs.empty()) return Status::invalid_argument("no [[eval]] tables in the config file: nothing to run");
  SuiteTarget target;
  target.service = &ctx;
  target.base_dir = run.base_dir;
  target.temp_dir = run.temp_dir;
  if (!run.candidate_triage_field.empty()) {
    // A triage candidate: its field's triage evaluations, nothing else.
    const std::string& field = run.candidate_triage_field;
    if (!run.candidate.empty() || !run.candidate_prompts.empty()) {
      return Status::invalid_argument("a triage candidate is evaluated on its own, without a model or prompt candidate");
    }
    RAGD_RETURN_IF_ERROR(triage::version_manifest(ctx.store(), field, run.candidate_triage_version).status());
    std::vector<EvalSpec> mine;
    for (const EvalSpec& s : specs) {
      if (s.kind == EvalKind::kTriage && s.field == field) mine.push_back(s);
    }
    if (mine.empty()) {
      return Status::invalid_argument("no [[eval]] of kind triage measures field '" + field +
                                      "' in the config file: add one (kind = \"triage\", field = \"" + field +
                                      "\")");
    }
    // The serving version's recipe first, on the same tickets: the
    // baseline the gate holds the candidate to.
    SuiteTarget base = target;
    base.label = triage_baseline_label(field, run.candidate_triage_version);
    const SuiteResult b = run_eval_suite(mine, base);
    target.label = triage_candidate_label(field, run.candidate_triage_version);
    target.triage_versions[field] = run.candidate_triage_version;
    SuiteResult r = run_eval_suite(mine, target);
    RAGD_RETURN_IF_ERROR(store_suite_result(ctx.store(), b));
    RAGD_RETURN_IF_ERROR(store_suite_result(ctx.store(), r));
    return r;
  }
  std::optional<ModelEntry> llm;
  if (run.candidate.empty()) {
    RAGD_ASSIGN_OR_RETURN(llm, active_model(ctx.store(), ModelRole::kLlm));
  } else {
    RAGD_ASSIGN_OR_RETURN(auto all, list_models(ctx.store()));
    auto it = std::find_if(all.begin(), all.end(), [&](const ModelEntry& e) { return e.name == run.candidate; });
    if (it == all.end()) return Status::not_found("no model '" + run.candidate + "' in the registry (ragd models add)");
    target.label = candidate_label(run.candidate);
    if (it->role == ModelRole::kEncoder) {
      target.encoder_model = it->path;
      target.versions.encoder = it->name + "@" + it->sha256.substr(0, 12);  // not bound to the store yet
      RAGD_ASSIGN_OR_RETURN(llm, active_model(ctx.store(), ModelRole::kLlm));
    } else {
      llm = *it;
    }
  }
  // Whichever answers: the served model (held so a switch meanwhile lets
  // this run finish on it), a loaded LLM, or the extractive answerer. A
  // prompt-template candidate loads its LLM with those templates.
  const bool prompt_candidate = !run.candidate_prompts.empty();
  std::shared_ptr<const Answerer> answerer;
  auto describe_llm = [&](const LlmAnswerPath& path) -> Status {
    target.versions.answerer = "llm";
    target.versions.model_sha256 = path.model_sha256();
    target.versions.prompt_version = path.prompt_version();
    if (!target.versions.model_name.empty()) return Status::ok();
    RAGD_ASSIGN_OR_RETURN(auto all, list_models(ctx.store()));
    for (const auto& e : all) {
      if (e.role == ModelRole::kLlm && e.sha256 == path.model_sha256()) target.versions.model_name = e.name;
    }
    return Status::ok();
  };
  std::shared_ptr<const LlmAnswerPath> now = run.loaded_llm != nullptr ? run.loaded_llm->current() : nullptr;
  // Unless the candidate is an LLM, the served model is the active one.
  const bool llm_candidate = !run.candidate.empty() && target.encoder_model.empty();
  const bool served = !llm_candidate && now != nullptr;
  if (served && !prompt_candidate) {
    RAGD_RETURN_IF_ERROR(describe_llm(*now));
    answerer = std::move(now);
  } else if (llm || served) {
    LlmPathOptions lo = served ? now->options() : run.llm;
    if (!served) {
      lo.model = llm->path;
      target.versions.model_name = llm->name;
    }
    if (prompt_candidate) lo.prompts = run.candidate_prompts;
    lo.audit_log.clear();
    auto path = LlmAnswerPath::open(ctx, lo);
    if (!path.is_ok()) {
      return path.status().with_context(prompt_candidate ? "loading the LLM with the candidate's prompts"
                                                         : "loading the LLM");
    }
    RAGD_RETURN_IF_ERROR(describe_llm(**path));
    answerer = std::move(path).value();
  } else if (prompt_candidate) {
    return Status::failed_precondition(
        "a prompt-template candidate needs an LLM to answer with: activate one (ragd models activate), or name one "
        "with --candidate");
  } else {
    answerer = std::make_shared<ExtractiveAnswerPath>(ctx, nullptr);
    target.versions.answerer = "extractive";
  }
  if (prompt_candidate) {
    target.label = (run.candidate.empty() ? std::string("candidate/") : target.label + "+") + "prompts@" +
                   target.versions.prompt_version;
  }
  target.answerer = answerer.get();
  SuiteResult r = run_eval_suite(specs, target);
  RAGD_RETURN_IF_ERROR(store_suite_result(ctx.store(), r));
  return r;
}

}  // namespace ragd::govern
