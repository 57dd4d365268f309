// `ragd triage train|eval|list`: triage models learned from the tickets in
// the store (triage/README.md).
//   ragd triage train [--field F]... [--force]   evaluate, store a version, activate if not worse
//                                                (--force past a worse verdict is audited)
//   ragd triage eval  [--field F]...             the held-out table, nothing stored
//   ragd triage list  [--field F]                stored versions and which one serves
//   ragd triage train --no-activate              store a candidate version, serve the old one
//   ragd triage activate FIELD VERSION [--force] serve a stored version, gated by the
//                                                evaluation suite (`ragd eval suite
//                                                --candidate-triage FIELD@VERSION`)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "api/cli/cli.h"
#include "govern/eval_suite.h"
#include "service/triage_retrainer.h"
#include "triage/trainer.h"
#include "triage/triage.h"

namespace ragd::cli {
namespace {

struct TriageArgs {
  CommonOptions common;
  std::vector<std::string> fields;
  double target_precision = 0.9;
  bool force = false;
  double tolerance = 0;   // train: how much worse (absolute) the new model's held-out metrics may be
  std::string audit_log;  // train: where a forced activation is recorded; "" = <data>/audit.jsonl
  bool first_comment = false;
  bool no_activate = false;  // train: store the new version as a candidate only
  // activate: the stored version, and how much worse than the active
  // configuration its suite result may be.
  std::string field, version;
  double gate_tolerance = govern::kDefaultEvalTolerance;
};

std::string day(int64_t t) {
  if (t <= 0) return "?";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

triage::TrainOptions train_options(const TriageArgs& a, const std::string& field) {
  triage::TrainOptions o;
  o.field = field;
  o.target_precision = a.target_precision;
  o.force = a.force;
  o.activation_tolerance = a.tolerance;
  o.first_comment = a.first_comment;
  o.activate = !a.no_activate;
  return o;
}

void print_table(const triage::Evaluation& ev) {
  std::printf("field %s: %zu tickets (%s .. %s), %zu values; time-ordered split fit %zu / validation %zu / test %zu"
              " (%zu open skipped, %zu labels from feedback)\n",
              ev.field.c_str(), ev.examples, day(ev.data.oldest).c_str(), day(ev.data.newest).c_str(), ev.classes,
              ev.fit, ev.validation, ev.test, ev.data.skipped_open, ev.data.feedback_applied);
  std::printf("  %-9s %8s %8s %9s %9s %9s  %s\n", "model", "accuracy", "macro-F1", "threshold", "precision",
              "coverage", "settings");
  for (const auto& f : ev.families) {
    std::printf("  %-9s %8.3f %8.3f %9.3f %9.3f %9.3f  %s%s\n", f.family.c_str(), f.test.accuracy, f.test.macro_f1,
                f.test.threshold, f.test.precision, f.test.coverage, f.params.c_str(),
                f.family == ev.chosen ? "  <- chosen" : "");
  }
  std::printf("  (held-out = newest %zu tickets; threshold = smallest confidence with precision >= target on "
              "validation; %.1f s)\n",
              ev.test, ev.seconds);
}

int run_train(const TriageArgs& a) {
  if (a.force && a.no_activate) {
    return fail(Status::invalid_argument("--force activates a worse version; --no-activate activates none: choose one"));
  }
  auto svc = open_service(a.common, EmbedderLoad::kNone);
  if (!svc.is_ok()) return fail(svc.status());
  auto opened = audit_log_if_forced(a.force, a.common, a.audit_log);
  if (!opened.is_ok()) return fail(opened.status());
  std::unique_ptr<AuditLog> audit = std::move(opened).value();
  int code = 0;
  for (const auto& field : a.fields) {
    triage::TrainOptions o = train_options(a, field);
    if (audit) o.before_forced_activation = audit_forced_triage(*audit, cli_caller());
    auto rep = triage::train_field((*svc)->store(), o);
    if (!rep.is_ok()) {
      code = fail(rep.status().with_context("triage train " + field));
      continue;
    }
    print_table(rep->eval);
    std::printf("  stored %s %s (served model refit on all %zu tickets in %.1f s total); %s\n", field.c_str(),
                rep->version.c_str(), rep->eval.examples, rep->seconds, rep->decision.c_str());
  }
  Status closed = (*svc)->close();
  if (!closed.is_ok()) return fail(closed.with_context("closing the store"));
  return code;
}

int run_eval(const TriageArgs& a) {
  auto svc = open_service(a.common, EmbedderLoad::kNone, /*read_only=*/true);
  if (!svc.is_ok()) return fail(svc.status());
  int code = 0;
  for (const auto& field : a.fields) {
    auto ev = triage::evaluate_field((*svc)->store(), train_options(a, field));
    if (!ev.is_ok()) {
      code = fail(ev.status().with_context("triage eval " + field));
      continue;
    }
    print_table(*ev);
    auto active = triage::active_version((*svc)->store(), field);
    if (active.is_ok()) {
      std::printf("  serving: %s\n", active->empty() ? "none (run `ragd triage train`)" : active->c_str());
    }
  }
  return code;
}

int run_list(const TriageArgs& a) {
  auto svc = open_service(a.common, EmbedderLoad::kNone, /*read_only=*/true);
  if (!svc.is_ok()) return fail(svc.status());
  std::vector<triage::StoredVersion> all;
  if (a.fields.empty()) {
    auto v = triage::list_versions((*svc)->store());
    if (!v.is_ok()) return fail(v.status());
    all = std::move(*v);
  }
  for (const auto& f : a.fields) {
    auto v = triage::list_versions((*svc)->store(), f);
    if (!v.is_ok()) return fail(v.status());
    all.insert(all.end(), v->begin(), v->end());
  }
  if (all.empty()) std::printf("no triage models (run `ragd triage train`)\n");
  for (const auto& v : all) {
    auto j = nlohmann::json::parse(v.manifest_json, nullptr, false);
    if (!j.is_object()) j = nlohmann::json::object();
    const auto m = j.value("metrics", nlohmann::json::object());
    const auto w = j.value("window", nlohmann::json::object());
    std::printf("%-20s %s %-7s %-8s acc %.3f  F1 %.3f  coverage %.3f @ %.3f  %s tickets %s..%s  trained %s\n",
                v.field.c_str(), v.version.c_str(), v.active ? "ACTIVE" : "-", j.value("family", "?").c_str(),
                m.value("accuracy", 0.0), m.value("macro_f1", 0.0), m.value("coverage", 0.0),
                m.value("threshold", 0.0), std::to_string(w.value("examples", 0)).c_str(),
                day(w.value("oldest", int64_t{0})).c_str(), day(w.value("newest", int64_t{0})).c_str(),
                day(j.value("trained_at", int64_t{0})).c_str());
  }
  return 0;
}

int run_activate(const TriageArgs& a) {
  auto svc = open_service(a.common, EmbedderLoad::kNone);
  if (!svc.is_ok()) return fail(svc.status());
  auto opened = audit_log_if_forced(a.force, a.common, a.audit_log);
  if (!opened.is_ok()) return fail(opened.status());
  std::unique_ptr<AuditLog> audit = std::move(opened).value();
  const std::string& field = a.field;
  auto g = govern::activate_triage_gated((*svc)->store(), field, a.version, a.gate_tolerance, a.force, audit.get(),
                                         cli_caller());
  if (!g.is_ok()) return fail(g.status());
  if (g->forced) std::printf("forced past the evaluation gate (%s); recorded in the audit log\n", g->verdict.reason.c_str());
  for (const auto& d : g->verdict.deltas)
    std::printf("  %-20s %-12s active %.4f  candidate %.4f  %+.4f%s\n", d.eval.c_str(), d.metric.c_str(), d.active,
                d.candidate, d.delta, d.worse ? "  WORSE" : "");
  std::printf("triage %s: %s serves (was %s); a running server reloads on POST /v1/triage/activate\n", field.c_str(),
              a.version.c_str(), g->previous.empty() ? "none" : g->previous.c_str());
  Status closed = (*svc)->close();
  if (!closed.is_ok()) return fail(closed.with_context("closing the store"));
  return 0;
}

}  // namespace

void add_triage_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<TriageArgs>();
  CLI::App* cmd = app.add_subcommand("triage", "triage models learned from the ticket history (train, eval, list)");
  cmd->require_subcommand(1);
  auto add = [&](const char* name, const char* help, int (*run)(const TriageArgs&), bool default_field) {
    CLI::App* sub = cmd->add_subcommand(name, help);
    add_common_options(*sub, args->common);
    sub->add_option("--field", args->fields, "ticket metadata field to predict (repeatable)"
                                              + std::string(default_field ? "; default assignment_group" : ""));
    if (default_field) {
      sub->add_option("--target-precision", args->target_precision,
                      "precision the served confidence threshold must reach on validation")
          ->capture_default_str()
          ->check(CLI::Range(0.0, 1.0));
      sub->add_flag("--first-comment", args->first_comment, "add the first comment to the ticket text");
    }
    sub->callback([args, run, default_field, &exit_code] {
      if (default_field && args->fields.empty()) args->fields = {"assignment_group"};
      exit_code = run(*args);
    });
    return sub;
  };
  CLI::App* train = add("train", "train, evaluate on the newest 20%, store and activate if not worse", run_train, true);
  train->add_flag("--force", args->force, "activate even when the held-out metrics are worse (audited)");
  train->add_option("--tolerance", args->tolerance,
                    "how much worse (absolute) the new model's held-out accuracy and macro-F1 may be than the "
                    "active one's and still be activated")
      ->capture_default_str();
  train->add_option("--audit-log", args->audit_log, "where a forced activation is recorded (default: <data>/audit.jsonl)");
  train->add_flag("--no-activate", args->no_activate,
                  "store the new version as a candidate without serving it (ragd eval suite --candidate-triage, "
                  "ragd triage activate)");
  CLI::App* activate = cmd->add_subcommand(
      "activate", "serve a stored version, if the evaluation suite's result for it (ragd eval suite "
                  "--candidate-triage FIELD@VERSION) is not worse than the active configuration's");
  add_common_options(*activate, args->common);
  activate->add_option("field", args->field, "the ticket field")->required();
  activate->add_option("version", args->version, "the stored version (ragd triage list)")->required();
  activate->add_flag("--force", args->force, "activate even when the gate fails (audited)");
  activate->add_option("--tolerance", args->gate_tolerance, "how much worse (absolute) a metric may be")
      ->capture_default_str();
  activate->add_option("--audit-log", args->audit_log, "where a forced activation is recorded (default: <data>/audit.jsonl)");
  activate->callback([args, &exit_code] { exit_code = run_activate(*args); });
  add("eval", "held-out metrics beside the majority and TF-IDF kNN baselines (nothing stored)", run_eval, true);
  add("list", "stored model versions and which one serves", run_list, false);
}

}  // namespace ragd::cli
