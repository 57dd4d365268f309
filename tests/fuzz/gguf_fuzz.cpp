// libFuzzer target: parse arbitrary bytes as GGUF, then touch everything the
// reader exposes (metadata of every type, tensor data, the tokenizer loader),
// so that any out-of-bounds read shows up under AddressSanitizer.
#include <cstddef>
#include <cstdint>

#include "model/gguf.h"
#include "model/tokenizer.h"

namespace {
volatile uint64_t g_sink;  // keeps the reads from being optimised away
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = ragd::GgufFile::from_bytes(std::span<const uint8_t>(data, size), "fuzz");
  if (!r.is_ok()) return 0;
  const ragd::GgufFile& f = **r;
  uint64_t sink = 0;
  for (const ragd::GgufKv& kv : f.kvs()) {
    sink += kv.value.to_display_string().size();
    if (!kv.value.is_array()) continue;
    const ragd::GgufValue& v = kv.value;
    for (size_t i = 0; i < v.array_size() && i < 64; ++i) {
      switch (v.array_type()) {
        case ragd::GgufType::kString: sink += v.array_string(i).size(); break;
        case ragd::GgufType::kArray: sink += v.array_value(i).array_size(); break;
        default: sink += static_cast<uint64_t>(v.array_float(i) != 0.0); break;
      }
    }
  }
  for (const ragd::GgufTensorInfo& t : f.tensors()) {
    const uint8_t* p = f.data(t);
    if (t.n_bytes) sink += p[0] + p[t.n_bytes - 1];
  }
  auto tok = ragd::Tokenizer::from_gguf(f);
  if (tok.is_ok()) {
    auto ids = (*tok)->tokenize("Hello world! <s> 123 \xc3\xa9\xe4\xb8\xad", true, true);
    sink += (*tok)->decode(ids, true).size();
  }
  g_sink = sink;
  return 0;
}
