#include "api/auth_hook.h"

#include <algorithm>

#include "api/status_http.h"
#include "auth/peer.h"
#include "cluster/node.h"

namespace ragd::api {

namespace {

std::vector<std::string> query_groups(const Request& req) {
  std::vector<std::string> out;
  auto it = req.query.find("groups");
  if (it == req.query.end()) return out;
  std::string_view rest = it->second;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view g = rest.substr(0, comma);
    if (!g.empty()) out.emplace_back(g);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

bool holds(const std::vector<std::string>& groups, const std::string& g) {
  return std::find(groups.begin(), groups.end(), g) != groups.end();
}

}  // namespace

bool same_origin_or_allowed(const Request& req, const std::vector<std::string>& allowed) {
  const std::string origin = req.header("origin");
  if (origin.empty()) return true;
  if (std::find(allowed.begin(), allowed.end(), origin) != allowed.end()) return true;
  // "scheme://host[:port]" against the Host header (which carries the port
  // when it is not the scheme's default).
  const size_t sep = origin.find("://");
  if (sep == std::string::npos) return false;
  const std::string host = req.header("host");
  return !host.empty() && origin.compare(sep + 3, std::string::npos, host) == 0;
}

std::optional<Response> KeyAuth::admit(const std::optional<auth::Action>& action, Request& req) const {
  const bool writes = req.method == "POST" || req.method == "PUT" || req.method == "DELETE";
  if (writes && !same_origin_or_allowed(req, allowed_origins_)) {
    std::string origin = req.header("origin").substr(0, 200);
    return error_response(Status::permission_denied("cross-origin " + req.method + " from '" + origin +
                                                    "' refused (same origin only; see --allow-origin)"));
  }
  if (!action) return std::nullopt;
  if (req.headers.count(auth::kPeerHeader)) return admit_peer(action, req);
  const std::string authorization = req.header("authorization");
  if (req.path == "/metrics" && authn_.is_metrics_token(authorization)) {
    req.caller = "metrics-scraper";
    return std::nullopt;
  }
  auth::Admission in = authn_.admit(authorization, *action);
  if (in.status.is_ok()) {
    if (in.principal) {
      req.caller = in.principal->name;
      req.principal = std::move(in.principal);
    }
    return std::nullopt;
  }
  if (in.status.code() == StatusCode::kResourceExhausted) {
    Response r = error_response(429, "rate_limited", in.status.message());
    r.headers.emplace_back("Retry-After", std::to_string(in.retry_after_seconds));
    return r;
  }
  Response r = error_response(in.status);
  if (in.status.code() == StatusCode::kUnauthenticated) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"ragd\"");
  }
  return r;
}

std::optional<Response> KeyAuth::admit_peer(const std::optional<auth::Action>& action, Request& req) const {
  if (peer_secrets_.empty() || peer_secrets_.front().empty()) {
    return error_response(auth::unauthenticated("X-Ragd-Peer: this node has no cluster secret to check it with"));
  }
  // The signing secret first, then those accepted during a rotation; the
  // first one's refusal is the answer when none admits it.
  Result<std::string> node = Status::internal("no secret");
  for (size_t i = 0; i < peer_secrets_.size(); ++i) {
    auto got = auth::verify_peer_request(peer_secrets_[i], peer_cluster_, req.header(auth::kPeerHeader),
                                         auth::peer_clock_ms(), req.method, req.target, req.body);
    if (i == 0 || got.is_ok()) node = std::move(got);
    if (node.is_ok()) break;
  }
  if (!node.is_ok()) return error_response(node.status());
  if (action != auth::Action::kSearch || req.method != "POST" || req.path != "/v1/search" ||
      !cluster::is_shard_collection(req.collection)) {
    return error_response(
        Status::permission_denied("a peer's signature admits only searches of a shard replica "
                                  "(POST /v1/collections/shard-<s>/search)"));
  }
  req.peer = *node;
  req.caller = "peer:" + *node;
  return std::nullopt;
}

void bind_groups(const Request& req, SearchRequest& search) {
  if (req.principal) search.groups = auth::narrow_groups(*req.principal, search.groups);
}

void bind_bound_groups(const Request& req, SearchRequest& search) {
  if (req.principal && !search.groups.empty()) search.groups = auth::narrow_groups(*req.principal, search.groups);
}

std::vector<std::string> read_groups(const Request& req) {
  std::vector<std::string> groups = query_groups(req);
  if (req.principal) groups = auth::narrow_groups(*req.principal, groups);
  return groups;
}

bool may_read(const Request& req, const std::vector<std::string>& acl) {
  if (acl.empty()) return true;
  const std::vector<std::string> groups = read_groups(req);
  return std::any_of(acl.begin(), acl.end(), [&](const std::string& g) { return holds(groups, g); });
}

bool may_write(const Request& req, const std::vector<std::string>& acl) {
  // An admin can mint a key with any groups, so holding it back would only
  // be a detour.
  if (!req.principal || req.principal->role == auth::Role::kAdmin) return true;
  return auth::groups_cover(req.principal->groups, acl);
}

}  // namespace ragd::api
