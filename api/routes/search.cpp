// POST /v1/search: parse, ServiceContext::search() (hybrid retrieval, rerun
// across a reindex switch), encode.
#include <chrono>
#include <string_view>

#include "api/auth_hook.h"
#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "cluster/node.h"
#include "cluster/shard_search.h"

namespace ragd::api {

Result<std::map<uint32_t, uint64_t>> consistency_positions(const Json& body, const Api& api) {
  if (api.cluster == nullptr) return cluster::StreamPositions{};
  auto t = body.find("consistency_token");
  if (t == body.end() || t->is_null()) return cluster::StreamPositions{};
  if (!t->is_string()) return Status::invalid_argument("field 'consistency_token': a string");
  return cluster::parse_consistency_token(t->get<std::string>(), api.cluster->options().shards);
}

Result<std::shared_ptr<const KnowledgeReader>> cluster_reader(const Request& req, const Json& body, const Api& api) {
  if (api.cluster == nullptr || !req.collection.empty()) return std::shared_ptr<const KnowledgeReader>();
  RAGD_ASSIGN_OR_RETURN(auto after, consistency_positions(body, api));
  return std::make_shared<const KnowledgeReader>(api.cluster->reader(req.header("authorization"), std::move(after)));
}

Response handle_search(const Request& req, Api& api) {
  const auto start = std::chrono::steady_clock::now();
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto sr = parse_search_request(*body, api.options.max_k);
  if (!sr.is_ok()) return error_response(sr.status());
  const bool shard_phase = body->contains("shard_phase");
  if (shard_phase) {
    bind_bound_groups(req, *sr);
  } else {
    bind_groups(req, *sr);
  }
  auto svc = collection_service(req, api);
  if (!svc.is_ok()) return error_response(svc.status());
  auto positions = consistency_positions(*body, api);
  if (!positions.is_ok()) return error_response(positions.status());
  const cluster::StreamPositions& after = *positions;
  if (api.cluster != nullptr && !req.collection.empty() && cluster::is_shard_collection(req.collection)) {
    const std::optional<uint32_t> shard = cluster::shard_number(req.collection);
    // The ids a sync source stored, whatever their ACL (its pruning):
    // another node's question, or an admin's, never a reader's.
    if (auto p = body->find("shard_phase"); p != body->end() && p->is_string() &&
                                             *p == cluster::kDocumentsWherePhase && req.peer.empty() &&
                                             req.principal && req.principal->role != auth::Role::kAdmin) {
      return error_response(Status::permission_denied(
          "shard_phase \"documents_where\" lists documents whatever their ACL: only the cluster's nodes (with a "
          "secret_file) and admin keys may ask it"));
    }
    // A peer snapshot of this replica (cluster/snapshot.h): every document
    // whatever its ACL, so only for the cluster's nodes, admins, or anyone
    // on a node without keys, as documents_where.
    if (auto p = body->find("shard_phase"); shard && p != body->end() && p->is_string() &&
                                             cluster::is_snapshot_phase(p->get<std::string>())) {
      if (req.peer.empty() && req.principal && req.principal->role != auth::Role::kAdmin) {
        return error_response(Status::permission_denied(
            "a shard's snapshot holds every document whatever its ACL: only the cluster's nodes (with a "
            "secret_file) and admin keys may ask for it"));
      }
      auto answer = api.cluster->answer_snapshot_phase(*shard, req.body);
      if (!answer.is_ok()) return error_response(answer.status());
      Response r;
      r.body = std::move(*answer);
      return r;
    }
    // A coordinator's phase of a cluster search (cluster/shard_search.h),
    // for this shard and any others of this node it lists, each answered
    // once its copy has applied the token's position (else that shard's
    // error, and the coordinator asks another replica).
    if (shard) {
      cluster::ShardAccess access = api.cluster->shard_access(after);
      if (req.principal) {
        // A key bound to a collection reads no other shard than it may.
        access.open = [open = access.open, principal = *req.principal](uint32_t s) {
          if (!auth::collection_allows(principal, cluster::shard_collection(s))) {
            return Result<std::shared_ptr<ServiceContext>>(
                Status::permission_denied("this key may not use collection '" + cluster::shard_collection(s) + "'"));
          }
          return open(s);
        };
      }
      if (auto phase = cluster::answer_shard_phase(req.body, *shard, *sr, access)) {
        if (!phase->is_ok()) return error_response(phase->status());
        Response r;
        r.body = std::move(*phase).value();
        return r;
      }
    }
    // An ordinary search of this replica: once it has applied the token's
    // position (else 503).
    if (auto it = shard ? after.find(*shard) : after.end(); it != after.end()) {
      Status caught_up = api.cluster->wait_applied(
          *shard, it->second, std::chrono::milliseconds(api.cluster->options().consistency_wait_ms));
      if (!caught_up.is_ok()) return error_response(caught_up);
    }
  }
  if (api.cluster != nullptr && req.collection.empty()) {
    // Every shard, as one store (cluster/coordinator.cpp): the shards held
    // here are searched in process with the request bound above; a peer
    // gets the groups bound here, in a request signed with the cluster
    // secret, or without one the caller's Authorization header, with which
    // it binds them again.
    auto hits = api.cluster->search(*sr, req.header("authorization"), after);
    if (!hits.is_ok()) return error_response(hits.status());
    Response r;
    r.body = search_response_body(
        *hits, search_mode_name(sr->mode),
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    return r;
  }
  auto hits = (*svc)->search(*sr);
  if (!hits.is_ok()) return error_response(hits.status());
  // Written directly rather than through a Json tree: building and dumping
  // the tree was a third of the route's CPU time (callgrind, sample KB).
  Response r;
  r.body = search_response_body(
      *hits, search_mode_name(sr->mode),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  return r;
}

}  // namespace ragd::api
