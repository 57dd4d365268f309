// The held-out table of one triage field, shared by triage_bench (generated
// tickets) and triage_real_bench (Debian's package lists): evaluate and
// refit exactly as `ragd triage train` does (triage/trainer.h), then print
// every family's test figures side by side, the train times and the
// per-ticket predict latency.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <time.h>
#include <string>
#include <vector>

#include "bench_args.h"
#include "bench_stats.h"
#include "triage/trainer.h"
#include "triage/triage.h"

namespace ragd::bench {

// Prints the table of `field` over `examples` (in time order).
inline void print_triage_table(const std::vector<triage::LabeledTicket>& examples, const std::string& field) {
  using Clock = std::chrono::steady_clock;
  triage::TrainOptions to;
  to.field = field;
  auto t1 = Clock::now();
  std::clock_t c1 = std::clock();
  auto ev = triage::evaluate_examples(examples, to);
  double eval_cpu = static_cast<double>(std::clock() - c1) / CLOCKS_PER_SEC;
  if (!ev.is_ok()) die(ev.status());
  double eval_s = std::chrono::duration<double>(Clock::now() - t1).count();
  auto t2 = Clock::now();
  std::clock_t c2 = std::clock();
  auto model = triage::fit_serving_model(examples, *ev, to);
  double fit_cpu = static_cast<double>(std::clock() - c2) / CLOCKS_PER_SEC;
  if (!model.is_ok()) die(model.status());
  double fit_s = std::chrono::duration<double>(Clock::now() - t2).count();
  std::printf("\nfield %s: %zu examples, %zu classes; fit %zu / validation %zu / test %zu (time order)\n",
              field.c_str(), ev->examples, ev->classes, ev->fit, ev->validation, ev->test);
  std::printf("  %-9s %-64s %8s %8s %8s %9s %8s %8s %8s %9s\n", "family", "params", "accuracy", "macroF1",
              "thresh", "precision", "coverage", "cov@P.9", "ECE(val)", "ECE(test)");
  for (const auto& f : ev->families) {
    std::printf("  %-9s %-64s %8.3f %8.3f %8.3f %9.3f %8.3f %8.3f %8.3f %9.3f%s\n", f.family.c_str(),
                f.params.c_str(), f.test.accuracy, f.test.macro_f1, f.test.threshold, f.test.precision,
                f.test.coverage, f.test.coverage_at_target, f.calibration_error, f.test_calibration_error,
                f.family == ev->chosen ? "  <- chosen" : "");
  }
  std::printf("  (thresh, precision, coverage: the served threshold, chosen on validation; cov@P.9: coverage at the\n"
              "   lowest threshold reaching precision %.2f on the test slice itself, an oracle; ECE(val) is measured\n"
              "   where the confidence map was fitted, ECE(test) on tickets neither it nor the model saw)\n",
              to.target_precision);
  std::printf("  evaluation (tuning + refits) %.2f s wall / %.2f s CPU; serving model on all %zu examples %.2f s wall"
              " / %.2f s CPU; %zu bytes\n",
              eval_s, eval_cpu, examples.size(), fit_s, fit_cpu, (*model)->serialize().size());
  // Predict latency: one ticket at a time, as the assist route calls it;
  // also the thread's CPU time, since on a shared 2-core machine a wall p99
  // mostly measures waiting for a core.
  auto thread_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  std::vector<double> ms, cpu_ms;
  for (size_t i = 0; i < std::min<size_t>(2000, examples.size()); ++i) {
    auto a = Clock::now();
    const double c = thread_ms();
    auto p = (*model)->probabilities(examples[i].text);
    cpu_ms.push_back(thread_ms() - c);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
    if (p.empty()) die(Status::internal("no prediction"));
  }
  std::printf("  predict: p50 %.3f ms  p99 %.3f ms wall; thread CPU p50 %.3f ms  p99 %.3f ms; over %zu tickets\n",
              percentile(ms, 0.5), percentile(ms, 0.99), percentile(cpu_ms, 0.5), percentile(cpu_ms, 0.99),
              ms.size());
}

}  // namespace ragd::bench
