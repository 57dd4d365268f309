#include "api/cli/serve_jobs.h"

#include <filesystem>
#include <tuple>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cluster/node.h"
#include "ragd/clock.h"

namespace ragd::cli {

void ServeJobs::start() {
  evals->start();
  retention->start();
}

void ServeJobs::stop() {
  evals->stop();
  retention->stop();
}

namespace {

// One retention pass over the default collection and every other one, each
// with the rules that apply to it (on a cluster node, not the shard
// replicas: they follow their streams). A collection is opened only when a
// rule applies to it, and held only while it is examined. Returns "" or the
// errors, one per collection that failed; the others are still examined.
std::string run_retention(ServeJobs& j, ServiceContext& default_ctx, Collections& collections,
                          bool skip_shard_collections) {
  if (j.retention_rules.empty()) return "no [[retention]] tables in the config file";
  const int64_t now = unix_seconds();
  std::vector<std::string> names{"default"};
  for (std::string& name : collections.names()) {
    if (skip_shard_collections && cluster::is_shard_collection(name)) continue;
    names.push_back(std::move(name));
  }
  size_t examined = 0, deleted = 0, visited = 0;
  std::string errors;
  auto failed = [&errors](const std::string& name, const Status& s) {
    const std::string error = "collection '" + name + "': " + s.to_string();
    spdlog::warn("retention: {}", error);
    errors += (errors.empty() ? "" : "; ") + error;
  };
  for (const std::string& name : names) {
    const std::vector<govern::RetentionRule> rules = govern::rules_for_collection(j.retention_rules, name);
    if (rules.empty()) continue;
    std::shared_ptr<ServiceContext> c;
    if (name == "default") {
      c = unowned_service(default_ctx);
    } else {
      auto got = collections.get(name);
      if (!got.is_ok()) {
        if (got.status().code() != StatusCode::kNotFound) failed(name, got.status());  // else deleted meanwhile
        continue;
      }
      c = std::move(got).value();
    }
    auto r = govern::apply_retention(c->store(), rules, now, /*dry_run=*/false);
    if (!r.is_ok()) {
      failed(name, r.status());
      continue;
    }
    ++visited;
    if (!r->deleted.empty()) c->retriever().clear_chunk_cache();
    examined += r->examined;
    deleted += r->deleted.size();
    j.retention_deleted += r->deleted.size();
  }
  spdlog::info("retention: {} document(s) examined in {} collection(s), {} deleted", examined, visited, deleted);
  return errors;
}

}  // namespace

Result<std::unique_ptr<ServeJobs>> make_serve_jobs(ServiceContext& ctx, Collections& collections,
                                                   const ServeJobsOptions& o, api::Registry& registry) {
  auto jobs = std::make_unique<ServeJobs>();
  if (!o.config_file.empty()) {
    RAGD_ASSIGN_OR_RETURN(jobs->eval_specs, govern::read_eval_specs(o.config_file));
    RAGD_ASSIGN_OR_RETURN(jobs->retention_rules, govern::read_retention_rules(o.config_file));
  }
  govern::SuiteRun suite = o.suite;
  if (!o.config_file.empty()) suite.base_dir = std::filesystem::path(o.config_file).parent_path().string();
  // The stored suite results change only when a suite run stores one: the
  // gauges are set at start and after each run, not read at every scrape.
  auto& metric = registry.gauge("ragd_eval_metric",
                                "The stored evaluation suite results, by configuration (active, candidate/NAME), "
                                "evaluation and metric.",
                                {"label", "eval", "metric"});
  auto& failed = registry.gauge("ragd_eval_failed", "1 when the evaluation failed to run in the stored result.",
                                {"label", "eval"});
  auto& when = registry.gauge("ragd_eval_last_run_timestamp_seconds", "When the stored suite result was made.",
                              {"label"});
  auto publish = [c = &ctx, &metric, &failed, &when] {
    auto results = govern::list_suite_results(c->store());
    if (!results.is_ok()) {
      spdlog::warn("evaluation suite results: {}", results.status().to_string());
      return;
    }
    for (const auto& r : *results) {
      when.with({r.label}).set(static_cast<double>(r.time_ms) / 1000.0);
      for (const auto& e : r.evals) {
        failed.with({r.label, e.name}).set(e.error.empty() ? 0.0 : 1.0);
        for (const auto& [name, value] : e.metrics) metric.with({r.label, e.name, name}).set(value);
      }
    }
  };
  publish();
  ServeJobs* j = jobs.get();
  ServiceContext* c = &ctx;
  jobs->evals = std::make_unique<PeriodicJob>(o.eval_interval_seconds, [j, c, suite,
                                                                      publish](const std::string& request) {
    // "" (the schedule, or POST /v1/evals/run without a candidate), or the
    // route's {"candidate": NAME, "prompts": DIR} or {"triage": FIELD@VERSION}.
    govern::SuiteRun run = suite;
    if (!request.empty()) {
      const auto req = nlohmann::json::parse(request, nullptr, /*allow_exceptions=*/false);
      if (!req.is_object()) return std::string("evaluation suite: the run's request is not a JSON object");
      run.candidate = req.value("candidate", "");
      run.candidate_prompts = req.value("prompts", "");
      if (const std::string t = req.value("triage", ""); !t.empty()) {
        auto fv = govern::parse_triage_candidate(t);
        if (!fv.is_ok()) return fv.status().to_string();
        std::tie(run.candidate_triage_field, run.candidate_triage_version) = *fv;
      }
    }
    auto r = govern::run_and_store_suite(*c, j->eval_specs, run);
    if (!r.is_ok()) {
      spdlog::warn("evaluation suite{}{}{}: {}", run.candidate.empty() ? "" : " of candidate " + run.candidate,
                   run.candidate_prompts.empty() ? "" : " with prompts " + run.candidate_prompts,
                   run.candidate_triage_field.empty()
                       ? ""
                       : " of triage " + run.candidate_triage_field + "@" + run.candidate_triage_version,
                   r.status().to_string());
      return r.status().to_string();
    }
    spdlog::info("evaluation suite {}: {} evaluation(s) in {:.1f}s, stored", r->label, r->evals.size(), r->seconds);
    publish();
    return std::string();
  });
  jobs->retention = std::make_unique<PeriodicJob>(
      o.retention_interval_seconds,
      [j, c, cs = &collections, skip = o.skip_shard_collections](const std::string&) {
        return run_retention(*j, *c, *cs, skip);
      });

  auto& running = registry.gauge("ragd_job_running", "1 while the background job runs.", {"job"});
  auto& runs = registry.gauge("ragd_job_runs", "Finished runs of the background job since start.", {"job"});
  auto& failures = registry.gauge("ragd_job_failures", "Runs of the background job that failed since start.", {"job"});
  auto& last_end = registry.gauge("ragd_job_last_end_timestamp_seconds", "When the job's last run ended (0: never).",
                                  {"job"});
  auto& deleted = registry.gauge("ragd_retention_deleted_documents",
                                 "Documents deleted by the scheduled retention since start.");
  registry.add_collector([j, &running, &runs, &failures, &last_end, &deleted] {
    for (const auto& [name, job] : {std::pair<const char*, PeriodicJob*>{"evals", j->evals.get()},
                                    std::pair<const char*, PeriodicJob*>{"retention", j->retention.get()}}) {
      const JobStatus s = job->status();
      running.with({name}).set(s.running ? 1.0 : 0.0);
      runs.with({name}).set(static_cast<double>(s.runs));
      failures.with({name}).set(static_cast<double>(s.failures));
      last_end.with({name}).set(static_cast<double>(s.last_end_ms) / 1000.0);
    }
    deleted.get().set(static_cast<double>(j->retention_deleted.load()));
  });
  return jobs;
}

}  // namespace ragd::cli
