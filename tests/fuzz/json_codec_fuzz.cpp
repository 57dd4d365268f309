// libFuzzer target for api/json_codec: request bodies through every parser
// the routes call, ISO 8601 times, and the hand-written search response
// encoder checked against nlohmann's dump(). An exception that escapes a
// parser is a finding too: the route would answer 500 with the library's
// text instead of a 400 naming the field. Seeds: tests/fuzz/json_codec_corpus/.
//
// The first input byte picks what the rest is:
//   0: a request body (search request, filters, documents);
//   1: a time string for parse_time();
//   2: the strings of a Hit, separated by NUL bytes: search_response_body()
//      must be valid JSON, with the same "hits" as hits_to_json() when the
//      strings are valid UTF-8. (With invalid UTF-8 the two differ today: the
//      hand-written encoder writes one U+FFFD per invalid byte, nlohmann one
//      per broken sequence, e.g. "\xe3\xa9 " gives two and one.)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/json_codec.h"

namespace {

using ragd::api::Json;
volatile size_t g_sink;

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

bool valid_utf8(const std::string& s) {
  try {
    (void)Json(s).dump();
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}

void request_body(std::string_view body) {
  auto j = ragd::api::parse_json_body(body);
  if (!j.is_ok()) return;
  size_t sink = 0;
  auto search = ragd::api::parse_search_request(*j);
  if (search.is_ok()) sink += search->query.size() + search->filters.fields.size();
  if (auto f = j->find("filters"); f != j->end()) {
    auto filters = ragd::api::parse_filters(*f);
    sink += filters.status().message().size();
  }
  auto one = ragd::api::parse_document(*j, "document");
  if (one.is_ok()) sink += dump(ragd::api::document_to_json(*one, {})).size();
  if (auto docs = j->find("documents"); docs != j->end() && docs->is_array()) {
    for (size_t i = 0; i < docs->size() && i < 16; ++i) {
      auto d = ragd::api::parse_document((*docs)[i], "documents[" + std::to_string(i) + "]");
      if (d.is_ok()) sink += dump(ragd::api::document_to_json(*d, {})).size();
      else sink += d.status().message().size();
    }
  }
  g_sink = sink;
}

void response_body(std::string_view rest) {
  std::string parts[8];
  size_t n = 0;
  for (char c : rest) {
    if (c == '\0' && n < 7) ++n;
    else parts[n] += c;
  }
  ragd::Hit h;
  h.doc_id = parts[0];
  h.chunk_id = parts[1];
  h.title = parts[2];
  h.text = parts[3];
  h.url = parts[4];
  h.section_path = {parts[5], parts[6]};
  h.metadata[parts[6]] = parts[7];
  h.score = static_cast<double>(rest.size()) / 7.0;
  const std::string body = ragd::api::search_response_body({h}, "hybrid", 1.5);
  Json parsed = Json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    std::fprintf(stderr, "search_response_body wrote invalid JSON: %s\n", body.c_str());
    std::abort();
  }
  for (const std::string& p : parts) {
    if (!valid_utf8(p)) return;
  }
  Json expected = Json::parse(dump(ragd::api::hits_to_json({h})));
  if (parsed["hits"] != expected) {
    std::fprintf(stderr, "search_response_body differs from hits_to_json:\n%s\n%s\n", body.c_str(),
                 expected.dump().c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: request_body(rest); break;
    case 1: g_sink = ragd::api::parse_time(rest).value_or(0); break;
    default: response_body(rest); break;
  }
  return 0;
}
