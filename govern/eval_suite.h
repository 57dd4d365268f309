// The evaluation suite as a release gate (issue 16, point 2).
//
//   [[eval]] tables (config file)  which evaluations make the suite
//   run_eval_suite(specs, target)  runs them against one configuration (the
//                                  active one, or a candidate: a registered
//                                  model and/or a prompt-template folder)
//   store_suite_result / load_suite_result
//                                  the result with the versions that produced
//                                  it, in the store's state keys
//                                  (eval_suite/<label>, label "active",
//                                  "candidate/<model name>" or with prompts
//                                  "candidate/[<name>+]prompts@<version>")
//   compare_suites(active, cand)   the deltas and the gate's verdict that
//                                  `ragd models activate` enforces
//
// Three kinds: retrieval (a BEIR corpus ingested into a temporary store with
// the configuration's encoder: nDCG@10, Recall@100, as `ragd eval --corpus`),
// answers (an answers-eval file through the configuration's Answerer on the
// data store, as `ragd eval --answers`) and triage (the held-out test metrics
// of triage::evaluate_field on the store's labelled tickets).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "generate/audit_log.h"
#include "govern/registry.h"
#include "index/store.h"
#include "ragd/status.h"
#include "service/answerer.h"
#include "service/live_llm.h"
#include "service/llm_path.h"
#include "service/service.h"

namespace ragd::govern {

enum class EvalKind { kRetrieval, kAnswers, kTriage };
const char* eval_kind_name(EvalKind k);  // "retrieval", "answers", "triage"

// One [[eval]] table.
struct EvalSpec {
  // Unique name; the key of its metrics (1-64 of a-z A-Z 0-9 . _ -). Required.
  std::string name;
  // Required: "retrieval", "answers" or "triage".
  EvalKind kind = EvalKind::kRetrieval;
  // retrieval: the BEIR files; a relative path is relative to the config
  // file's folder. Required for retrieval.
  std::string corpus, queries, qrels;
  // retrieval: "lexical", "vector" or "hybrid". Default: "hybrid".
  std::string mode = "hybrid";
  // answers: the questions file (`ragd eval --answers`). Required for answers.
  std::string answers;
  // answers: only the questions of this split; "all" = every one. Default: "all".
  std::string split = "all";
  // triage: the field whose model is measured. Default: "assignment_group".
  std::string field = "assignment_group";
  int line = 0;
};

// Reads every [[eval]] table; errors name the file and line (a duplicate
// name, a missing file key, an unknown key or kind).
Result<std::vector<EvalSpec>> parse_eval_specs(std::string_view toml, const std::string& path);
Result<std::vector<EvalSpec>> read_eval_specs(const std::string& path);

// What produced a suite result.
struct EvalVersions {
  std::string answerer;       // "extractive" or "llm"
  std::string model_name;     // registry name of the LLM, "" when not registered / extractive
  std::string model_sha256;   // "" for the extractive answerer
  std::string encoder;        // the store's encoder fingerprint
  std::string prompt_version; // prompt templates' version, "" for the extractive answerer
  std::string triage;         // "field=version,..." of the active triage models, "" when none
  uint64_t store_sequence = 0;
};

struct EvalResult {
  std::string name;
  EvalKind kind = EvalKind::kRetrieval;
  // Metric name -> value, e.g. "ndcg@10", "accuracy". See metric_higher_is_better().
  std::map<std::string, double> metrics;
  std::string error;  // "" when it ran
  double seconds = 0;
};

struct SuiteResult {
  std::string label;  // "active" or "candidate/<name>"
  EvalVersions versions;
  int64_t time_ms = 0;  // unix ms when the run ended
  double seconds = 0;
  std::vector<EvalResult> evals;
  const EvalResult* find(const std::string& name) const;
};

// False for the rates where lower is better (hallucination_rate,
// false_refusal_rate); true otherwise.
bool metric_higher_is_better(std::string_view metric);

// What the suite runs against.
struct SuiteTarget {
  // The data store's service (answers, triage; its options and encoder are
  // reused for the temporary retrieval stores). Required.
  ServiceContext* service = nullptr;
  // The answers path; null skips the answers evaluations (an error result).
  const Answerer* answerer = nullptr;
  // Folder of the config file, for relative paths in the specs.
  std::string base_dir;
  // Temporary stores go under here. Default: the system's temp folder.
  std::string temp_dir;
  // "active", "candidate/<name>", "candidate/[<name>+]prompts@<version>".
  std::string label = "active";
  // A GGUF encoder for the retrieval evaluations' temporary stores instead
  // of the service's (an encoder candidate); empty = the service's.
  std::string encoder_model;
  // Triage field -> the stored version whose recipe its evaluations measure
  // (a triage candidate); a field not named uses its active version's.
  std::map<std::string, std::string> triage_versions;
  EvalVersions versions;
};

// Runs every spec; a failing one is recorded with its error and the rest
// still run. Fills versions.store_sequence, encoder and triage from the store.
//
// A triage evaluation measures a model version's recipe (triage::stored_recipe:
// the settings it was trained with) on the store's labelled tickets as they
// are now: tuned on the older slices and scored on the newest ones, as
// `ragd triage eval` does. A candidate's recipe is run with the serving
// recipe's slice fractions, so both are scored on the same held-out
// tickets, which their stored weights cannot be: the newer one was refit on
// all tickets up to its training, the held-out ones included. The version's
// stored weights must still load (a damaged version fails its evaluation).
// A field without an active version, or whose active version predates
// stored recipes, is measured with the default recipe.
SuiteResult run_eval_suite(const std::vector<EvalSpec>& specs, const SuiteTarget& target);

std::string suite_result_to_json(const SuiteResult& r);
Result<SuiteResult> suite_result_from_json(std::string_view text);

// The label of a candidate's result.
std::string candidate_label(const std::string& model_name);
// The label of a triage candidate's result: "candidate/triage:FIELD@VERSION",
// and of the serving version's result measured beside it in the same run:
// "baseline/triage:FIELD@VERSION".
std::string triage_candidate_label(const std::string& field, const std::string& version);
std::string triage_baseline_label(const std::string& field, const std::string& version);
// "FIELD@VERSION" -> {field, version}; kInvalidArgument naming the form.
Result<std::pair<std::string, std::string>> parse_triage_candidate(std::string_view text);
// eval_suite/<label>: one synced write.
Status store_suite_result(Store& store, const SuiteResult& r);
// nullopt when none was stored.
Result<std::optional<SuiteResult>> load_suite_result(const Store& store, const std::string& label);
// Every stored result (the active one and each candidate's).
Result<std::vector<SuiteResult>> list_suite_results(const Store& store);

struct MetricDelta {
  std::string eval, metric;
  double active = 0, candidate = 0;
  double delta = 0;    // candidate - active
  bool worse = false;  // beyond the tolerance in the wrong direction
};

struct GateVerdict {
  bool pass = true;
  std::vector<MetricDelta> deltas;  // every metric both results have
  std::string reason;               // why not, "" when it passes
};

// Default tolerance of the gate: a metric may be this much worse (absolute).
inline constexpr double kDefaultEvalTolerance = 0.02;

// A candidate fails when any metric that both results hold is worse than
// the active one's by more than `tolerance`, or when an evaluation that ran
// for the active configuration failed (or is missing) for the candidate.
GateVerdict compare_suites(const SuiteResult& active, const SuiteResult& candidate, double tolerance);

// The gate for `ragd models activate NAME`: passes when no suite result of
// the active configuration is stored (no gate configured); otherwise the
// candidate needs a stored result (`ragd eval suite --candidate NAME`) that
// compare_suites() passes.
Result<GateVerdict> activation_gate(const Store& store, const std::string& model_name, double tolerance);

struct GatedActivation {
  ModelEntry entry;
  GateVerdict verdict;
  bool forced = false;  // activated although the verdict failed
};

// `ragd models activate NAME [--force]` and its HTTP route: the gate
// (activation_gate), then `apply` (a running server loads the model or
// starts the reindex), then activate_model(). A failing verdict is
// kFailedPrecondition naming the metric, unless `force`; a forced
// activation of a failing candidate is appended to `audit` (task
// "model_activation", outcome "forced", the verdict in finish_reason) before
// anything is applied, and fails when it cannot be (audit may be null only
// when not forcing). When `apply` fails, its error is returned and the
// registry is left as it was, so it never names a model that did not load.
Result<GatedActivation> activate_gated(Store& store, const std::string& name, double tolerance, bool force,
                                       AuditLog* audit, const std::string& caller,
                                       const std::function<Status(const ModelEntry&)>& apply = {});

// The gate for `ragd triage activate FIELD VERSION` and POST
// /v1/triage/activate. Passes when no suite result is stored at all (no
// suite in use). Otherwise the version needs the two results of `ragd eval
// suite --candidate-triage FIELD@VERSION` (candidate and baseline, measured
// in one run), and it fails when the baseline measured another version than
// the one serving now, when either evaluation failed, when nothing was
// compared, or when a metric is worse than the baseline's beyond
// `tolerance` (compare_suites).
Result<GateVerdict> triage_activation_gate(const Store& store, const std::string& field, const std::string& version,
                                           double tolerance);

struct GatedTriageActivation {
  std::string field, version;
  std::string previous;  // the version that served before, "" when none
  GateVerdict verdict;
  bool forced = false;
};

// The gate (triage_activation_gate), then triage::activate(). A failing
// verdict is kFailedPrecondition naming the metric, unless `force`; a forced
// activation is first appended to `audit` (task "triage_activation",
// outcome "forced", query "activate triage FIELD VERSION", the verdict in
// finish_reason), and fails when it cannot be. kNotFound when the version is
// not stored, kInvalidArgument for a malformed name, and the load error when
// its weights do not load (checked before anything is written). The caller
// reloads what serves (TriageRetrainer::change_models).
Result<GatedTriageActivation> activate_triage_gated(Store& store, const std::string& field,
                                                    const std::string& version, double tolerance, bool force,
                                                    AuditLog* audit, const std::string& caller);

// One suite run of `ragd eval suite` and of the server's schedule: the
// active configuration (the registry's active LLM, else the extractive
// answerer) or a candidate: a registered model (an LLM answers instead of
// the active one; an encoder builds the retrieval evaluations' stores, while
// answers and triage run on the data store as it is indexed now) and/or a
// prompt-template folder (the LLM answers with it). The result is
// stored (store_suite_result) before it is returned.
struct SuiteRun {
  // "" = the active configuration; else a registered model's name.
  std::string candidate;
  // A stored triage version (`ragd triage train --no-activate`) of a field:
  // a candidate of its own. Only the field's triage evaluations run (there
  // must be one), twice: with the serving version's recipe (stored as
  // triage_baseline_label()) and with the candidate's (returned, stored as
  // triage_candidate_label()). It cannot be combined with `candidate` or
  // `candidate_prompts`. "" = none.
  std::string candidate_triage_field, candidate_triage_version;
  // A prompt-template folder (PromptLibrary::load) evaluated in place of
  // llm.prompts: a candidate of its own, labelled
  // "candidate/prompts@<answer template version>" (or, with `candidate`,
  // "candidate/<name>+prompts@<version>"). It needs an LLM: the candidate,
  // else the served one, else the registry's active one. "" = none.
  std::string candidate_prompts;
  // How an LLM is loaded (model, audit_log are set per run: no audit log,
  // so evaluation questions stay out of the answer audit trail).
  LlmPathOptions llm;
  // The LLM the server answers with (the active configuration; its
  // registry name is found by sha256); null, or serving no model yet = load
  // the registry's active one. Used only without a candidate.
  const LiveLlm* loaded_llm = nullptr;
  std::string base_dir;
  std::string temp_dir;
};
Result<SuiteResult> run_and_store_suite(ServiceContext& ctx, const std::vector<EvalSpec>& specs, const SuiteRun& run);

}  // namespace ragd::govern
