// Shared body of the connector fuzz targets: the bytes go through
// fetch_buffer() with the format forced, and every field of every document
// that comes out is read, so an out-of-bounds or uninitialised string shows
// up under AddressSanitizer. Errors are expected and ignored; a crash, a leak
// or a hang is the finding. With RAGD_FUZZ_STRICT=1 in the environment an
// internal error is a finding too: fetch_buffer turns an exception that
// escapes a parser into "parser failed: ...", which is not a clear error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "connectors/connector.h"

namespace ragd::fuzz {

inline volatile size_t g_sink;  // keeps the reads from being optimised away

inline size_t touch(const Document& d) {
  size_t n = d.id.size() + d.title.size() + d.kind.size() + d.source.size() + d.url.size() +
             d.text.size() + d.origin.size();
  for (const auto& [k, v] : d.metadata) n += k.size() + v.size();
  for (const auto& g : d.acl) n += g.size();
  for (const Block& b : d.blocks) {
    n += b.role.size() + b.text.size();
    for (const auto& s : b.section_path) n += s.size();
    if (!b.text.empty()) n += static_cast<unsigned char>(b.text.back());
  }
  if (!d.text.empty()) n += static_cast<unsigned char>(d.text.back());
  return n;
}

inline void check_strict(const Status& st) {
  static const bool strict = [] {
    const char* v = std::getenv("RAGD_FUZZ_STRICT");
    return v && *v == '1';
  }();
  if (strict && st.code() == StatusCode::kInternal) {
    std::fprintf(stderr, "internal error from a parser: %s\n", st.to_string().c_str());
    std::abort();
  }
}

inline int fetch_one(const uint8_t* data, size_t size, SourceFormat format, const std::string& filename) {
  FetchOptions options;
  options.format = format;
  size_t sink = 0;
  FetchSink s{[&](Document&& d) { sink += touch(d); },
              [&](const Status& st) {
                check_strict(st);
                sink += st.message().size();
              }};
  Status st = fetch_buffer(std::string_view(reinterpret_cast<const char*>(data), size), filename, options, s);
  sink += st.message().size();
  g_sink = sink;
  return 0;
}

}  // namespace ragd::fuzz
