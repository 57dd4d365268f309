// libFuzzer target: arbitrary bytes as a ServiceNow file through connectors/
// (fetch_buffer with the format forced). Seeds: tests/fuzz/servicenow_corpus/;
// run with scripts/fuzz.sh SECONDS servicenow.
#include "tests/fuzz/connector_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ragd::fuzz::fetch_one(data, size, ragd::SourceFormat::kServiceNow, "export.json");
}
