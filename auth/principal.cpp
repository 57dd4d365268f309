#include "auth/principal.h"

#include <algorithm>

namespace ragd::auth {

namespace {
constexpr std::string_view kUnauthenticatedPrefix = "unauthenticated: ";
}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case Role::kReader: return "reader";
    case Role::kWriter: return "writer";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

Result<Role> parse_role(std::string_view name) {
  if (name == "reader") return Role::kReader;
  if (name == "writer") return Role::kWriter;
  if (name == "admin") return Role::kAdmin;
  return Status::invalid_argument("unknown role (expected reader, writer or admin)");
}

const char* action_name(Action action) {
  switch (action) {
    case Action::kSearch: return "search";
    case Action::kAnswer: return "answer";
    case Action::kChat: return "chat";
    case Action::kEmbed: return "embed";
    case Action::kGetDocument: return "get document";
    case Action::kPostDocument: return "post document";
    case Action::kDeleteDocument: return "delete document";
    case Action::kManageKeys: return "manage keys";
    case Action::kReindex: return "reindex";
    case Action::kSync: return "sync";
    case Action::kTrainTriage: return "train triage";
    case Action::kStats: return "stats";
  }
  return "unknown";
}

Role required_role(Action action) {
  switch (action) {
    case Action::kSearch:
    case Action::kAnswer:
    case Action::kChat:
    case Action::kEmbed:
    case Action::kGetDocument: return Role::kReader;
    case Action::kPostDocument:
    case Action::kDeleteDocument: return Role::kWriter;
    case Action::kManageKeys:
    case Action::kReindex:
    case Action::kSync:
    case Action::kTrainTriage:
    case Action::kStats: return Role::kAdmin;
  }
  return Role::kAdmin;  // an unknown action needs the most
}

bool role_allows(Role role, Action action) {
  return static_cast<int>(role) >= static_cast<int>(required_role(action));
}

std::vector<std::string> narrow_groups(const Principal& principal,
                                       const std::vector<std::string>& requested) {
  if (requested.empty()) return principal.groups;
  std::vector<std::string> out;
  for (const auto& g : requested) {
    bool held = std::find(principal.groups.begin(), principal.groups.end(), g) != principal.groups.end();
    bool seen = std::find(out.begin(), out.end(), g) != out.end();
    if (held && !seen) out.push_back(g);
  }
  return out;
}

bool groups_cover(const std::vector<std::string>& groups, const std::vector<std::string>& acl) {
  return std::all_of(acl.begin(), acl.end(),
                     [&](const std::string& g) { return std::find(groups.begin(), groups.end(), g) != groups.end(); });
}

bool collection_allows(const Principal& principal, std::string_view collection) {
  return principal.collection.empty() || principal.collection == collection;
}

Status unauthenticated(std::string message) {
  return Status::unauthenticated(std::string(kUnauthenticatedPrefix) + message);
}

bool is_unauthenticated(const Status& status) {
  return status.code() == StatusCode::kUnauthenticated;
}

}  // namespace ragd::auth
