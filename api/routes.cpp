#include "api/routes.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <new>
#include <string_view>
#include <utility>

#include "api/json_codec.h"
#include "api/multipart.h"
#include "connectors/connector.h"
#include "ragd/version.h"

namespace ragd::api {
namespace {

constexpr std::string_view kDocumentsPrefix = "/v1/documents/";

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Response json_response(int status, const Json& j) {
  Response r;
  r.status = status;
  r.body = dump(j);
  return r;
}

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Turns ingest stats into the response: 200 when anything was accepted (new
// or unchanged), else 400 listing why nothing was.
Response ingest_response(const IngestStats& st, std::vector<std::string> errors) {
  for (const auto& e : st.errors) errors.push_back(e);
  Json body{{"ingested", st.ingested}, {"unchanged", st.unchanged}, {"failed", st.failed},
            {"chunks", st.chunks}, {"errors", errors}};
  if (st.ingested + st.unchanged == 0 && !errors.empty()) {
    Json err = error_to_json("invalid_argument", "no document was ingested: " + errors.front());
    err["error"]["errors"] = errors;
    return json_response(400, err);
  }
  return json_response(200, body);
}

Result<FetchOptions> upload_options(const Request& req) {
  FetchOptions fo;
  if (auto it = req.query.find("format"); it != req.query.end() && !it->second.empty()) {
    auto f = parse_source_format(it->second);
    if (!f) return Status::invalid_argument("query parameter 'format': unknown format '" + it->second + "'");
    fo.format = *f;
  }
  if (auto it = req.query.find("csv_map"); it != req.query.end()) {
    std::string_view rest = it->second;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      size_t eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        return Status::invalid_argument("query parameter 'csv_map': expected field=column, got '" +
                                        std::string(item) + "'");
      }
      fo.csv_columns[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  if (auto it = req.query.find("kind"); it != req.query.end()) fo.default_kind = it->second;
  return fo;
}

// A file upload: multipart/form-data or a raw body named by ?filename=.
Response ingest_upload(const Request& req, ServiceContext& ctx, const RouteOptions& options) {
  auto fo = upload_options(req);
  if (!fo.is_ok()) return error_response(fo.status());
  std::string filename;
  std::string_view bytes;
  const std::string ctype = req.header("content-type");
  std::vector<MultipartPart> parts;
  if (ctype.rfind("multipart/", 0) == 0) {
    auto parsed = parse_multipart(req.body, ctype);
    if (!parsed.is_ok()) return error_response(parsed.status());
    parts = std::move(parsed).value();
    const MultipartPart* file = nullptr;
    for (const auto& p : parts) {
      if (p.name == "file") { file = &p; break; }
    }
    if (file == nullptr) {
      for (const auto& p : parts) {
        if (!p.filename.empty()) { file = &p; break; }
      }
    }
    if (file == nullptr) return error_response(Status::invalid_argument("multipart upload without a 'file' field"));
    filename = file->filename;
    bytes = file->data;
  } else {
    bytes = req.body;
  }
  if (auto it = req.query.find("filename"); it != req.query.end() && !it->second.empty()) filename = it->second;
  if (filename.empty()) {
    if (fo->format == SourceFormat::kAuto) {
      return error_response(Status::invalid_argument(
          "upload: name the file (multipart filename or ?filename=) or give ?format="));
    }
    filename = std::string("upload.") + source_format_name(fo->format);
  }
  if (bytes.empty()) return error_response(Status::invalid_argument("upload '" + filename + "' is empty"));

  std::vector<Document> docs;
  std::vector<std::string> errors;
  FetchSink sink;
  sink.on_document = [&](Document&& d) { docs.push_back(std::move(d)); };
  sink.on_error = [&](const Status& e) { errors.push_back(e.message()); };
  Status st = fetch_buffer(bytes, filename, *fo, sink);
  if (!st.is_ok()) return error_response(st.with_context("upload '" + filename + "'"));
  if (docs.size() > options.max_documents_per_request) {
    return error_response(Status::resource_exhausted("upload '" + filename + "' holds " +
                                                     std::to_string(docs.size()) + " documents; the limit is " +
                                                     std::to_string(options.max_documents_per_request)));
  }
  auto stats = ctx.ingest(std::move(docs));
  if (!stats.is_ok()) return error_response(stats.status());
  return ingest_response(*stats, std::move(errors));
}

std::string decode_id(std::string_view raw, bool& ok) {
  std::string out;
  ok = percent_decode(std::string(raw), out, false) && !out.empty();
  return out;
}

}  // namespace

int http_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 413;
    case StatusCode::kTimeout: return 408;
    case StatusCode::kCancelled: return 503;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kCorruption:
    case StatusCode::kIoError:
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

Response error_response(const Status& status) {
  return error_response(http_status(status), status_code_slug(status.code()), status.message());
}

Response error_response(int http_code, const std::string& code, const std::string& message) {
  return json_response(http_code, error_to_json(code, message));
}

Json reindex_to_json(const ReindexStatus& r) {
  Json j{{"state", r.state}, {"from", r.from}, {"target", r.target}, {"done", r.done}, {"total", r.total},
         {"seconds", r.seconds}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

// The build's identity, added to /healthz and /v1/stats.
static void add_build_info(Json& j) {
  const BuildInfo& b = build_info();
  j["version"] = b.version;
  j["commit"] = b.commit;
  j["build_type"] = b.build_type;
}

Response handle_healthz(const Request&, ServiceContext& ctx) {
  Json j{{"status", "ok"}, {"encoder", ctx.embedder() ? ctx.embedder()->fingerprint() : ""}};
  add_build_info(j);
  return json_response(200, j);
}

Response handle_stats(const Request&, ServiceContext& ctx) {
  StoreStats st = ctx.store().stats();
  Json j = stats_to_json(st);
  j["encoder_loaded"] = ctx.embedder() ? ctx.embedder()->fingerprint() : "";
  j["reindex"] = reindex_to_json(ctx.reindex_status());
  if (!st.reindex_discarded.empty()) j["reindex"]["discarded"] = st.reindex_discarded;
  add_build_info(j);
  return json_response(200, j);
}

Response handle_post_documents(const Request& req, ServiceContext& ctx, const RouteOptions& options) {
  // A file upload is multipart or names its file or format; anything else is
  // the JSON document list, whatever Content-Type the client claimed.
  const std::string ctype = req.header("content-type");
  if (ctype.rfind("multipart/", 0) == 0 || req.query.count("filename") != 0 || req.query.count("format") != 0) {
    return ingest_upload(req, ctx, options);
  }
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto it = body->find("documents");
  if (it == body->end()) return error_response(Status::invalid_argument("field 'documents': required"));
  if (!it->is_array()) {
    return error_response(Status::invalid_argument("field 'documents': expected an array, got " +
                                                   std::string(it->type_name())));
  }
  if (it->size() > options.max_documents_per_request) {
    return error_response(Status::resource_exhausted(
        "field 'documents': " + std::to_string(it->size()) + " documents; the limit per request is " +
        std::to_string(options.max_documents_per_request)));
  }
  std::vector<Document> docs;
  std::vector<std::string> errors;
  docs.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    auto d = parse_document((*it)[i], "documents[" + std::to_string(i) + "]");
    if (d.is_ok()) {
      docs.push_back(std::move(d).value());
    } else {
      errors.push_back(d.status().message());
    }
  }
  if (docs.empty() && errors.empty()) {
    return json_response(200, Json{{"ingested", 0}, {"unchanged", 0}, {"failed", 0}, {"chunks", 0},
                                   {"errors", Json::array()}});
  }
  size_t rejected = errors.size();
  auto stats = ctx.ingest(std::move(docs));
  if (!stats.is_ok()) return error_response(stats.status());
  stats->failed += rejected;
  return ingest_response(*stats, std::move(errors));
}

Response handle_get_document(const std::string& id, ServiceContext& ctx) {
  auto doc = ctx.store().get_document(id);
  if (!doc.is_ok()) return error_response(doc.status());
  return json_response(200, document_to_json(*doc, ctx.store().chunks_of(id)));
}

Response handle_delete_document(const std::string& id, ServiceContext& ctx) {
  auto removed = ctx.store().remove(id);
  if (!removed.is_ok()) return error_response(removed.status());
  if (!*removed) return error_response(Status::not_found("document '" + id + "' not found"));
  return json_response(200, Json{{"deleted", id}});
}

Response handle_search(const Request& req, ServiceContext& ctx, const RouteOptions& options) {
  auto start = std::chrono::steady_clock::now();
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto sr = parse_search_request(*body, options.max_k);
  if (!sr.is_ok()) return error_response(sr.status());
  auto hits = ctx.search(*sr);
  if (!hits.is_ok()) return error_response(hits.status());
  // Written directly rather than through a Json tree: building and dumping
  // the tree was a third of the route's CPU time (callgrind, sample KB).
  Response r;
  r.status = 200;
  r.body = search_response_body(*hits, search_mode_name(sr->mode), elapsed_ms(start));
  return r;
}

namespace {

// The audit record of an extractive answer: who asked what, what was
// retrieved and cited, and what produced the answer.
AuditRecord extractive_audit_record(const Request& req, const SearchRequest& sr, const Answer& answer,
                                    double latency_ms) {
  AuditRecord rec;
  rec.request_id = req.request_id;
  rec.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count() -
                static_cast<int64_t>(latency_ms);
  rec.caller = req.caller;
  rec.task = "answer";
  rec.query = sr.query;
  auto add_distinct = [](std::vector<std::string>& ids, const std::string& id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  for (const auto& h : answer.hits) add_distinct(rec.retrieved_doc_ids, h.doc_id);
  for (const auto& c : answer.citations) add_distinct(rec.cited_doc_ids, c.doc_id);
  rec.grounding = answer.refused ? "refused" : answer.grounding;
  rec.answerer = answer.answerer;
  rec.encoder = answer.encoder;
  rec.prompt_version = answer.prompt_version;
  rec.store_sequence = answer.store_sequence;
  rec.latency_ms = latency_ms;
  return rec;
}

}  // namespace

Response handle_answer(const Request& req, ServiceContext& ctx, const RouteOptions& options) {
  auto start = std::chrono::steady_clock::now();
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  if (auto s = body->find("stream"); s != body->end() && s->is_boolean() && s->get<bool>()) {
    return error_response(Status::unimplemented("field 'stream': streaming needs the LLM answer path (--llm)"));
  }
  auto sr = parse_search_request(*body, options.max_k);
  if (!sr.is_ok()) return error_response(sr.status());
  auto answer = ctx.answer(*sr);
  if (!answer.is_ok()) return error_response(answer.status());
  if (options.audit) {
    Status logged = options.audit->append(extractive_audit_record(req, *sr, *answer, elapsed_ms(start)));
    if (!logged.is_ok()) return error_response(logged.with_context("audit log"));
  }
  Json j = answer_to_json(*answer);
  if (auto ih = body->find("include_hits"); ih != body->end() && ih->is_boolean() && ih->get<bool>()) {
    j["hits"] = hits_to_json(answer->hits);
  }
  j["took_ms"] = elapsed_ms(start);
  return json_response(200, j);
}

Response handle(const Request& req, ServiceContext& ctx, const RouteOptions& options) {
  try {
    const std::string& p = req.path;
    const std::string& m = req.method;
    auto not_allowed = [&](const char* allow) {
      Response r = error_response(405, "method_not_allowed", m + " is not allowed on " + p + " (allowed: " +
                                                                 allow + ")");
      r.headers.emplace_back("Allow", allow);
      return r;
    };
    if (p == "/healthz") return m == "GET" ? handle_healthz(req, ctx) : not_allowed("GET");
    if (p == "/v1/stats") return m == "GET" ? handle_stats(req, ctx) : not_allowed("GET");
    if (p == "/v1/search") return m == "POST" ? handle_search(req, ctx, options) : not_allowed("POST");
    if (p == "/v1/answer") return m == "POST" ? handle_answer(req, ctx, options) : not_allowed("POST");
    if (p == "/v1/documents") return m == "POST" ? handle_post_documents(req, ctx, options) : not_allowed("POST");
    if (p.size() > kDocumentsPrefix.size() && p.compare(0, kDocumentsPrefix.size(), kDocumentsPrefix) == 0) {
      bool ok = false;
      std::string id = decode_id(std::string_view(p).substr(kDocumentsPrefix.size()), ok);
      if (!ok) return error_response(Status::invalid_argument("malformed document id in path '" + p + "'"));
      if (m == "GET") return handle_get_document(id, ctx);
      if (m == "DELETE") return handle_delete_document(id, ctx);
      return not_allowed("GET, DELETE");
    }
    return error_response(404, "not_found", "no route for " + m + " " + p);
  } catch (const std::bad_alloc&) {
    return error_response(Status::resource_exhausted("out of memory while handling " + req.path));
  } catch (const std::exception& e) {
    return error_response(Status::internal(std::string("unexpected error: ") + e.what()));
  }
}

void split_target(Request& req) {
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query.clear();
  if (q == std::string::npos) return;
  std::string_view rest = std::string_view(req.target).substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view item = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string key, value;
    if (!percent_decode(std::string(item.substr(0, eq)), key, true)) continue;
    if (eq != std::string_view::npos && !percent_decode(std::string(item.substr(eq + 1)), value, true)) continue;
    req.query[key] = value;
  }
}

bool percent_decode(const std::string& in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

}  // namespace ragd::api
