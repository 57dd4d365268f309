// Who is calling, and what they may do. A Principal comes from a verified API
// key (key_store.h) or a verified OIDC/JWT bearer token (jwt.h); the HTTP layer
// asks role_allows() before a route runs and narrow_groups() before a search.
// Everything here is a pure function of its arguments and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragd/status.h"

namespace ragd::auth {

// Roles are ordered: each one may do everything the one before it may.
enum class Role { kReader = 0, kWriter = 1, kAdmin = 2 };

// "reader", "writer", "admin".
const char* role_name(Role role);
// The inverse of role_name(); anything else is kInvalidArgument.
Result<Role> parse_role(std::string_view name);

// What a request wants to do. One per route class of issue 11.
enum class Action {
  kSearch,          // reader
  kAnswer,          // reader
  kChat,            // reader
  kEmbed,           // reader
  kGetDocument,     // reader
  kPostDocument,    // writer
  kDeleteDocument,  // writer
  kManageKeys,      // admin
  kReindex,         // admin
  kSync,            // admin
  kTrainTriage,     // admin
  kStats,           // admin
};

const char* action_name(Action action);
// The lowest role that may perform `action`.
Role required_role(Action action);
bool role_allows(Role role, Action action);

// How the caller proved who they are.
enum class Via { kKey, kJwt };

struct Principal {
  // The key's name, or the token's subject claim.
  std::string name;
  Role role = Role::kReader;
  // ACL groups the caller belongs to. A document with an ACL is visible only
  // when it shares one of them.
  std::vector<std::string> groups;
  // The one collection the caller may use; "" means every collection.
  std::string collection;
  Via via = Via::kKey;
};

// The groups a request may search with. A request's `groups` can only narrow
// the principal's: empty `requested` means all of the principal's groups;
// otherwise the result is the requested groups the principal has, in request
// order without duplicates. Groups the principal lacks are dropped, so the
// result may be empty, which sees only documents without an ACL.
std::vector<std::string> narrow_groups(const Principal& principal,
                                       const std::vector<std::string>& requested);

// True when `groups` hold every group of `acl`: what a writer that is not an
// admin needs to write a document with that ACL, and to replace or delete a
// stored one (no one can unrestrict a document, or restrict one to groups
// they lack). An empty ACL is covered by any groups.
bool groups_cover(const std::vector<std::string>& groups, const std::vector<std::string>& acl);

// True when the principal may use `collection` ("" = the default collection).
bool collection_allows(const Principal& principal, std::string_view collection);

// A failed authentication: a missing, malformed, unknown, revoked, expired or
// badly signed credential: kUnauthenticated, which the HTTP layer answers
// with 401 (api/status_http.h). The message starts "unauthenticated: ".
Status unauthenticated(std::string message);
bool is_unauthenticated(const Status& status);

}  // namespace ragd::auth
