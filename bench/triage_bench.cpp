// triage_bench: the triage models on a generated ticket set (triage/synthetic.h).
// Prints the held-out table (majority, TF-IDF kNN, linear) per field, the
// time to evaluate and to train the serving model, and predict p50/p99.
//
//   triage_bench [--tickets N] [--groups G] [--seed S] [--field F]... [--noise X] [--signal X]
//
// The generated set is for development only: its figures say nothing about a
// real desk's.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "bench_args.h"
#include "bench_stats.h"
#include "tests/support/synthetic_tickets.h"
#include "triage/trainer.h"
#include "triage/triage.h"

using namespace ragd;
using namespace ragd::triage;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  SyntheticOptions so;
  so.tickets = 10000;
  std::vector<std::string> fields;
  bench::ArgReader args(argc, argv);
  while (args.next()) {
    if (args.flag() == "--tickets") so.tickets = std::stoul(args.value());
    else if (args.flag() == "--groups") so.groups = std::stoi(args.value());
    else if (args.flag() == "--seed") so.seed = std::stoull(args.value());
    else if (args.flag() == "--noise") so.label_noise = std::stod(args.value());
    else if (args.flag() == "--signal") so.signal = std::stod(args.value());
    else if (args.flag() == "--field") fields.push_back(args.value());
    else args.unknown();
  }
  if (fields.empty()) fields = {"assignment_group", "category", "priority"};
  auto t0 = Clock::now();
  auto tickets = generate_tickets(so);
  std::printf("generated %zu tickets (%d groups + catch-all, noise %.2f, seed %llu) in %.2f s\n", tickets.size(),
              so.groups, so.label_noise, static_cast<unsigned long long>(so.seed),
              std::chrono::duration<double>(Clock::now() - t0).count());
  for (const auto& field : fields) {
    auto examples = synthetic_examples(tickets, field);
    TrainOptions to;
    to.field = field;
    auto t1 = Clock::now();
    std::clock_t c1 = std::clock();
    auto ev = evaluate_examples(examples, to);
    double eval_cpu = static_cast<double>(std::clock() - c1) / CLOCKS_PER_SEC;
    if (!ev.is_ok()) bench::die(ev.status());
    double eval_s = std::chrono::duration<double>(Clock::now() - t1).count();
    auto t2 = Clock::now();
    std::clock_t c2 = std::clock();
    auto model = fit_serving_model(examples, *ev, to);
    double fit_cpu = static_cast<double>(std::clock() - c2) / CLOCKS_PER_SEC;
    if (!model.is_ok()) bench::die(model.status());
    double fit_s = std::chrono::duration<double>(Clock::now() - t2).count();
    std::printf("\nfield %s: %zu examples, %zu classes; fit %zu / validation %zu / test %zu (time order)\n",
                field.c_str(), ev->examples, ev->classes, ev->fit, ev->validation, ev->test);
    std::printf("  %-9s %-44s %8s %8s %8s %9s %8s %8s\n", "family", "params", "accuracy", "macroF1", "thresh",
                "precision", "coverage", "ECE(val)");
    for (const auto& f : ev->families) {
      std::printf("  %-9s %-44s %8.3f %8.3f %8.3f %9.3f %8.3f %8.3f%s\n", f.family.c_str(), f.params.c_str(),
                  f.test.accuracy, f.test.macro_f1, f.test.threshold, f.test.precision, f.test.coverage,
                  f.calibration_error, f.family == ev->chosen ? "  <- chosen" : "");
    }
    std::printf("  evaluation (tuning + refits) %.2f s wall / %.2f s CPU; serving model on all %zu examples %.2f s wall"
                " / %.2f s CPU; %zu bytes\n",
                eval_s, eval_cpu, examples.size(), fit_s, fit_cpu, (*model)->serialize().size());
    // Predict latency: one ticket at a time, as the assist route calls it.
    std::vector<double> ms;
    for (size_t i = 0; i < std::min<size_t>(2000, examples.size()); ++i) {
      auto a = Clock::now();
      auto p = (*model)->probabilities(examples[i].text);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
      if (p.empty()) bench::die(Status::internal("no prediction"));
    }
    std::printf("  predict: p50 %.3f ms  p99 %.3f ms over %zu tickets\n", bench::percentile(ms, 0.5),
                bench::percentile(ms, 0.99), ms.size());
  }
  return 0;
}
