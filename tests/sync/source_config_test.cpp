// [[source]] tables from the config file: values, defaults and file:line errors.
#include <gtest/gtest.h>

#include "sync/source.h"

namespace ragd::sync {
namespace {

const char* kGood = R"(data = "/var/lib/ragd"

[[source]]
name = "sn-incidents"
type = "servicenow"
url = "https://acme.service-now.com/"
table = "incident"
query = "active=false^state=7"
auth = "basic"
user = "svc_ragd"
secret_env = "SN_PASSWORD"
interval = "5m"
acl_groups = ["itsm-agents", "l2"]
webhook_secret_env = "SN_HOOK_SECRET"

[[source]]
name = "jsm"
type = "jira"
url = "https://acme.atlassian.net"
auth = "bearer"
secret_file = "/run/secrets/jira"
page_size = 50
)";

TEST(SourceConfig, ReadsArrayOfTables) {
  auto r = parse_sources(kGood, "ragd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 2u);
  const SourceConfig& sn = (*r)[0];
  EXPECT_EQ(sn.name, "sn-incidents");
  EXPECT_EQ(sn.type, SourceType::kServiceNow);
  EXPECT_EQ(sn.url, "https://acme.service-now.com");
  EXPECT_EQ(sn.query, "active=false^state=7");
  EXPECT_EQ(sn.auth, AuthKind::kBasic);
  EXPECT_EQ(sn.user, "svc_ragd");
  EXPECT_EQ(sn.secret_env, "SN_PASSWORD");
  EXPECT_EQ(sn.interval_seconds, 300);
  EXPECT_EQ(sn.acl_groups, (std::vector<std::string>{"itsm-agents", "l2"}));
  EXPECT_EQ(sn.webhook_secret_env, "SN_HOOK_SECRET");
  EXPECT_EQ(sn.line, 3);
  const SourceConfig& j = (*r)[1];
  EXPECT_EQ(j.type, SourceType::kJira);
  EXPECT_EQ(j.auth, AuthKind::kBearer);
  EXPECT_EQ(j.secret_file, "/run/secrets/jira");
  EXPECT_EQ(j.page_size, 50);
  EXPECT_EQ(j.line, 16);
}

void expect_error(const std::string& toml, const std::string& needle) {
  auto r = parse_sources(toml, "ragd.toml");
  ASSERT_FALSE(r.is_ok()) << "accepted: " << toml;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(SourceConfig, ErrorsNameFileAndLine) {
  const std::string head = "[[source]]\nname = \"a\"\ntype = \"zendesk\"\nurl = \"https://x.zendesk.com\"\n";
  expect_error(head + "colour = \"red\"\n", "ragd.toml:5: unknown key 'colour'");
  expect_error(head + "password = \"hunter2\"\n", "ragd.toml:5: 'password' would put a secret in the config file");
  expect_error("[[source]]\nname = \"a\"\ntype = \"snow\"\n", "ragd.toml:3: unknown source type 'snow'");
  expect_error(head + "interval = \"soon\"\n", "ragd.toml:5: interval must look like");
  expect_error(head + "page_size = 0\n", "ragd.toml:5: 'page_size' must be a whole number");
  expect_error("[[source]]\ntype = \"jira\"\nurl = \"https://x\"\n", "ragd.toml:1: [[source]] has no name");
  expect_error("[[source]]\nname = \"a\"\ntype = \"jira\"\nurl = \"ftp://x\"\n", "url must start with https://");
  expect_error(head + "auth = \"basic\"\nuser = \"u\"\n", "auth needs secret_env or secret_file");
  expect_error(head + "auth = \"basic\"\nsecret_env = \"X\"\n", "needs user");
  expect_error(head + head, "ragd.toml:5: source name 'a' is used twice");
  expect_error(head + "table = \"incident\"\n", "table applies to servicenow sources only");
}

TEST(SourceConfig, KbDefaultsAndIntervals) {
  auto r = parse_sources("[[source]]\nname=\"kb\"\ntype=\"servicenow-kb\"\nurl=\"https://a\"\ninterval=\"90\"\n", "f");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].table, "kb_knowledge");
  EXPECT_EQ((*r)[0].interval_seconds, 90);
  EXPECT_EQ(parse_interval("2h"), 7200);
  EXPECT_EQ(parse_interval("1d"), 86400);
  EXPECT_FALSE(parse_interval("0s"));
  EXPECT_FALSE(parse_interval("m"));
  EXPECT_FALSE(parse_interval("-5m"));
}

TEST(SourceConfig, SecretsFromEnvironmentOrFile) {
  SourceConfig s;
  s.name = "a";
  s.secret_env = "RAGD_SYNC_TEST_SECRET";
  ::setenv("RAGD_SYNC_TEST_SECRET", "s3cret", 1);
  auto v = load_secret(s);
  ASSERT_TRUE(v.is_ok());
  EXPECT_EQ(*v, "s3cret");
  ::unsetenv("RAGD_SYNC_TEST_SECRET");
  auto missing = load_secret(s);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("RAGD_SYNC_TEST_SECRET"), std::string::npos);
}

}  // namespace
}  // namespace ragd::sync
