// POST /v1/search: parse, ServiceContext::search() (hybrid retrieval, rerun
// across a reindex switch), encode.
#include <chrono>

#include "api/auth_hook.h"
#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "cluster/node.h"

namespace ragd::api {

Response handle_search(const Request& req, Api& api) {
  const auto start = std::chrono::steady_clock::now();
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto sr = parse_search_request(*body, api.options.max_k);
  if (!sr.is_ok()) return error_response(sr.status());
  bind_groups(req, *sr);
  auto svc = collection_service(req, api);
  if (!svc.is_ok()) return error_response(svc.status());
  if (api.cluster != nullptr && req.collection.empty()) {
    // The shards held here are searched in process with the request bound
    // above; a peer's node applies the caller's key and groups itself: the
    // request goes on as it came, with its Authorization header.
    const std::string_view mode = search_mode_name(sr->mode);
    auto local = [&](ServiceContext& shard) -> Result<std::string> {
      const auto t0 = std::chrono::steady_clock::now();
      RAGD_ASSIGN_OR_RETURN(auto hits, shard.search(*sr));
      return search_response_body(
          hits, mode, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    };
    auto merged = api.cluster->search(req.body, sr->k, req.header("authorization"), local);
    if (!merged.is_ok()) return error_response(merged.status());
    Response r;
    r.body = std::move(merged).value();
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
