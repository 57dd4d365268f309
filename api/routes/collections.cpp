// GET, POST /v1/collections, DELETE /v1/collections/{name}, and the collection a request
// works in (service/collections.h). A collection's routes are the default
// ones under "/v1/collections/{name}/" (the router strips the prefix and
// sets req.collection): /v1/collections/kb2/search, .../documents/{id},
// .../answer, .../chat/completions, .../stats. A path prefix rather than a
// header or a body field: it works unchanged for every route and body
// format (file uploads, the OpenAI SDKs' base_url, curl), it is visible in
// access logs and to a reverse proxy's rules, and it cannot be lost by a
// client that forgets a header, which would silently hit the default.
#include <string>

#include "api/json_codec.h"
#include "api/llm_service.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "cluster/node.h"
#include "service/collections.h"

namespace ragd::api {

Result<std::shared_ptr<ServiceContext>> collection_service(const Request& req, const Api& api) {
  if (req.principal && !auth::collection_allows(*req.principal, req.collection)) {
    return Status::permission_denied(
        req.collection.empty() ? "this key is bound to collection '" + req.principal->collection +
                                     "': use /v1/collections/" + req.principal->collection + "/..."
                               : "this key may not use collection '" + req.collection + "'");
  }
  if (req.collection.empty()) return unowned_service(api.service);
  if (api.collections == nullptr) return Status::not_found("no collection '" + req.collection + "'");
  return api.collections->get(req.collection);
}

Response handle_list_collections(const Request& req, Api& api) {
  Json list = Json::array();
  auto add = [&](const std::string& name) {
    // A key bound to one collection sees only that one.
    if (req.principal && !auth::collection_allows(*req.principal, name)) return;
    list.push_back(Json{{"name", name.empty() ? "default" : name},
                        {"path", name.empty() ? "/v1" : "/v1/collections/" + name}});
  };
  add("");
  if (api.collections != nullptr) {
    for (const auto& n : api.collections->names()) add(n);
  }
  Response r;
  r.body = Json{{"collections", list}}.dump();
  return r;
}

Response handle_create_collection(const Request& req, Api& api) {
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto it = body->find("name");
  if (it == body->end() || !it->is_string()) {
    return error_response(Status::invalid_argument("field 'name': required, a string"));
  }
  if (api.collections == nullptr) {
    return error_response(Status::unimplemented("this server was started without collections"));
  }
  const std::string name = it->get<std::string>();
  if (api.cluster != nullptr && cluster::is_shard_collection(name)) {
    // The cluster's shard replicas are named so; one made by hand would be
    // mistaken for a shard's (and written behind its stream's back).
    return error_response(Status::invalid_argument("collection name '" + name +
                                                   "': names starting with 'shard-' are reserved for the cluster's "
                                                   "shards; choose another name"));
  }
  auto created = api.collections->create(name);
  if (!created.is_ok()) return error_response(created.status());
  Response r;
  r.status = 201;
  r.body = Json{{"name", name}, {"path", "/v1/collections/" + name}}.dump();
  return r;
}

Response handle_delete_collection(const Request& req, Api& api) {
  // A key bound to one collection manages only that one; deleting is for
  // an administrator of them all.
  if (req.principal && !req.principal->collection.empty()) {
    return error_response(Status::permission_denied("deleting a collection needs an admin key for all collections"));
  }
  if (api.collections == nullptr) {
    return error_response(Status::unimplemented("this server was started without collections"));
  }
  std::string name;
  if (!percent_decode(req.path_param, name, false)) {
    return error_response(Status::invalid_argument("malformed collection name in path"));
  }
  if (api.cluster != nullptr && cluster::is_shard_collection(name)) {
    // A replica goes when the shard map moves it (cluster/README.md).
    return error_response(Status::failed_precondition(
        "collection '" + name + "' is a cluster shard's replica: the shard map decides where it lives"));
  }
  auto gone = api.collections->remove(name);
  if (!gone.is_ok()) return error_response(gone.status());
  // Cached prompts hold the passages sent to the LLM, the collection's
  // among them (as a purge does).
  if (api.llm != nullptr) {
    if (auto path = api.llm->path()) path->clear_prefix_cache();
  }
  // 202 when running requests still hold it: its data goes when they end.
  return json_response(Json{{"name", name}, {"deleted", true}, {"pending", !*gone}}, *gone ? 200 : 202);
}

}  // namespace ragd::api
