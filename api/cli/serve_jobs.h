// The governance jobs of `ragd serve` (service/periodic_job.h): the
// evaluation suite (govern/eval_suite.h: --eval-interval and POST
// /v1/evals/run) and retention (govern/retention.h: --retention-interval and
// POST /v1/retention/run), with their gauges in /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/metrics.h"
#include "govern/eval_suite.h"
#include "govern/retention.h"
#include "service/collections.h"
#include "service/periodic_job.h"
#include "service/service.h"

namespace ragd::cli {

struct ServeJobsOptions {
  // The config file holding [[eval]] and [[retention]] tables; "" = none.
  std::string config_file;
  // Seconds between scheduled runs; 0 = only on request. Default: 0 (off).
  int64_t eval_interval_seconds = 0;
  int64_t retention_interval_seconds = 0;
  // A cluster node: retention leaves the shard replicas ("shard-<s>"
  // collections) alone; they follow their streams. Default: false.
  bool skip_shard_collections = false;
  // How the suite loads a candidate LLM, and the server's loaded one.
  govern::SuiteRun suite;
};

struct ServeJobs {
  std::vector<govern::EvalSpec> eval_specs;
  std::vector<govern::RetentionRule> retention_rules;
  std::unique_ptr<PeriodicJob> evals;
  std::unique_ptr<PeriodicJob> retention;
  std::atomic<uint64_t> retention_deleted{0};  // documents deleted by retention runs

  void start();
  void stop();  // a running suite or retention pass finishes first
};

// Reads the tables (errors name file:line), makes both jobs and registers
// their metrics. Retention runs over `ctx` (the default collection) and
// every collection of `collections`. `ctx`, `collections` and `registry`
// must outlive the jobs.
Result<std::unique_ptr<ServeJobs>> make_serve_jobs(ServiceContext& ctx, Collections& collections,
                                                   const ServeJobsOptions& options, api::Registry& registry);

}  // namespace ragd::cli
