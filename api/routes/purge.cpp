// POST /v1/purge {"doc_id", "everywhere"}: the right to be forgotten in a
// running server (admin). The document leaves the store, its indexes, the
// ANN snapshot, the retriever's chunk cache and the LLM's prompt-prefix cache
// (the files too: Store::purge compacts its key ranges), and a tombstone keeps sync
// from bringing it back (govern/retention.h). "everywhere": the default
// collection and every other one; else the request's collection
// (/v1/collections/{name}/purge). On a cluster node the default collection
// and "everywhere" include the cluster's copy: a purge through the log that
// every replica of the document's shard applies, and the document's earlier
// messages deleted from the stream (cluster/README.md, "Purge"); the
// node's own shard-* collections are left to that.
#include "api/json_codec.h"
#include "api/llm_service.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "cluster/node.h"
#include "govern/retention.h"
#include "service/collections.h"

namespace ragd::api {

Response handle_purge(const Request& req, Api& api) {
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  const Json& b = *body;
  if (!b.is_object()) return error_response(Status::invalid_argument("expected a JSON object"));
  auto id = b.find("doc_id");
  if (id == b.end() || !id->is_string() || id->get<std::string>().empty()) {
    return error_response(Status::invalid_argument("field 'doc_id': expected a non-empty string"));
  }
  bool everywhere = false;
  if (auto e = b.find("everywhere"); e != b.end() && !e->is_null()) {
    if (!e->is_boolean()) return error_response(Status::invalid_argument("field 'everywhere': expected a boolean"));
    everywhere = e->get<bool>();
  }
  const std::string doc_id = id->get<std::string>();
  Json results = Json::array();
  std::string token;
  // A cluster purge that failed part way (in the log but not erased, or the
  // nodes not told; or not published) is answered with its error, after the
  // node's own collections and caches are purged all the same: a retry
  // purges again.
  Status cluster_failed;
  if (api.cluster != nullptr && (everywhere || req.collection.empty())) {
    auto purged = api.cluster->purge(doc_id);
    if (purged.is_ok()) {
      token = *purged;
      results.push_back(Json{{"collection", "cluster"}, {"consistency_token", token}});
    } else {
      cluster_failed = purged.status();
    }
  }
  std::vector<std::pair<std::string, std::shared_ptr<ServiceContext>>> targets;
  if (everywhere) {
    targets.emplace_back("default", unowned_service(api.service));
    if (api.collections != nullptr) {
      for (const auto& name : api.collections->names()) {
        if (api.cluster != nullptr && cluster::is_shard_collection(name)) continue;
        auto ctx = api.collections->get(name);
        if (!ctx.is_ok()) return error_response(ctx.status());
        targets.emplace_back(name, *ctx);
      }
    }
  } else {
    auto ctx = collection_service(req, api);
    if (!ctx.is_ok()) return error_response(ctx.status());
    targets.emplace_back(req.collection.empty() ? "default" : req.collection, *ctx);
  }
  for (auto& [name, ctx] : targets) {
    auto r = govern::purge_document(ctx->store(), doc_id);
    if (!r.is_ok()) return error_response(r.status());
    ctx->retriever().clear_chunk_cache();
    results.push_back(Json{{"collection", name}, {"removed", r->removed}, {"tombstoned", r->tombstoned}});
  }
  // Cached prompts hold the passages that were sent to the LLM.
  if (api.llm != nullptr) {
    if (auto path = api.llm->path()) path->clear_prefix_cache();
  }
  if (!cluster_failed.is_ok()) return error_response(cluster_failed);
  Response resp;
  Json out{{"doc_id", doc_id}, {"collections", std::move(results)}};
  // The replicas' purge: a search or answer given it waits until they applied it.
  if (!token.empty()) out["consistency_token"] = token;
  resp.body = out.dump(-1, ' ', false, Json::error_handler_t::replace);
  return resp;
}

// POST /v1/retention/run: a retention pass now, in the background (202;
// 409 while one runs); its state is in /v1/stats "retention".
Response handle_run_retention(const Request&, Api& api) {
  if (api.jobs.retention == nullptr) {
    return error_response(Status::unimplemented("retention is not wired in this server"));
  }
  if (!api.jobs.retention->trigger("")) return error_response(Status::already_exists("a retention pass is already running"));
  return json_response(Json{{"started", true}}, 202);
}

}  // namespace ragd::api
