#include "api/json_codec.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace ragd::api {
namespace {

Status type_error(const std::string& field, const char* expected, const Json& got) {
  return Status::invalid_argument("field '" + field + "': expected " + expected + ", got " +
                                  std::string(got.type_name()));
}

// Scalars a user may write for a metadata value: strings, numbers, booleans.
std::optional<std::string> scalar_to_string(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());  // before is_number_integer(), true for both
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return v.dump();
  return std::nullopt;
}

Status string_list(const Json& v, const std::string& field, std::vector<std::string>& out) {
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
    return Status::ok();
  }
  if (!v.is_array()) return type_error(field, "a string or an array of strings", v);
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return type_error(field + "[" + std::to_string(i) + "]", "a string", v[i]);
    out.push_back(v[i].get<std::string>());
  }
  return Status::ok();
}

Result<int64_t> time_field(const Json& v, const std::string& field) {
  // is_number_integer() is true for unsigned values too: test those first.
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX))
      return Status::invalid_argument("field '" + field + "': " + std::to_string(u) + " is out of range for unix seconds");
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    auto t = parse_time(v.get<std::string>());
    if (t) return *t;
    return Status::invalid_argument("field '" + field + "': '" + v.get<std::string>() +
                                    "' is not unix seconds or an ISO 8601 date/time");
  }
  return type_error(field, "unix seconds or an ISO 8601 string", v);
}

Status optional_string(const Json& j, const char* key, const std::string& where, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::ok();
  if (!it->is_string()) return type_error(where + "." + key, "a string", *it);
  out = it->get<std::string>();
  return Status::ok();
}

}  // namespace

Result<Json> parse_optional_json_body(std::string_view body) {
  if (body.empty()) return Json::object();
  return parse_json_body(body);
}

Result<Json> parse_json_body(std::string_view body) {
  if (body.empty()) return Status::invalid_argument("empty request body: expected a JSON object");
  Json j;
  try {
    j = Json::parse(body);
  } catch (const Json::parse_error& e) {
    return Status::invalid_argument("malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const Json::out_of_range&) {
    // "1e400": nlohmann throws out_of_range, not parse_error.
    return Status::invalid_argument("malformed JSON: a number is out of range (larger than a 64-bit float)");
  }
  if (!j.is_object()) return Status::invalid_argument("request body: expected a JSON object, got " +
                                                      std::string(j.type_name()));
  return j;
}

std::optional<int64_t> parse_time(std::string_view text) {
  std::string s(text);
  if (s.empty()) return std::nullopt;
  if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; }) && s.size() <= 12 &&
      s.size() != 8) {
    return std::stoll(s);
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &consumed) != 3 || consumed != 10) return std::nullopt;
  size_t pos = 10;
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    int c2 = 0;
    if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d%n", &h, &mi, &c2) != 2 || c2 != 5) return std::nullopt;
    pos += 1 + 5;
    if (pos < s.size() && s[pos] == ':') {
      int c3 = 0;
      if (std::sscanf(s.c_str() + pos + 1, "%2d%n", &sec, &c3) != 1 || c3 != 2) return std::nullopt;
      pos += 3;
    }
    if (pos < s.size() && s[pos] == '.') {  // fractional seconds: ignored
      ++pos;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) != 0) ++pos;
    }
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
      ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
      int oh = 0, om = 0;
      int c4 = 0;
      if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d%n", &oh, &om, &c4) == 2 && c4 == 5) {
        offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        pos += 6;
      } else if (std::sscanf(s.c_str() + pos + 1, "%2d%2d%n", &oh, &om, &c4) == 2 && c4 == 4) {
        offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        pos += 5;
      } else {
        return std::nullopt;
      }
    }
  }
  if (pos != s.size()) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm)) - offset;
}

Result<SearchFilters> parse_filters(const Json& j, const std::string& where) {
  SearchFilters f;
  if (j.is_null()) return f;
  if (!j.is_object()) return type_error(where, "an object", j);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    const std::string field = where + "." + key;
    if (v.is_null()) continue;
    if (key == "kind" || key == "kinds") {
      RAGD_RETURN_IF_ERROR(string_list(v, field, f.kinds));
    } else if (key == "source" || key == "sources") {
      RAGD_RETURN_IF_ERROR(string_list(v, field, f.sources));
    } else if (key == "fields" || key == "metadata") {
      if (!v.is_object()) return type_error(field, "an object", v);
      for (auto fit = v.begin(); fit != v.end(); ++fit) {
        auto s = scalar_to_string(fit.value());
        if (!s) return type_error(field + "." + fit.key(), "a string, number or boolean", fit.value());
        f.fields[fit.key()] = *s;
      }
    } else if (key == "updated_after") {
      RAGD_ASSIGN_OR_RETURN(int64_t t, time_field(v, field));
      f.updated_after = t;
    } else if (key == "updated_before") {
      RAGD_ASSIGN_OR_RETURN(int64_t t, time_field(v, field));
      f.updated_before = t;
    } else {
      auto s = scalar_to_string(v);
      if (!s) return type_error(field, "a string, number or boolean (field equality)", v);
      f.fields[key] = *s;
    }
  }
  if (f.updated_after && f.updated_before && *f.updated_after > *f.updated_before) {
    return Status::invalid_argument("field '" + where + "': updated_after is later than updated_before");
  }
  return f;
}

Result<SearchRequest> parse_search_request(const Json& j, int max_k) {
  SearchRequest r;
  if (!j.is_object()) return type_error("body", "an object", j);
  auto q = j.find("query");
  if (q == j.end() || q->is_null()) return Status::invalid_argument("field 'query': required");
  if (!q->is_string()) return type_error("query", "a string", *q);
  r.query = q->get<std::string>();
  if (r.query.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::invalid_argument("field 'query': must not be empty");
  }
  if (auto k = j.find("k"); k != j.end() && !k->is_null()) {
    if (!k->is_number_integer() && !k->is_number_unsigned()) return type_error("k", "an integer", *k);
    const bool huge = k->is_number_unsigned() && k->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
    int64_t kv = huge ? INT64_MAX : k->get<int64_t>();
    if (kv < 1 || kv > max_k) {
      return Status::invalid_argument("field 'k': must be between 1 and " + std::to_string(max_k) + ", got " +
                                      k->dump());
    }
    r.k = static_cast<int>(kv);
  }
  if (auto m = j.find("mode"); m != j.end() && !m->is_null()) {
    if (!m->is_string()) return type_error("mode", "a string", *m);
    auto mode = parse_search_mode(m->get<std::string>());
    if (!mode) {
      return Status::invalid_argument("field 'mode': expected lexical, vector or hybrid, got '" +
                                      m->get<std::string>() + "'");
    }
    r.mode = *mode;
  }
  if (auto f = j.find("filters"); f != j.end()) {
    RAGD_ASSIGN_OR_RETURN(r.filters, parse_filters(*f, "filters"));
  }
  if (auto g = j.find("groups"); g != j.end() && !g->is_null()) {
    if (!g->is_array()) return type_error("groups", "an array of strings", *g);
    RAGD_RETURN_IF_ERROR(string_list(*g, "groups", r.groups));
  }
  if (auto d = j.find("dedup"); d != j.end() && !d->is_null()) {
    if (!d->is_boolean()) return type_error("dedup", "a boolean", *d);
    r.dedup = d->get<bool>();
  }
  return r;
}

Result<int> optional_int(const Json& j, const char* name, int lo, int hi) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return 0;
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    return Status::invalid_argument("field '" + std::string(name) + "': expected an integer in [" +
                                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int>(it->get<int64_t>());
}

Result<Document> parse_document(const Json& j, const std::string& where) {
  if (!j.is_object()) return type_error(where, "an object", j);
  Document d;
  auto id = j.find("id");
  if (id == j.end() || id->is_null()) return Status::invalid_argument(where + ": field 'id': required");
  if (id->is_number_integer() || id->is_number_unsigned()) {
    d.id = id->dump();
  } else if (id->is_string()) {
    d.id = id->get<std::string>();
  } else {
    return type_error(where + ".id", "a string", *id);
  }
  if (d.id.empty()) return Status::invalid_argument(where + ": field 'id': must not be empty");
  RAGD_RETURN_IF_ERROR(optional_string(j, "title", where, d.title));
  RAGD_RETURN_IF_ERROR(optional_string(j, "text", where, d.text));
  RAGD_RETURN_IF_ERROR(optional_string(j, "kind", where, d.kind));
  RAGD_RETURN_IF_ERROR(optional_string(j, "source", where, d.source));
  RAGD_RETURN_IF_ERROR(optional_string(j, "url", where, d.url));
  if (d.text.empty() && d.title.empty()) {
    return Status::invalid_argument(where + " (" + d.id + "): field 'text': required (or a title)");
  }
  if (d.kind.empty()) d.kind = "document";
  if (d.source.empty()) d.source = "api";
  if (auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) return type_error(where + ".metadata", "an object", *m);
    for (auto it = m->begin(); it != m->end(); ++it) {
      auto s = scalar_to_string(it.value());
      if (!s) return type_error(where + ".metadata." + it.key(), "a string, number or boolean", it.value());
      d.metadata[it.key()] = *s;
    }
  }
  if (auto a = j.find("acl"); a != j.end() && !a->is_null()) {
    if (!a->is_array()) return type_error(where + ".acl", "an array of strings", *a);
    RAGD_RETURN_IF_ERROR(string_list(*a, where + ".acl", d.acl));
  }
  if (auto t = j.find("updated_at"); t != j.end() && !t->is_null()) {
    RAGD_ASSIGN_OR_RETURN(d.updated_at, time_field(*t, where + ".updated_at"));
  }
  if (auto t = j.find("created_at"); t != j.end() && !t->is_null()) {
    RAGD_ASSIGN_OR_RETURN(d.created_at, time_field(*t, where + ".created_at"));
  }
  d.origin = "request " + where;
  return d;
}

Json hit_to_json(const Hit& h) {
  return Json{{"doc_id", h.doc_id},         {"chunk_id", h.chunk_id},
              {"score", h.score},           {"score_lexical", h.score_lexical},
              {"score_vector", h.score_vector}, {"title", h.title},
              {"kind", h.kind},             {"source", h.source},
              {"url", h.url},               {"section_path", h.section_path},
              {"role", h.role},             {"text", h.text},
              {"metadata", h.metadata}};
}

namespace {

// Length of the valid UTF-8 sequence at s[i], 0 if invalid (overlong forms,
// surrogates and code points above U+10FFFF are invalid, as in nlohmann).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  const size_t left = s.size() - i;
  auto cont = [&](size_t k) { return k < left && (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Bytes copied into a JSON string as they are: printable ASCII except '"'
// and '\\'.
constexpr std::array<bool, 256> kPlainJsonByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[static_cast<size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

// A JSON string literal, escaped as nlohmann's dump() with
// error_handler_t::replace does (\b \f \n \r \t, \u00XX for other
// control characters, U+FFFD for each invalid byte). Runs of plain bytes
// are copied in one append: most of a chunk's text is one run.
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && kPlainJsonByte[static_cast<unsigned char>(s[j])]) ++j;
    out.append(s.data() + i, j - i);
    i = j;
    if (i == n) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t len = utf8_sequence(s, i);
      if (len > 0) {
        out.append(s.data() + i, len);
        i += len;
      } else {
        out += "\xEF\xBF\xBD";
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      }
    }
    ++i;
  }
  out.push_back('"');
}

// A double as nlohmann prints it: shortest round-trip form, ".0" added to
// integral values, null for NaN and infinities.
void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) {
    out += "null";
    return;
  }
  std::string_view t(buf, static_cast<size_t>(end - buf));
  out += t;
  if (t.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

void append_key(std::string& out, std::string_view key) {
  out.push_back('"');
  out += key;
  out += "\":";
}

void append_hit(std::string& out, const Hit& h) {
  // Keys in the order nlohmann's std::map-backed objects print them.
  out += '{';
  append_key(out, "chunk_id");
  append_json_string(out, h.chunk_id);
  out += ',';
  append_key(out, "doc_id");
  append_json_string(out, h.doc_id);
  out += ',';
  append_key(out, "kind");
  append_json_string(out, h.kind);
  out += ',';
  append_key(out, "metadata");
  out += '{';
  bool first = true;
  for (const auto& [k, v] : h.metadata) {  // std::map: already sorted
    if (!first) out += ',';
    first = false;
    append_json_string(out, k);
    out += ':';
    append_json_string(out, v);
  }
  out += "},";
  append_key(out, "role");
  append_json_string(out, h.role);
  out += ',';
  append_key(out, "score");
  append_json_number(out, h.score);
  out += ',';
  append_key(out, "score_lexical");
  append_json_number(out, h.score_lexical);
  out += ',';
  append_key(out, "score_vector");
  append_json_number(out, h.score_vector);
  out += ',';
  append_key(out, "section_path");
  out += '[';
  for (size_t i = 0; i < h.section_path.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, h.section_path[i]);
  }
  out += "],";
  append_key(out, "source");
  append_json_string(out, h.source);
  out += ',';
  append_key(out, "text");
  append_json_string(out, h.text);
  out += ',';
  append_key(out, "title");
  append_json_string(out, h.title);
  out += ',';
  append_key(out, "url");
  append_json_string(out, h.url);
  out += '}';
}

}  // namespace

std::string search_response_body(const std::vector<Hit>& hits, std::string_view mode, double took_ms) {
  size_t reserve = 64;
  for (const auto& h : hits) reserve += 256 + h.text.size() + h.title.size() + h.url.size();
  std::string out;
  out.reserve(reserve);
  out += "{\"hits\":[";
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i > 0) out += ',';
    append_hit(out, hits[i]);
  }
  out += "],";
  append_key(out, "mode");
  append_json_string(out, mode);
  out += ',';
  append_key(out, "took_ms");
  append_json_number(out, took_ms);
  out += '}';
  return out;
}

Json hits_to_json(const std::vector<Hit>& hits) {
  Json arr = Json::array();
  for (const auto& h : hits) arr.push_back(hit_to_json(h));
  return arr;
}

Json answer_to_json(const Answer& a) {
  Json cites = Json::array();
  for (const auto& c : a.citations) {
    cites.push_back(Json{{"n", c.n}, {"doc_id", c.doc_id}, {"chunk_id", c.chunk_id}, {"title", c.title},
                         {"url", c.url}, {"quote", c.quote}});
  }
  Json provenance{{"answerer", a.answerer},
                  {"encoder", a.encoder},
                  {"prompt_version", a.prompt_version},
                  {"store_sequence", a.store_sequence}};
  if (!a.model_file.empty()) provenance["model_file"] = a.model_file;
  if (!a.model_sha256.empty()) provenance["model_sha256"] = a.model_sha256;
  Json j{{"answer", a.text},          {"format", a.format},        {"citations", std::move(cites)},
         {"refused", a.refused},      {"grounding", grounding_name(a.grounding)},  {"confidence", a.confidence},
         {"provenance", std::move(provenance)}};
  if (!a.intent.empty()) j["intent"] = a.intent;
  if (!a.escalation.empty()) {
    j["escalation"] = Json{{"outcome", a.escalation}, {"model", a.escalation_model}};
  }
  return j;
}

Json document_to_json(const Document& d, const std::vector<Chunk>& chunks) {
  Json cj = Json::array();
  for (const auto& c : chunks) {
    cj.push_back(Json{{"id", c.id}, {"ordinal", c.ordinal}, {"role", c.role},
                      {"section_path", c.section_path}, {"text", c.text}, {"n_tokens", c.n_tokens}});
  }
  return Json{{"id", d.id},       {"title", d.title},           {"kind", d.kind},
              {"source", d.source}, {"url", d.url},             {"metadata", d.metadata},
              {"acl", d.acl},     {"created_at", d.created_at}, {"updated_at", d.updated_at},
              {"text", d.text},   {"chunks", std::move(cj)}};
}

Json stats_to_json(const StoreStats& s) {
  return Json{{"documents", s.documents}, {"chunks", s.chunks},     {"index_type", s.index_type},
              {"encoder", s.encoder},     {"dim", s.dim},           {"sequence", s.sequence},
              {"lexical_terms", s.lexical_terms}};
}

std::string status_code_slug(StatusCode code) {
  std::string s = status_code_name(code);
  std::replace(s.begin(), s.end(), ' ', '_');
  return s;
}

Json job_status_json(const JobStatus& s) {
  return Json{{"running", s.running},
              {"interval_seconds", s.interval_seconds},
              {"runs", s.runs},
              {"failures", s.failures},
              {"last_start", time_json(s.last_start_ms)},
              {"last_end", time_json(s.last_end_ms)},
              {"next_run", time_json(s.next_run_ms)},
              {"last_request", s.last_request},
              {"last_error", s.last_error.empty() ? Json(nullptr) : Json(s.last_error)}};
}

Json time_json(int64_t ms) {
  if (ms <= 0) return nullptr;
  time_t t = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

Json error_to_json(const std::string& code, const std::string& message) {
  return Json{{"error", Json{{"code", code}, {"message", message}}}};
}

}  // namespace ragd::api
