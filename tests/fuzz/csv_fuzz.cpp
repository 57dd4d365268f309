// libFuzzer target: arbitrary bytes as a CSV file through connectors/
// (fetch_buffer with the format forced). Seeds: tests/fuzz/csv_corpus/;
// run with scripts/fuzz.sh SECONDS csv.
#include "tests/fuzz/connector_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ragd::fuzz::fetch_one(data, size, ragd::SourceFormat::kCsv, "export.csv");
}
