// POST /v1/documents (JSON or a file upload), GET and DELETE /v1/documents/{id}.
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/auth_hook.h"
#include "api/json_codec.h"
#include "api/multipart.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "cluster/node.h"
#include "connectors/connector.h"
#include "ingest/chunker.h"

namespace ragd::api {
namespace {

// Turns ingest stats into the response: 200 when anything was accepted (new
// or unchanged), else 400 listing why nothing was.
Response ingest_response(const IngestStats& st, std::vector<std::string> errors) {
  const size_t refused_here = errors.size();  // the caller's: not in st.failed
  for (const auto& e : st.errors) errors.push_back(e);
  // Each message bounded, and at most kMaxListedErrors of them: an error
  // body never echoes a huge input back.
  constexpr size_t kMaxListedErrors = 100;
  if (errors.size() > kMaxListedErrors) {
    const size_t more = errors.size() - kMaxListedErrors;
    errors.resize(kMaxListedErrors);
    errors.push_back("... and " + std::to_string(more) + " more");
  }
  for (auto& e : errors) e = bounded_message(e);
  if (!st.store_error.is_ok()) {
    // The store could not write (disk full: 507): its errors name server
    // paths, so the client gets the short message and the counts; what was
    // acknowledged as ingested is durable. A cluster's log that did not
    // acknowledge (503) names no path: there `errors` lists each document
    // not acknowledged, and the consistency token the positions of those
    // that were.
    Response r = error_response(st.store_error);
    Json err = Json::parse(r.body, nullptr, false);
    if (err.is_object()) {
      err["error"]["ingested"] = st.ingested;
      err["error"]["unchanged"] = st.unchanged;
      err["error"]["failed"] = st.failed + refused_here;
      if ((st.store_error.code() == StatusCode::kUnavailable || st.store_error.code() == StatusCode::kAlreadyExists) &&
          !errors.empty()) {
        err["error"]["errors"] = errors;
      }
      if (!st.consistency_token.empty()) err["error"]["consistency_token"] = st.consistency_token;
      r.body = err.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    return r;
  }
  Json body{{"ingested", st.ingested}, {"unchanged", st.unchanged}, {"failed", st.failed},
            {"chunks", st.chunks}, {"errors", errors}};
  // A cluster's write: where it landed, for a search that must see it.
  if (!st.consistency_token.empty()) body["consistency_token"] = st.consistency_token;
  if (st.ingested + st.unchanged == 0 && !errors.empty()) {
    Json err = error_to_json("invalid_argument", "no document was ingested: " + errors.front());
    err["error"]["errors"] = errors;
    return json_response(err, 400);
  }
  return json_response(body);
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

// The ACL each of `ids` has now (nullopt: no such document): from the
// collection's store, or for the default collection of `serve --cluster`
// from the cluster's log (this node's own default store is never written).
// With `never_written` (a cluster's log only), whether each id's subject in
// the log holds no message at all.
Result<std::vector<std::optional<std::vector<std::string>>>> current_acls(const Request& req, Api& api,
                                                                           const Store& store,
                                                                           const std::vector<std::string>& ids,
                                                                           std::vector<bool>* never_written = nullptr) {
  if (api.cluster != nullptr && req.collection.empty()) return api.cluster->current_acls(ids, never_written);
  std::vector<std::optional<std::vector<std::string>>> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    auto doc = store.get_document(id);
    if (doc.is_ok()) {
      out.emplace_back(std::move(doc->acl));
    } else if (doc.status().code() == StatusCode::kNotFound) {
      out.emplace_back();
    } else {
      return doc.status();
    }
  }
  return out;
}

// With an authenticated caller, every document written must carry an ACL
// the caller's groups cover, and so must the stored document it replaces: no
// one can unrestrict a document, or restrict one to groups they lack. Both
// as ingest will store them (normalize_document: "D " is document D).
// `creating` gets the ids the cluster's log has never held (their write is
// published as a creation, so that of two keyed writers creating one
// document only the first is acknowledged: cluster/README.md, "Keyed
// writes"); a check against a store leaves it empty.
Status check_writable(const Request& req, Api& api, const Store& store, const std::vector<Document>& docs,
                      std::set<std::string>& creating) {
  if (!req.principal) return Status::ok();
  const bool admin = req.principal->role == auth::Role::kAdmin;
  std::vector<std::string> ids;
  for (const auto& d : docs) {
    Document stored = d;
    // One that does not normalise is refused by ingest, naming why.
    if (!normalize_document(stored).is_ok()) continue;
    if (!may_write(req, stored.acl)) {
      return Status::permission_denied("document '" + stored.id.substr(0, 200) +
                                       "': its acl names groups the caller does not hold");
    }
    ids.push_back(std::move(stored.id));
  }
  if (admin) return Status::ok();  // may replace anything
  std::vector<bool> never_written;
  RAGD_ASSIGN_OR_RETURN(auto acls, current_acls(req, api, store, ids, &never_written));
  for (size_t i = 0; i < never_written.size(); ++i) {
    if (never_written[i]) creating.insert(ids[i]);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (acls[i] && !may_write(req, *acls[i])) {
      return Status::permission_denied("document '" + ids[i].substr(0, 200) +
                                       "' exists with an acl the caller's groups do not cover");
    }
  }
  return Status::ok();
}

// The groups a cluster's appliers hold a write to (cluster::WriterGroups):
// none for an admin or a node without keys, who may write anything.
cluster::WriterGroups writer_groups(const Request& req) {
  if (!req.principal || req.principal->role == auth::Role::kAdmin) return std::nullopt;
  return req.principal->groups;
}

// Ingest into the request's collection, or, for the default collection of
// `serve --cluster`, publish to the cluster's log (acknowledged once
// JetStream holds each document; the shards' nodes apply them).
Result<IngestStats> ingest_documents(const Request& req, Api& api, ServiceContext& service,
                                     std::vector<Document> docs, const std::set<std::string>& creating) {
  if (api.cluster != nullptr && req.collection.empty()) {
    return api.cluster->write(std::move(docs), writer_groups(req), false, creating);
  }
  return service.ingest(std::move(docs));
}

// A file upload: multipart/form-data or a raw body named by ?filename=.
Response ingest_upload(const Request& req, Api& api, ServiceContext& service) {
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
  if (docs.size() > api.options.max_documents_per_request) {
    return error_response(Status::resource_exhausted("upload '" + filename + "' holds " +
                                                     std::to_string(docs.size()) + " documents; the limit is " +
                                                     std::to_string(api.options.max_documents_per_request)));
  }
  std::set<std::string> creating;
  if (Status w = check_writable(req, api, service.store(), docs, creating); !w.is_ok()) return error_response(w);
  auto stats = ingest_documents(req, api, service, std::move(docs), creating);
  if (!stats.is_ok()) return error_response(stats.status());
  return ingest_response(*stats, std::move(errors));
}

// The {id} of the path, percent-decoded (it may contain '/': "runbooks%2Fvpn.md").
Result<std::string> document_id(const Request& req) {
  std::string out;
  if (!percent_decode(req.path_param, out, false) || out.empty()) {
    return Status::invalid_argument("malformed document id in path '" + req.path + "'");
  }
  return out;
}

}  // namespace

Response handle_post_documents(const Request& req, Api& api) {
  // A file upload is multipart or names its file or format; anything else is
  // the JSON document list, whatever Content-Type the client claimed.
  auto svc = collection_service(req, api);
  if (!svc.is_ok()) return error_response(svc.status());
  ServiceContext& service = **svc;
  const std::string ctype = req.header("content-type");
  if (ctype.rfind("multipart/", 0) == 0 || req.query.count("filename") != 0 || req.query.count("format") != 0) {
    return ingest_upload(req, api, service);
  }
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto it = body->find("documents");
  if (it == body->end()) return error_response(Status::invalid_argument("field 'documents': required"));
  if (!it->is_array()) {
    return error_response(Status::invalid_argument("field 'documents': expected an array, got " +
                                                   std::string(it->type_name())));
  }
  if (it->size() > api.options.max_documents_per_request) {
    return error_response(Status::resource_exhausted(
        "field 'documents': " + std::to_string(it->size()) + " documents; the limit per request is " +
        std::to_string(api.options.max_documents_per_request)));
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
    return json_response(Json{{"ingested", 0}, {"unchanged", 0}, {"failed", 0}, {"chunks", 0},
                                   {"errors", Json::array()}});
  }
  size_t rejected = errors.size();
  std::set<std::string> creating;
  if (Status w = check_writable(req, api, service.store(), docs, creating); !w.is_ok()) return error_response(w);
  auto stats = ingest_documents(req, api, service, std::move(docs), creating);
  if (!stats.is_ok()) return error_response(stats.status());
  stats->failed += rejected;
  return ingest_response(*stats, std::move(errors));
}

Response handle_get_document(const Request& req, Api& api) {
  auto decoded = document_id(req);
  if (!decoded.is_ok()) return error_response(decoded.status());
  const std::string& id = *decoded;
  auto svc = collection_service(req, api);
  if (!svc.is_ok()) return error_response(svc.status());
  const Store& store = (*svc)->store();
  auto doc = store.get_document(id);
  if (!doc.is_ok()) return error_response(doc.status());
  // A document the caller may not read does not exist for them.
  if (!may_read(req, doc->acl)) return error_response(Status::not_found("no document '" + id + "'"));
  auto chunks = store.chunks_of(id);
  if (!chunks.is_ok()) return error_response(chunks.status());
  return json_response(document_to_json(*doc, *chunks));
}

Response handle_delete_document(const Request& req, Api& api) {
  auto decoded = document_id(req);
  if (!decoded.is_ok()) return error_response(decoded.status());
  const std::string& id = *decoded;
  auto svc = collection_service(req, api);
  if (!svc.is_ok()) return error_response(svc.status());
  Store& store = (*svc)->store();
  if (req.principal) {
    auto acls = current_acls(req, api, store, {id});
    if (!acls.is_ok()) return error_response(acls.status());
    const auto& acl = acls->front();
    if (!acl || !may_read(req, *acl)) return error_response(Status::not_found("no document '" + id + "'"));
    if (!may_write(req, *acl)) {
      return error_response(
          Status::permission_denied("document '" + id + "' has an acl the caller's groups do not cover"));
    }
  }
  if (api.cluster != nullptr && req.collection.empty()) {
    // Published to the document's shard; its appliers delete it (and check
    // the caller's groups again, in the log's order).
    auto token = api.cluster->remove(id, writer_groups(req));
    if (!token.is_ok()) return error_response(token.status());
    return json_response(Json{{"deleted", id}, {"consistency_token", *token}});
  }
  auto removed = store.remove(id);
  if (!removed.is_ok()) return error_response(removed.status());
  if (!*removed) return error_response(Status::not_found("document '" + id + "' not found"));
  return json_response(Json{{"deleted", id}});
}

}  // namespace ragd::api
