// triage_bench: the triage models on a generated ticket set (triage/synthetic.h).
// Prints the held-out table (majority, TF-IDF kNN, linear, blend) per field, the
// time to evaluate and to train the serving model, and predict p50/p99.
//
//   triage_bench [--tickets N] [--groups G] [--seed S] [--field F]... [--noise X] [--signal X]
//
// The generated set is for development only: its figures say nothing about a
// real desk's.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_args.h"
#include "tests/support/synthetic_tickets.h"
#include "triage_table.h"

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
  for (const auto& field : fields) bench::print_triage_table(synthetic_examples(tickets, field), field);
  return 0;
}
