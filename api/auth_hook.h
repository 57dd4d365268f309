// The authentication hook of the route table (router.h) when API keys or a
// token issuer are configured: auth::Authenticator decides, this file only
// speaks HTTP. It fills Request::principal and Request::caller, and turns a
// refusal into 401 (with WWW-Authenticate), 403 or 429 (with Retry-After).
//
// /metrics also takes the scrape token (--metrics-token) in place of an
// admin credential.
//
// Cross-site requests: a POST, PUT or DELETE whose Origin header names
// another site than the Host it was sent to (and is not in --allow-origin)
// is refused with 403 before anything else, so a web page elsewhere cannot
// make a browser on the inside write or delete documents (CSRF). Requests
// without Origin (curl, SDKs) are not affected.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/http_types.h"
#include "api/router.h"
#include "auth/authenticator.h"
#include "ragd/document.h"
#include "ragd/search.h"

namespace ragd::api {

class KeyAuth final : public Authenticator {
 public:
  // `authn` must outlive the hook. `allowed_origins`: other origins
  // ("https://portal.example.com") that may send writes.
  explicit KeyAuth(const auth::Authenticator& authn, std::vector<std::string> allowed_origins = {})
      : authn_(authn), allowed_origins_(std::move(allowed_origins)) {}
  // A cluster node's secret (cluster/options.h secret_file) and cluster
  // name: a request signed with them (X-Ragd-Peer, auth/peer.h) is
  // admitted without a key, as Request::peer, for a search of a shard
  // replica only (POST /v1/collections/shard-<s>/search; 403 for any other
  // route); a bad or expired signature is 401. Call before serving.
  // `also`: secrets accepted as well, during a rotation (never signed with).
  void accept_peers(std::string secret, std::string cluster, std::vector<std::string> also = {}) {
    peer_secrets_ = {std::move(secret)};
    for (auto& s : also) peer_secrets_.push_back(std::move(s));
    peer_cluster_ = std::move(cluster);
  }
  std::optional<Response> admit(const std::optional<auth::Action>& action, Request& req) const override;

 private:
  std::optional<Response> admit_peer(const std::optional<auth::Action>& action, Request& req) const;

  const auth::Authenticator& authn_;
  std::vector<std::string> allowed_origins_;
  std::vector<std::string> peer_secrets_;  // the signing one first
  std::string peer_cluster_;
};

// The groups a request searches with: with an authenticated caller, the
// request's `groups` narrowed to the caller's (never widened); without one
// (authentication off), the request's as given.
void bind_groups(const Request& req, SearchRequest& search);
// The same for groups that a cluster's coordinator has bound already (a
// shard phase, cluster/shard_search.h): the key's groups among them, and
// none when the list is empty, since the coordinator's binding left it so
// (bind_groups would read an empty list as "all of the key's groups").
void bind_bound_groups(const Request& req, SearchRequest& search);

// True when the request carries no Origin, or one naming the Host it was
// sent to, or one of `allowed`.
bool same_origin_or_allowed(const Request& req, const std::vector<std::string>& allowed);

// The groups a caller reads documents by: the request's `?groups=`, narrowed
// to an authenticated caller's (all of theirs when it names none).
std::vector<std::string> read_groups(const Request& req);

// Whether the caller may read a document with this ACL: with an
// authenticated caller, when the ACL is empty or shares one of the caller's
// groups (narrowed by `?groups=`); without one, by the request's `?groups=`.
bool may_read(const Request& req, const std::vector<std::string>& acl);

// Whether the caller may replace or delete a document with this ACL, or give
// a document this ACL: its groups must hold every group of the ACL. Always
// true for an admin (who could mint such a key) and without an
// authenticated caller. Reads stay bound to the caller's groups, admins'
// too.
bool may_write(const Request& req, const std::vector<std::string>& acl);

}  // namespace ragd::api
