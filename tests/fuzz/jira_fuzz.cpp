// libFuzzer target: arbitrary bytes as a Jira file through connectors/
// (fetch_buffer with the format forced). Seeds: tests/fuzz/jira_corpus/;
// run with scripts/fuzz.sh SECONDS jira.
#include "tests/fuzz/connector_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ragd::fuzz::fetch_one(data, size, ragd::SourceFormat::kJira, "export.json");
}
