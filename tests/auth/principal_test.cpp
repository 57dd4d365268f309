#include "auth/principal.h"

#include <gtest/gtest.h>

namespace ragd::auth {
namespace {

TEST(Principal, RolesAllowTheActionsOfIssue11) {
  const Action reader_actions[] = {Action::kSearch, Action::kAnswer, Action::kChat, Action::kEmbed,
                                   Action::kGetDocument};
  const Action writer_actions[] = {Action::kPostDocument, Action::kDeleteDocument};
  const Action admin_actions[] = {Action::kManageKeys, Action::kReindex, Action::kSync, Action::kTrainTriage, Action::kStats};
  for (Action a : reader_actions) {
    EXPECT_TRUE(role_allows(Role::kReader, a)) << action_name(a);
    EXPECT_TRUE(role_allows(Role::kWriter, a)) << action_name(a);
    EXPECT_TRUE(role_allows(Role::kAdmin, a)) << action_name(a);
  }
  for (Action a : writer_actions) {
    EXPECT_FALSE(role_allows(Role::kReader, a)) << action_name(a);
    EXPECT_TRUE(role_allows(Role::kWriter, a)) << action_name(a);
    EXPECT_TRUE(role_allows(Role::kAdmin, a)) << action_name(a);
  }
  for (Action a : admin_actions) {
    EXPECT_FALSE(role_allows(Role::kReader, a)) << action_name(a);
    EXPECT_FALSE(role_allows(Role::kWriter, a)) << action_name(a);
    EXPECT_TRUE(role_allows(Role::kAdmin, a)) << action_name(a);
  }
}

TEST(Principal, RoleNamesRoundTripAndBadOnesAreRefused) {
  for (Role r : {Role::kReader, Role::kWriter, Role::kAdmin}) {
    auto parsed = parse_role(role_name(r));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, r);
  }
  for (const char* bad : {"", "Admin", "root", "reader "}) {
    auto parsed = parse_role(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(Principal, RequestedGroupsOnlyNarrow) {
  Principal p{"alice", Role::kReader, {"ops", "security-team"}, "", Via::kKey};
  EXPECT_EQ(narrow_groups(p, {}), p.groups);
  EXPECT_EQ(narrow_groups(p, {"security-team"}), std::vector<std::string>{"security-team"});
  // A group the caller lacks is dropped, never added.
  EXPECT_EQ(narrow_groups(p, {"finance", "ops", "ops"}), std::vector<std::string>{"ops"});
  EXPECT_TRUE(narrow_groups(p, {"finance"}).empty());
  Principal nobody{"bob", Role::kReader, {}, "", Via::kJwt};
  EXPECT_TRUE(narrow_groups(nobody, {"security-team"}).empty());
}

TEST(Principal, CollectionBinding) {
  Principal all{"a", Role::kReader, {}, "", Via::kKey};
  Principal one{"b", Role::kReader, {}, "hr", Via::kKey};
  EXPECT_TRUE(collection_allows(all, "hr"));
  EXPECT_TRUE(collection_allows(all, ""));
  EXPECT_TRUE(collection_allows(one, "hr"));
  EXPECT_FALSE(collection_allows(one, "it"));
  EXPECT_FALSE(collection_allows(one, ""));
}

TEST(Principal, UnauthenticatedIsRecognisable) {
  Status s = unauthenticated("bad key");
  EXPECT_FALSE(s.is_ok());
  EXPECT_TRUE(is_unauthenticated(s));
  EXPECT_FALSE(is_unauthenticated(Status::failed_precondition("needs reindex")));
  EXPECT_FALSE(is_unauthenticated(Status::ok()));
  EXPECT_FALSE(is_unauthenticated(Status::internal("unauthenticated: no")));
}

}  // namespace
}  // namespace ragd::auth
