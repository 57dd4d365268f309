// What leaves the box: redact.h replaces e-mail addresses, IPs, host names,
// names and configured patterns, and leaves error codes and record ids.
#include <gtest/gtest.h>

#include "govern/escalation.h"
#include "govern/redact.h"

namespace ragd::govern {
namespace {

TEST(Redactor, ReplacesEachKindAndCountsThem) {
  auto r = Redactor::make({"CASE-[0-9]+"});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  RedactionCounts c;
  const std::string out = r->redact(
      "Mail jane.roe@acme.example or ops+vpn@it.acme.co.uk; server 10.20.30.40 and fe80::1ff:fe23:4567:890a, "
      "host db-prod-03 and https://print.corp.acme.com/queue. Jane Roe raised CASE-4411 about ORA-12541 on "
      "INC0012402 at 10:30.",
      {"Jane Roe", "  ", "Al"}, &c);
  for (const char* gone : {"jane.roe@acme.example", "ops+vpn@it.acme.co.uk", "10.20.30.40", "fe80::1ff", "db-prod-03",
                           "print.corp.acme.com", "Jane Roe", "CASE-4411"}) {
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in: " << out;
  }
  for (const char* kept : {"ORA-12541", "INC0012402", "10:30", "https://[HOST]/queue"}) {
    EXPECT_NE(out.find(kept), std::string::npos) << kept << " missing in: " << out;
  }
  EXPECT_EQ(c.emails, 2);
  EXPECT_EQ(c.ips, 2);
  EXPECT_EQ(c.hosts, 2);
  EXPECT_EQ(c.names, 1);
  EXPECT_EQ(c.patterns, 1);
  EXPECT_EQ(c.total(), 8);
}

TEST(Redactor, NamesAreWholeWordsAndCaseInsensitive) {
  auto r = Redactor::make({});
  ASSERT_TRUE(r.is_ok());
  RedactionCounts c;
  EXPECT_EQ(r->redact("ALICE SMITH called; alicesmithson did not; Alice Smith again.", {"Alice Smith"}, &c),
            "[NAME] called; alicesmithson did not; [NAME] again.");
  EXPECT_EQ(c.names, 2);
  // The longer name first, so the shorter one does not split it.
  EXPECT_EQ(r->redact("Ann Lee and Ann Leeds", {"Ann", "Ann Leeds"}), "[NAME] Lee and [NAME]");
}

TEST(Redactor, TextWithoutPersonalDataIsUnchanged) {
  auto r = Redactor::make({});
  ASSERT_TRUE(r.is_ok());
  const std::string text = "Restart the VPN client, then run ipconfig /flushdns (error 809, step 2.1).";
  RedactionCounts c;
  EXPECT_EQ(r->redact(text, {}, &c), text);
  EXPECT_EQ(c.total(), 0);
}

TEST(Redactor, BadPatternIsAClearError) {
  auto r = Redactor::make({"([unclosed"});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("([unclosed"), std::string::npos) << r.status().message();
  EXPECT_FALSE(Redactor::make({""}).is_ok());
}

TEST(EscalationPolicies, ParsesTablesWithDefaults) {
  const std::string toml =
      "listen = \"127.0.0.1:8080\"\n"
      "[[escalation]]\n"
      "collection = \"kb2\"\n"
      "allow = true\n"
      "url = \"http://127.0.0.1:9/v1/\"\n"
      "model = \"big\"\n"
      "key_env = \"UPSTREAM_KEY\"\n"
      "redact = [\"CASE-[0-9]+\", \"SECRET\"]\n"
      "max_passages = 2\n"
      "\n"
      "[[escalation]]\n"
      "collection = \"default\"\n"
      "allow = false\n";
  auto p = parse_escalation_policies(toml, "ragd.toml");
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  ASSERT_EQ(p->size(), 2u);
  const EscalationPolicy& a = (*p)[0];
  EXPECT_EQ(a.collection, "kb2");
  EXPECT_TRUE(a.allow);
  EXPECT_EQ(a.url, "http://127.0.0.1:9/v1");
  EXPECT_EQ(a.model, "big");
  EXPECT_EQ(a.key_env, "UPSTREAM_KEY");
  EXPECT_EQ(a.redact, (std::vector<std::string>{"CASE-[0-9]+", "SECRET"}));
  EXPECT_EQ(a.max_passages, 2);
  EXPECT_EQ(a.max_tokens, 512);
  EXPECT_EQ(a.line, 2);
  EXPECT_FALSE((*p)[1].allow);
  EXPECT_EQ((*p)[1].line, 11);
}

TEST(EscalationPolicies, ErrorsNameTheLine) {
  struct Case {
    std::string toml, expect;
  };
  const std::vector<Case> cases = {
      {"[[escalation]]\ncollection = \"kb2\"\nallow = true\nmodel = \"m\"\n", "ragd.toml:1: escalation 'kb2': allow = true needs url"},
      {"[[escalation]]\nallow = true\nurl = \"http://x/v1\"\n", "needs model"},
      {"[[escalation]]\napi_key = \"sk-123\"\n", "ragd.toml:2: 'api_key' would put a secret in the config file"},
      {"[[escalation]]\nallow = yes\n", "ragd.toml:2: allow must be true or false"},
      {"[[escalation]]\ncolour = \"red\"\n", "ragd.toml:2: unknown key 'colour'"},
      {"[[escalation]]\ncollection = \"Bad Name\"\n", "is not a collection name"},
      {"[[escalation]]\nallow = true\nurl = \"http://x/v1\"\nmodel = \"m\"\nredact = [\"(\"]\n", "not a valid regular expression"},
      {"[[escalation]]\n[[escalation]]\n", "ragd.toml:2: collection 'default' has two [[escalation]] tables"},
      {"[[escalation]]\nmax_tokens = 0\n", "'max_tokens' must be a whole number"},
  };
  for (const auto& c : cases) {
    auto p = parse_escalation_policies(c.toml, "ragd.toml");
    ASSERT_FALSE(p.is_ok()) << c.toml;
    EXPECT_NE(p.status().message().find(c.expect), std::string::npos) << p.status().message();
    EXPECT_EQ(p.status().message().find("sk-123"), std::string::npos);
  }
}

TEST(EscalationPolicies, RequestBodyIsOpenAiChat) {
  EscalationPolicy p;
  p.model = "big";
  p.max_tokens = 64;
  const std::string body = escalation_request_body(p, "why?", {"T1", "T2"}, {"first passage", "second passage"});
  EXPECT_NE(body.find("\"model\":\"big\""), std::string::npos) << body;
  EXPECT_NE(body.find("[1] T1\\nfirst passage"), std::string::npos) << body;
  EXPECT_NE(body.find("[2] T2\\nsecond passage"), std::string::npos) << body;
  EXPECT_NE(body.find("Question: why?"), std::string::npos) << body;
  EXPECT_NE(body.find("\"max_tokens\":64"), std::string::npos) << body;
}

}  // namespace
}  // namespace ragd::govern
