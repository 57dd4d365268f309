// The authentication hook of the route table (router.h) when API keys or a
// token issuer are configured: auth::Authenticator decides, this file only
// speaks HTTP. It fills Request::principal and Request::caller, and turns a
// refusal into 401 (with WWW-Authenticate), 403 or 429 (with Retry-After).
//
// /metrics also takes the scrape token (--metrics-token) in place of an
// admin credential.
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
  // `authn` must outlive the hook.
  explicit KeyAuth(const auth::Authenticator& authn) : authn_(authn) {}
  std::optional<Response> admit(const std::optional<auth::Action>& action, Request& req) const override;

 private:
  const auth::Authenticator& authn_;
};

// The groups a request searches with: with an authenticated caller, the
// request's `groups` narrowed to the caller's (never widened); without one
// (authentication off), the request's as given.
void bind_groups(const Request& req, SearchRequest& search);

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
