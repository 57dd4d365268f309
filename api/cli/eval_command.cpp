// `ragd eval --corpus C.jsonl --queries Q.jsonl --qrels R.tsv`: BEIR-style
// retrieval quality (nDCG@10, Recall@100). The metrics are retrieve/eval.h's.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/cli/cli.h"
#include "api/cli/config.h"
#include "ingest/pipeline.h"
#include "generate/extractive.h"
#include "govern/eval_suite.h"
#include "govern/feedback.h"
#include "retrieve/eval.h"
#include "triage/triage.h"
#include "service/collections.h"

namespace ragd::cli {
namespace {

struct EvalArgs {
  CommonOptions common;
  bool data_given = false;
  std::string corpus, queries, qrels;
  std::string mode = "hybrid";  // or "all"
  int threads = 1;
  std::string answers;       // --answers QUESTIONS.jsonl: answer quality on an existing store
  std::string split = "all";  // --split: only questions of this split
  bool verbose = false;
};

// Removes a temporary store when the command ends.
struct TempDir {
  std::filesystem::path path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

int run_eval(EvalArgs a) {
  std::vector<SearchMode> modes;
  if (a.mode == "all") {
    modes = {SearchMode::kLexical, SearchMode::kVector, SearchMode::kHybrid};
  } else {
    auto m = parse_search_mode(a.mode);
    if (!m) return fail(Status::invalid_argument("--mode: expected lexical, vector, hybrid or all, got '" + a.mode + "'"));
    modes = {*m};
  }
  auto corpus = load_beir_corpus(a.corpus);
  if (!corpus.is_ok()) return fail(corpus.status());
  auto queries = load_beir_queries(a.queries);
  if (!queries.is_ok()) return fail(queries.status());
  auto qrels = load_beir_qrels(a.qrels);
  if (!qrels.is_ok()) return fail(qrels.status());

  TempDir tmp;
  if (!a.data_given) {
    std::mt19937_64 rng(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                        static_cast<uint64_t>(getpid()));
    tmp.path = std::filesystem::temp_directory_path() /
               ("ragd-eval-" + std::to_string(getpid()) + "-" + std::to_string(rng() % 1000000));
    a.common.data = tmp.path.string();
  }
  bool lexical_only = modes.size() == 1 && modes[0] == SearchMode::kLexical;
  auto svc = open_service(a.common, lexical_only ? EmbedderLoad::kOptional : EmbedderLoad::kRequired);
  if (!svc.is_ok()) return fail(svc.status());
  ServiceContext& s = **svc;
  if (s.embedder() == nullptr) {
    return fail(Status::failed_precondition("eval ingests the corpus and needs the GloVe file (--glove)"));
  }

  auto start = std::chrono::steady_clock::now();
  Ingestor ingestor(s.store(), *s.embedder(), s.options().ingest);
  const bool tty = isatty(STDERR_FILENO) == 1;
  ingestor.on_progress = [&](const IngestStats& st) {
    if (tty && st.seen % 200 == 0) std::fprintf(stderr, "\ringesting %llu/%zu", static_cast<unsigned long long>(st.seen), corpus->size());
  };
  size_t n_docs = corpus->size();
  for (auto& d : *corpus) ingestor.add(std::move(d));
  ingestor.flush();
  double ingest_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (tty) std::fprintf(stderr, "\n");
  const IngestStats& st = ingestor.stats();
  std::printf("corpus=%zu ingested=%llu unchanged=%llu failed=%llu chunks=%llu ingest_time=%.1fs\n", n_docs,
              static_cast<unsigned long long>(st.ingested), static_cast<unsigned long long>(st.unchanged),
              static_cast<unsigned long long>(st.failed), static_cast<unsigned long long>(st.chunks), ingest_s);
  for (const auto& e : st.errors) std::fprintf(stderr, "  %s\n", e.c_str());

  for (SearchMode mode : modes) {
    EvalOptions eo;
    eo.mode = mode;
    eo.threads = a.threads;
    auto report = evaluate(s.retriever(), s.store(), *queries, *qrels, eo);
    if (!report.is_ok()) return fail(report.status());
    std::printf("%s\n", report->summary().c_str());
    std::fflush(stdout);
  }
  Status closed = s.close();
  if (!closed.is_ok()) return fail(closed);
  return 0;
}

std::string flat(std::string s) {
  for (char& c : s) if (c == '\n') c = ' ';
  if (s.size() > 400) s = s.substr(0, 400) + "...";
  return s;
}

// `ragd eval --answers Q.jsonl --data STORE`: every question through the
// answerer the server uses, judged by retrieve/eval.h's answer metrics.
int run_answer_eval(const EvalArgs& a) {
  auto questions = load_answer_questions(a.answers);
  if (!questions.is_ok()) return fail(questions.status());
  std::vector<AnswerQuestion> qs = questions_of_split(std::move(questions).value(), a.split);
  if (qs.empty()) return fail(Status::invalid_argument("--answers: no question of split '" + a.split + "'"));
  auto svc = open_service(a.common, EmbedderLoad::kOptional, /*read_only=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  ServiceContext& s = **svc;
  std::vector<AnswerOutcome> outcomes;
  for (const AnswerQuestion& q : qs) {
    SearchRequest r;
    r.query = q.question;  // k left at the request's default, as /v1/answer leaves it
    r.groups = q.groups;
    auto ans = s.answer(r);
    if (!ans.is_ok()) return fail(ans.status().with_context(q.id));
    SearchRequest rr = r;
    rr.k = kAnswerEvalRetrievalK;
    auto hits = s.search(rr);
    if (!hits.is_ok()) return fail(hits.status().with_context(q.id));
    const AnswerOutcome o = answer_outcome(*ans, *hits);
    if (a.verbose) {
      std::printf("%s [%s] %s -> %s (confidence %.3f, intent %s)\n", q.id.c_str(), q.category.c_str(),
                  q.question.c_str(), answer_verdict_name(judge_answer(q, o)), ans->confidence, ans->intent.c_str());
      auto ev = s.answerer().select_evidence(r, ans->hits);
      if (ev.is_ok())
        std::printf("    evidence: unit %.3f doc %.3f cos %.3f intent_specific %d role %s\n", ev->unit_coverage,
                    ev->doc_coverage, ev->cosine, ev->intent_specific ? 1 : 0, section_role_name(ev->role));
      if (judge_answer(q, o) != AnswerVerdict::kCorrect && judge_answer(q, o) != AnswerVerdict::kCorrectRefusal)
        std::printf("    %s\n", flat(ans->text).c_str());
      // A refusal's evidence as it would have been answered: is the
      // threshold or the selection at fault?
      if (ans->refused && ev.is_ok() && !ev->items.empty()) {
        Answer unrefused;
        compose_answer(*ev, unrefused);
        const AnswerVerdict would = judge_answer(q, answer_outcome(unrefused, *hits));
        std::printf("    unrefused: %s: %s\n", answer_verdict_name(would), flat(unrefused.text).c_str());
      }
    }
    outcomes.push_back(std::move(o));
  }
  AnswerEvalReport report = score_answers(qs, outcomes);
  std::printf("answers: %s split=%s questions=%zu\n%s", a.answers.c_str(), a.split.c_str(), qs.size(),
              report.to_string().c_str());
  Status closed = s.close();
  if (!closed.is_ok()) return fail(closed);
  return 0;
}

struct ExportFeedbackArgs {
  CommonOptions common;
  std::string collection;  // "" = the default collection
  std::string out;
  std::string split = "feedback";
};

// `ragd eval export-feedback --out FILE`: the judged answers of the store
// (POST /v1/answers/{id}/feedback) as an answers-eval file
// (govern/feedback.h says which judgements make which question).
int run_export_feedback(ExportFeedbackArgs a) {
  if (a.out.empty()) return fail(Status::invalid_argument("export-feedback needs --out FILE"));
  CommonOptions common = a.common;
  if (!a.collection.empty()) {
    if (Status s = Collections::check_name(a.collection); !s.is_ok()) return fail(s);
    common.data = Collections::dir_of(a.common.data, a.collection).string();
    if (!std::filesystem::exists(common.data)) {
      return fail(Status::not_found("no collection '" + a.collection + "' in " + a.common.data));
    }
  }
  auto svc = open_service(common, EmbedderLoad::kNone, /*read_only=*/true, /*bind_encoder=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  size_t malformed = 0;
  auto all = govern::list_feedback((*svc)->store(), &malformed);
  if (!all.is_ok()) return fail(all.status());
  std::string text;
  size_t written = 0;
  for (const auto& f : *all) {
    if (auto line = govern::feedback_eval_line(f, a.split)) {
      text += *line + "\n";
      ++written;
    }
  }
  FILE* fp = std::fopen(a.out.c_str(), "wb");
  if (fp == nullptr) return fail(Status::io_error("cannot write " + a.out));
  const bool ok = std::fwrite(text.data(), 1, text.size(), fp) == text.size();
  if (std::fclose(fp) != 0 || !ok) return fail(Status::io_error("cannot write " + a.out));
  std::printf("feedback: %zu judged answers, %zu questions written to %s, %zu skipped (no correction to check "
              "against)%s\n",
              all->size(), written, a.out.c_str(), all->size() - written,
              malformed > 0 ? (", " + std::to_string(malformed) + " malformed records skipped").c_str() : "");
  return 0;
}

// Exit status of `ragd eval suite --candidate` when the candidate fails the
// gate (the results are still printed and stored), so a release script can
// stop on it; 1 stays "the suite could not run".
constexpr int kGateFailedExit = 3;

struct SuiteArgs {
  CommonOptions common;
  std::string candidate;  // --candidate NAME: a registered model beside the active configuration
  std::string candidate_prompts;  // --candidate-prompts DIR: prompt templates beside the active ones
  std::string candidate_triage;  // --candidate-triage FIELD@VERSION: a stored triage version
  double tolerance = govern::kDefaultEvalTolerance;
  bool json = false;
  std::string prompts;
  int llm_threads = 0, llm_ctx = 0, max_tokens = 256;
};

void print_suite(const govern::SuiteResult& r) {
  const govern::EvalVersions& v = r.versions;
  std::printf("%s: answerer=%s model=%s sha256=%s encoder=%s prompt=%s triage=%s store_sequence=%llu (%.1fs)\n",
              r.label.c_str(), v.answerer.c_str(), v.model_name.empty() ? "-" : v.model_name.c_str(),
              v.model_sha256.empty() ? "-" : v.model_sha256.substr(0, 12).c_str(), v.encoder.c_str(),
              v.prompt_version.empty() ? "-" : v.prompt_version.c_str(), v.triage.empty() ? "-" : v.triage.c_str(),
              static_cast<unsigned long long>(v.store_sequence), r.seconds);
  for (const auto& e : r.evals) {
    if (!e.error.empty()) {
      std::printf("  %-20s %-10s error: %s\n", e.name.c_str(), govern::eval_kind_name(e.kind), e.error.c_str());
      continue;
    }
    for (const auto& [metric, value] : e.metrics)
      std::printf("  %-20s %-10s %-20s %.4f\n", e.name.c_str(), govern::eval_kind_name(e.kind), metric.c_str(), value);
  }
}

// `ragd eval suite [--candidate NAME] [--candidate-prompts DIR]`: the [[eval]] tables of the config
// file against the active configuration (and a candidate beside it), the
// results stored with their versions (govern/eval_suite.h).
int run_suite(const SuiteArgs& a) {
  const std::string& file = effective_config_file();
  if (file.empty()) return fail(Status::invalid_argument("eval suite needs a config file with [[eval]] tables (--config)"));
  auto specs = govern::read_eval_specs(file);
  if (!specs.is_ok()) return fail(specs.status());
  auto svc = open_service(a.common, EmbedderLoad::kOptional, /*read_only=*/false);
  if (!svc.is_ok()) return fail(svc.status());
  govern::SuiteRun run;
  run.base_dir = std::filesystem::path(file).parent_path().string();
  run.llm.prompts = a.prompts;
  run.llm.answerer.n_threads = a.llm_threads;
  run.llm.answerer.n_ctx = a.llm_ctx;
  run.llm.answerer.max_tokens = a.max_tokens;
  std::string triage_field, triage_version;
  if (!a.candidate_triage.empty()) {
    auto fv = govern::parse_triage_candidate(a.candidate_triage);
    if (!fv.is_ok()) return fail(fv.status());
    std::tie(triage_field, triage_version) = *fv;
    if (!a.candidate.empty() || !a.candidate_prompts.empty()) {
      return fail(Status::invalid_argument(
          "--candidate-triage is evaluated on its own: leave out --candidate and --candidate-prompts"));
    }
    auto stored = triage::version_manifest((*svc)->store(), triage_field, triage_version);
    if (!stored.is_ok()) return fail(stored.status().with_context("--candidate-triage (ragd triage list)"));
    const bool measured = std::any_of(specs->begin(), specs->end(), [&](const govern::EvalSpec& s) {
      return s.kind == govern::EvalKind::kTriage && s.field == triage_field;
    });
    if (!measured) {
      return fail(Status::invalid_argument("no [[eval]] of kind triage measures field '" + triage_field + "' in " +
                                           file + ": add one (kind = \"triage\", field = \"" + triage_field + "\")"));
    }
  }
  // A triage candidate's run measures the serving version too (its
  // baseline), which is the side printed as active; the rest of the
  // active suite says nothing about it and is not run again.
  Result<govern::SuiteResult> active = triage_field.empty() ? govern::run_and_store_suite(**svc, *specs, run)
                                                            : Result<govern::SuiteResult>(govern::SuiteResult{});
  if (!active.is_ok()) return fail(active.status());
  std::optional<govern::SuiteResult> cand;
  if (!a.candidate.empty() || !a.candidate_prompts.empty() || !triage_field.empty()) {
    run.candidate = a.candidate;
    run.candidate_prompts = a.candidate_prompts;
    run.candidate_triage_field = triage_field;
    run.candidate_triage_version = triage_version;
    auto c = govern::run_and_store_suite(**svc, *specs, run);
    if (!c.is_ok()) return fail(c.status());
    cand = std::move(c).value();
  }
  std::optional<govern::GateVerdict> verdict;
  if (cand && !triage_field.empty()) {
    auto base = govern::load_suite_result((*svc)->store(), govern::triage_baseline_label(triage_field, triage_version));
    if (!base.is_ok() || !base->has_value()) {
      return fail(base.is_ok() ? Status::internal("the triage candidate's baseline was not stored") : base.status());
    }
    *active = std::move(**base);
    // The gate `ragd triage activate` applies: the field's triage evaluations.
    auto v = govern::triage_activation_gate((*svc)->store(), triage_field, triage_version, a.tolerance);
    if (!v.is_ok()) return fail(v.status());
    verdict = std::move(v).value();
  }
  if (cand && !verdict) verdict = govern::compare_suites(*active, *cand, a.tolerance);
  if (a.json) {
    nlohmann::json out{{"active", nlohmann::json::parse(govern::suite_result_to_json(*active))}};
    if (cand) {
      const govern::GateVerdict& v = *verdict;
      out["candidate"] = nlohmann::json::parse(govern::suite_result_to_json(*cand));
      nlohmann::json deltas = nlohmann::json::array();
      for (const auto& d : v.deltas)
        deltas.push_back({{"eval", d.eval}, {"metric", d.metric}, {"active", d.active}, {"candidate", d.candidate},
                          {"delta", d.delta}, {"worse", d.worse}});
      out["deltas"] = std::move(deltas);
      out["pass"] = v.pass;
      out["reason"] = v.reason;
      out["tolerance"] = a.tolerance;
    }
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    print_suite(*active);
    if (cand) {
      print_suite(*cand);
      const govern::GateVerdict& v = *verdict;
      std::printf("%-20s %-20s %10s %10s %10s\n", "eval", "metric", "active", "candidate", "delta");
      for (const auto& d : v.deltas)
        std::printf("%-20s %-20s %10.4f %10.4f %+10.4f%s\n", d.eval.c_str(), d.metric.c_str(), d.active, d.candidate,
                    d.delta, d.worse ? "  WORSE" : "");
      std::printf("gate (tolerance %.4f): %s%s\n", a.tolerance, v.pass ? "pass" : "fail: ", v.reason.c_str());
    }
  }
  Status closed = (*svc)->close();
  if (!closed.is_ok()) return fail(closed);
  return verdict && !verdict->pass ? kGateFailedExit : 0;
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "retrieval quality on BEIR-format data (nDCG@10, Recall@100), or answer quality (--answers)");
  CLI::Option* data = cmd->add_option("--data", a->common.data, "store to use (default: a temporary one)");
  cmd->add_option("--glove", a->common.glove, "GloVe binary file");
  cmd->add_option("--corpus", a->corpus, "corpus.jsonl");
  cmd->add_option("--queries", a->queries, "queries.jsonl");
  cmd->add_option("--qrels", a->qrels, "qrels .tsv");
  cmd->add_option("--answers", a->answers,
                  "questions .jsonl (question, answerable, key_facts, gold_doc_ids, category, split): answer "
                  "quality of the store in --data");
  cmd->add_option("--split", a->split, "with --answers: only this split (tune, test) or all")->capture_default_str();
  cmd->add_flag("--verbose", a->verbose, "with --answers: one line per question, the answer of each miss");
  cmd->add_option("--mode", a->mode, "lexical, vector, hybrid or all")->capture_default_str();
  cmd->add_option("--threads", a->threads, "query threads")->capture_default_str();
  auto fb = std::make_shared<ExportFeedbackArgs>();
  CLI::App* export_fb = cmd->add_subcommand(
      "export-feedback", "write the questions judged through POST /v1/answers/{id}/feedback as an answers-eval file");
  add_common_options(*export_fb, fb->common);
  export_fb->add_option("--collection", fb->collection, "the collection's feedback instead of the default's");
  export_fb->add_option("--out", fb->out, "answers-eval .jsonl to write (for ragd eval --answers)")->required();
  export_fb->add_option("--split", fb->split, "the split the questions get")->capture_default_str();
  export_fb->callback([fb, &exit_code] { exit_code = run_export_feedback(*fb); });
  auto su = std::make_shared<SuiteArgs>();
  CLI::App* suite = cmd->add_subcommand(
      "suite", "run the config file's [[eval]] tables against the active configuration (and --candidate) and store "
               "the results with their versions: the release gate of `ragd models activate`. Exit status 3 when the "
               "candidate fails the gate");
  add_common_options(*suite, su->common);
  suite->add_option("--candidate", su->candidate, "a registered model (ragd models add) evaluated beside the active one");
  suite->add_option("--candidate-prompts", su->candidate_prompts,
                    "a folder of task prompt templates evaluated beside the active ones (--prompts), with the "
                    "--candidate LLM or else the active one");
  suite->add_option("--candidate-triage", su->candidate_triage,
                    "a stored triage model version FIELD@VERSION (ragd triage train --no-activate) evaluated beside "
                    "the active one on the config's triage evaluations of that field: the gate of `ragd triage "
                    "activate`");
  suite->add_option("--tolerance", su->tolerance, "with a candidate: how much worse a metric may be (absolute)")
      ->capture_default_str();
  suite->add_flag("--json", su->json, "as JSON");
  suite->add_option("--prompts", su->prompts, "task prompt templates of an LLM (default: the built-in ones)");
  suite->add_option("--llm-threads", su->llm_threads, "threads per generation (0 = all cores)")->capture_default_str();
  suite->add_option("--llm-ctx", su->llm_ctx, "context positions (0 = the model's, at most 4096)")->capture_default_str();
  suite->add_option("--max-tokens", su->max_tokens, "new tokens per answer")->capture_default_str();
  suite->callback([su, &exit_code] { exit_code = run_suite(*su); });
  cmd->callback([a, data, export_fb, suite, &exit_code] {
    if (export_fb->parsed() || suite->parsed()) return;
    a->data_given = data->count() > 0;
    if (!a->answers.empty()) {
      if (!a->data_given) {
        exit_code = fail(Status::invalid_argument("--answers needs --data: the store holding the ingested knowledge base"));
        return;
      }
      exit_code = run_answer_eval(*a);
      return;
    }
    if (a->corpus.empty() || a->queries.empty() || a->qrels.empty()) {
      exit_code = fail(Status::invalid_argument("eval needs --corpus, --queries and --qrels, or --answers"));
      return;
    }
    exit_code = run_eval(*a);
  });
}

}  // namespace ragd::cli
