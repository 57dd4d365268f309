// ragd_make_triage_tickets: writes a generated help-desk ticket history as
// CSV (triage/synthetic.h) for developing the triage models.
//
//   ragd_make_triage_tickets OUT.csv [--tickets N] [--groups G] [--seed S] [--noise X] [--signal X]
//   ragd ingest OUT.csv --csv-map "<the mapping it prints>"
//   ragd triage train --field assignment_group --field category --field priority
//
// The data is for development only: never tune the models to it.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/support/synthetic_tickets.h"

int main(int argc, char** argv) {
  using namespace ragd::triage;
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: %s OUT.csv [--tickets N] [--groups G] [--seed S] [--noise X] [--signal X]\n", argv[0]);
    return 2;
  }
  SyntheticOptions o;
  for (int i = 2; i < argc; ++i) {
    std::string f = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "error: %s needs a value\n", f.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (f == "--tickets") o.tickets = std::strtoul(v, nullptr, 10);
    else if (f == "--groups") o.groups = std::atoi(v);
    else if (f == "--seed") o.seed = std::strtoull(v, nullptr, 10);
    else if (f == "--noise") o.label_noise = std::atof(v);
    else if (f == "--signal") o.signal = std::atof(v);
    else {
      std::fprintf(stderr, "error: unknown argument %s\n", f.c_str());
      return 2;
    }
  }
  std::ofstream out(argv[1], std::ios::binary);
  out << tickets_csv(generate_tickets(o));
  out.close();
  if (!out) {
    std::fprintf(stderr, "error: cannot write %s\n", argv[1]);
    return 1;
  }
  std::printf("wrote %zu tickets to %s\ningest with: ragd ingest %s --csv-map \"%s\"\n", o.tickets, argv[1], argv[1],
              tickets_csv_map());
  return 0;
}
