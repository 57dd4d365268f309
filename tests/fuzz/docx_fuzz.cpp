// libFuzzer target: arbitrary bytes as a DOCX file through connectors/
// (fetch_buffer with the format forced). Seeds: tests/fuzz/docx_corpus/;
// run with scripts/fuzz.sh SECONDS docx.
#include "tests/fuzz/connector_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ragd::fuzz::fetch_one(data, size, ragd::SourceFormat::kDocx, "file.docx");
}
