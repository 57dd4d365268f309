// libFuzzer target for api/multipart: the input is a Content-Type line, a
// newline, then the body. Every part's name, filename, content type and data
// (a view into the body) is read. Seeds: tests/fuzz/multipart_corpus/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/multipart.h"

namespace {
volatile size_t g_sink;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view content_type = in.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  size_t sink = ragd::api::multipart_boundary(content_type).size();
  auto parts = ragd::api::parse_multipart(body, content_type);
  if (parts.is_ok()) {
    for (const auto& p : *parts) {
      sink += p.name.size() + p.filename.size() + p.content_type.size() + p.data.size();
      if (!p.data.empty()) sink += static_cast<unsigned char>(p.data.front()) + static_cast<unsigned char>(p.data.back());
    }
  } else {
    sink += parts.status().message().size();
  }
  g_sink = sink;
  return 0;
}
