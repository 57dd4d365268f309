// libFuzzer target: arbitrary bytes as a PDF file through connectors/
// (fetch_buffer with the format forced). Seeds: tests/fuzz/pdf_corpus/;
// run with scripts/fuzz.sh SECONDS pdf.
#include "tests/fuzz/connector_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ragd::fuzz::fetch_one(data, size, ragd::SourceFormat::kPdf, "file.pdf");
}
