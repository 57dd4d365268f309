// Ticket exports: ServiceNow, Jira, Zendesk; malformed records.
#include <gtest/gtest.h>

#include "connectors/connector.h"
#include "tests/connectors/test_files.h"

namespace ragd {
namespace {

using testing::Collected;

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::vector<const Block*> blocks_of(const Document& d, const std::string& role) {
  std::vector<const Block*> out;
  for (const auto& b : d.blocks)
    if (b.role == role) out.push_back(&b);
  return out;
}

const char* kServiceNowTable = R"js({"result":[
 {"number":"INC0012345","sys_id":"abc123","short_description":"VPN error 809 from hotel",
  "description":"Hotel Wi-Fi blocks the VPN.\nLaptop NWL-LT-04127.",
  "comments":"2024-03-02 10:15:00 - Anna Schmidt (Additional comments)\nStill broken after reboot.\n\n2024-03-02 10:11:12 - Jane Doe (Additional comments)\nPlease try the SSTP profile.\n",
  "work_notes":"2024-03-02 10:20:00 - Jane Doe (Work notes)\nIKEv2 UDP 500 blocked by hotel.",
  "close_notes":"Switched the user to NW-VPN-SSTP; connected.","close_code":"Solved (Permanently)",
  "category":"Network","assignment_group":{"display_value":"Network Operations","value":"8a4d","link":"https://x/api"},
  "priority":{"display_value":"2 - High","value":"2"},"state":"Closed",
  "sys_created_on":"2024-03-02 09:58:00","sys_updated_on":"2024-03-02 11:00:00"},
 {"number":"INC0012346","short_description":"Printer offline","assignment_group":{"link":"https://x","value":"77ff"},
  "opened_at":"2024-03-03 08:00:00"}
]})js";

TEST(ServiceNow, TableApiRecordBecomesTicketWithBlocks) {
  Collected c;
  ASSERT_TRUE(fetch_buffer(kServiceNowTable, "tickets/sn.json", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 2u) << c.error_text();
  const Document& d = *c.find("INC0012345");
  EXPECT_EQ(d.kind, "ticket");
  EXPECT_EQ(d.source, "servicenow");
  EXPECT_EQ(d.title, "INC0012345: VPN error 809 from hotel");
  EXPECT_EQ(d.origin, "tickets/sn.json record 1");
  EXPECT_EQ(d.metadata.at("assignment_group"), "Network Operations");
  EXPECT_EQ(d.metadata.at("priority"), "2 - High");
  EXPECT_EQ(d.metadata.at("close_code"), "Solved (Permanently)");
  EXPECT_EQ(d.metadata.at("category"), "Network");
  EXPECT_EQ(d.metadata.at("state"), "Closed");
  EXPECT_EQ(d.created_at, 1709373480);
  EXPECT_EQ(d.updated_at, 1709377200);
  auto problem = blocks_of(d, "problem");
  ASSERT_EQ(problem.size(), 1u);
  EXPECT_TRUE(problem[0]->text.starts_with("INC0012345: VPN error 809 from hotel\n\nHotel Wi-Fi"));
  auto resolution = blocks_of(d, "resolution");
  ASSERT_EQ(resolution.size(), 1u);
  EXPECT_TRUE(contains(resolution[0]->text, "NW-VPN-SSTP"));
  auto comments = blocks_of(d, "comment");
  ASSERT_EQ(comments.size(), 3u);  // two journal entries in comments, one in work_notes
  // Oldest first, across comments and work notes.
  EXPECT_TRUE(comments[0]->text.starts_with("2024-03-02 10:11:12 - Jane Doe (Additional comments)\nPlease"));
  EXPECT_TRUE(comments[1]->text.starts_with("2024-03-02 10:15:00 - Anna Schmidt (Additional comments)\nStill"));
  EXPECT_TRUE(contains(comments[2]->text, "(Work notes)\nIKEv2"));
  const Document& e = *c.find("INC0012346");
  EXPECT_EQ(e.metadata.at("assignment_group"), "77ff");
  EXPECT_EQ(e.created_at, 1709452800);
  EXPECT_TRUE(blocks_of(e, "resolution").empty());
}

TEST(ServiceNow, JsonV2RecordsAndForcedFormat) {
  const char* v2 = R"js({"records":[{"number":"INC1","short_description":"A","description":"B"}]})js";
  Collected c;
  FetchOptions opts;
  opts.format = SourceFormat::kServiceNow;
  ASSERT_TRUE(fetch_buffer(v2, "export", opts, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  EXPECT_EQ(c.docs[0].id, "INC1");
  Collected auto_c;
  ASSERT_TRUE(fetch_buffer(v2, "x.json", {}, auto_c.sink()).is_ok());
  EXPECT_EQ(auto_c.docs.size(), 1u);
}

TEST(ServiceNow, BadRecordIsNamedAndTheRestGoesIn) {
  const char* json = R"js({"result":[
    {"number":"INC1","short_description":"ok"},
    {"number":["INC2"],"short_description":"bad number"},
    "not an object",
    {"number":"INC4","sys_updated_on":"yesterday-ish"},
    {"short_description":"no number"},
    {"number":"INC6","short_description":"ok too"}]})js";
  Collected c;
  ASSERT_TRUE(fetch_buffer(json, "tickets/sn.json", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 2u) << c.error_text();
  EXPECT_NE(c.find("INC1"), nullptr);
  EXPECT_NE(c.find("INC6"), nullptr);
  ASSERT_EQ(c.errors.size(), 4u) << c.error_text();
  EXPECT_EQ(c.errors[0].message(), "tickets/sn.json: record 2: 'number' is not a string");
  EXPECT_EQ(c.errors[1].message(), "tickets/sn.json: record 3: not a JSON object");
  EXPECT_TRUE(contains(c.errors[2].message(), "record 4 (INC4): 'sys_updated_on' is not a timestamp"))
      << c.errors[2].message();
  EXPECT_EQ(c.errors[3].message(), "tickets/sn.json: record 5: missing field 'number'");
}

TEST(ServiceNow, TruncatedJsonNamesTheFileAndKeepsCompleteRecords) {
  std::string json = kServiceNowTable;
  const size_t second = json.find(R"js({"number":"INC0012346")js");
  ASSERT_NE(second, std::string::npos);
  // Cut inside the second record: the first still goes in.
  Collected c;
  ASSERT_TRUE(fetch_buffer(json.substr(0, second + 30), "tickets/sn.json", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  EXPECT_EQ(c.docs[0].id, "INC0012345");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_TRUE(c.errors[0].message().starts_with("tickets/sn.json: invalid JSON at byte")) << c.errors[0].message();
  EXPECT_TRUE(contains(c.errors[0].message(), "read the 1 complete record(s) before it")) << c.errors[0].message();
  // Cut inside the first record: nothing to keep, one clear error.
  Collected d;
  ASSERT_TRUE(fetch_buffer(json.substr(0, second / 2), "tickets/sn.json", {}, d.sink()).is_ok());
  EXPECT_TRUE(d.docs.empty());
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_TRUE(contains(d.errors[0].message(), "(truncated?)")) << d.errors[0].message();
  // A bare array (JSONv2 style) recovers too.
  Collected e;
  ASSERT_TRUE(fetch_buffer(R"js([{"number":"INC1"},{"number":"INC2"},{"numb)js", "a.json", {}, e.sink()).is_ok());
  EXPECT_EQ(e.docs.size(), 2u);
  EXPECT_EQ(e.errors.size(), 1u);
}

const char* kJira = R"js({"startAt":0,"issues":[{"key":"JIRA-4411","self":"https://acme.atlassian.net/rest/api/3/issue/10001",
 "fields":{"summary":"ORA-00942 after deploy","issuetype":{"name":"Bug"},"status":{"name":"Done"},
  "priority":{"name":"High"},"resolution":{"name":"Fixed"},"labels":["oracle","deploy"],
  "reporter":{"displayName":"Bob Lee"},
  "components":[{"name":"billing-db"},{"name":"api"}],
  "created":"2024-04-01T09:00:00.000+0200","updated":"2024-04-02T10:30:00.000+0000",
  "description":{"type":"doc","version":1,"content":[
    {"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"Symptom"}]},
    {"type":"paragraph","content":[{"type":"text","text":"Query fails with "},{"type":"text","text":"ORA-00942","marks":[{"type":"code"}]},
      {"type":"hardBreak"},{"type":"text","text":"since 1.4.2, says "},{"type":"mention","attrs":{"id":"x","text":"@Bob"}}]},
    {"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"first"}]}]},
      {"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"second"}]}]}]},
    {"type":"codeBlock","attrs":{"language":"sql"},"content":[{"type":"text","text":"SELECT * FROM billing.invoices;"}]}]},
  "comment":{"comments":[
    {"author":{"displayName":"Bob Lee"},"created":"2024-04-01T10:00:00.000+0000","body":"Looking at grants."},
    {"author":{"displayName":"Ann Yu"},"created":"2024-04-02T10:00:00.000+0000",
     "body":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Granted SELECT to app_user; fixed."}]}]}}]}}},
 {"key":"JIRA-4412","fields":{"summary":"Plain","description":"plain *wiki* text","comment":{"comments":[]}}},
 {"key":"JIRA-4413","fields":{"summary":"Bad","description":42}}
]})js";

TEST(Jira, AdfDescriptionCommentsAndResolution) {
  Collected c;
  ASSERT_TRUE(fetch_buffer(kJira, "jira.json", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 2u) << c.error_text();
  const Document& d = *c.find("JIRA-4411");
  EXPECT_EQ(d.source, "jira");
  EXPECT_EQ(d.url, "https://acme.atlassian.net/browse/JIRA-4411");
  EXPECT_EQ(d.metadata.at("status"), "Done");
  EXPECT_EQ(d.metadata.at("resolution"), "Fixed");
  EXPECT_EQ(d.metadata.at("labels"), "oracle,deploy");
  EXPECT_EQ(d.metadata.at("components"), "billing-db,api");
  EXPECT_EQ(d.metadata.at("issuetype"), "Bug");
  EXPECT_EQ(d.created_at, 1711954800);
  EXPECT_EQ(d.updated_at, 1712053800);
  auto problem = blocks_of(d, "problem");
  ASSERT_EQ(problem.size(), 1u);
  const std::string& p = problem[0]->text;
  EXPECT_TRUE(contains(p, "Symptom\n\nQuery fails with ORA-00942\nsince 1.4.2, says @Bob")) << p;
  EXPECT_TRUE(contains(p, "- first\n- second")) << p;
  EXPECT_TRUE(contains(p, "SELECT * FROM billing.invoices;")) << p;
  auto resolution = blocks_of(d, "resolution");
  ASSERT_EQ(resolution.size(), 1u);
  EXPECT_TRUE(contains(resolution[0]->text, "Resolution: Fixed")) << resolution[0]->text;
  EXPECT_TRUE(contains(resolution[0]->text, "Ann Yu (2024-04-02T10:00:00.000+0000): Granted SELECT"));
  auto comments = blocks_of(d, "comment");
  ASSERT_EQ(comments.size(), 1u);
  EXPECT_TRUE(comments[0]->text.starts_with("Bob Lee (")) << comments[0]->text;
  EXPECT_TRUE(contains(blocks_of(*c.find("JIRA-4412"), "problem")[0]->text, "plain *wiki* text"));
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].message(),
            "jira.json: record 3 (JIRA-4413): fields: 'description' is neither text nor an ADF document");
}

// The resolution of a resolved Jira issue is the closing run of work
// comments up to the resolution, not whatever comment came last: the fix
// posted before a closing remark stays in it, the reporter's comments and
// follow-ups written after the resolution stay comments.
TEST(Jira, ResolutionIsTheClosingRunOfWorkComments) {
  const char* js = R"js({"issues":[{"key":"OPS-7",
   "changelog":{"histories":[
     {"created":"2024-05-02T10:00:00.000+0000","items":[{"field":"status","from":"1","to":"3"}]},
     {"created":"2024-05-03T12:00:00.000+0000","items":[{"field":"resolution","from":null,"to":"10000"}]}]},
   "fields":{"summary":"Disk full","status":{"name":"Resolved"},"resolution":{"name":"Done"},
    "resolutiondate":"2024-05-09T09:00:00.000+0000",
    "reporter":{"accountId":"cust-1","displayName":"Carla Customer"},
    "comment":{"comments":[
     {"author":{"accountId":"agent-1","displayName":"Ada Agent"},"created":"2024-05-02T09:00:00.000+0000","body":"Looking into it."},
     {"author":{"accountId":"cust-1","displayName":"Carla Customer"},"created":"2024-05-02T11:00:00.000+0000","body":"Still failing."},
     {"author":{"accountId":"agent-2","displayName":"Ada Agent"},"created":"2024-05-03T09:00:00.000+0000","body":"Pruned the docker cache, 200 GB free."},
     {"author":{"accountId":"agent-2","displayName":"Ada Agent"},"created":"2024-05-03T11:00:00.000+0000","body":"Cause: the cleanup job's credential expired; renewed it."},
     {"author":{"accountId":"cust-1","displayName":"Carla Customer"},"created":"2024-05-03T15:00:00.000+0000","body":"Thanks, works."}]}}},
  {"key":"OPS-8","fields":{"summary":"Open","status":{"name":"In Progress"},
    "comment":{"comments":[{"author":{"displayName":"Ada"},"body":"Working on it."}]}}},
  {"key":"OPS-9","fields":{"summary":"Only the reporter wrote","resolution":{"name":"Won't Do"},
    "reporter":{"accountId":"cust-1","displayName":"Carla Customer"},
    "comment":{"comments":[{"author":{"accountId":"cust-1","displayName":"C. Customer"},"body":"Never mind, it works now."}]}}}]})js";
  Collected c;
  ASSERT_TRUE(fetch_buffer(js, "jira.json", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 3u) << c.error_text();
  const Document& d = *c.find("OPS-7");
  auto resolution = blocks_of(d, "resolution");
  ASSERT_EQ(resolution.size(), 1u);
  const std::string& r = resolution[0]->text;
  EXPECT_TRUE(r.starts_with("Resolution: Done")) << r;
  EXPECT_TRUE(contains(r, "Pruned the docker cache")) << r;
  EXPECT_TRUE(contains(r, "credential expired")) << r;
  EXPECT_LT(r.find("Pruned"), r.find("credential")) << r;
  EXPECT_FALSE(contains(r, "Still failing")) << r;
  EXPECT_FALSE(contains(r, "Looking into it")) << r;  // before the reporter's comment
  EXPECT_FALSE(contains(r, "Thanks")) << r;           // after the resolution transition
  auto comments = blocks_of(d, "comment");
  ASSERT_EQ(comments.size(), 3u);
  EXPECT_TRUE(blocks_of(*c.find("OPS-8"), "resolution").empty());
  // Nothing but the reporter's words: the last comment, as before.
  auto only = blocks_of(*c.find("OPS-9"), "resolution");
  ASSERT_EQ(only.size(), 1u);
  EXPECT_TRUE(contains(only[0]->text, "Never mind")) << only[0]->text;
}

TEST(Zendesk, TicketsWithInlineCommentsAndSingleTicketShape) {
  const char* zd = R"js({"tickets":[{"id":4101,"url":"https://acme.zendesk.com/api/v2/tickets/4101.json",
    "subject":"VPN error 809 at customer site","description":"VPN fails with 809 on guest wifi.",
    "status":"solved","priority":"normal","type":"incident","tags":["vpn","809"],
    "created_at":"2024-03-14T13:02:11Z","updated_at":"2024-03-14T14:20:40Z",
    "comments":[{"author_id":392011201,"body":"VPN fails with 809 on guest wifi.","public":true,"created_at":"2024-03-14T13:02:11Z"},
                {"author_id":381,"body":"Internal: guest wifi blocks IKE.","public":false,"created_at":"2024-03-14T13:30:00Z"},
                {"author_id":381,"body":"Use the SSTP profile, it works over 443.","public":true,"created_at":"2024-03-14T14:00:00Z"}]},
   {"id":"4102","subject":"Open one","status":"open","comments":[{"author_id":1,"body":"hello","created_at":"2024-03-15T10:00:00Z"}]}]})js";
  Collected c;
  ASSERT_TRUE(fetch_buffer(zd, "zendesk/tickets.json", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 2u) << c.error_text();
  const Document& d = *c.find("ZD-4101");
  EXPECT_EQ(d.source, "zendesk");
  EXPECT_EQ(d.url, "https://acme.zendesk.com/agent/tickets/4101");
  EXPECT_EQ(d.title, "ZD-4101: VPN error 809 at customer site");
  EXPECT_EQ(d.metadata.at("tags"), "vpn,809");
  EXPECT_EQ(d.metadata.at("status"), "solved");
  EXPECT_EQ(d.updated_at, 1710426040);
  ASSERT_EQ(blocks_of(d, "resolution").size(), 1u);
  EXPECT_TRUE(contains(blocks_of(d, "resolution")[0]->text, "SSTP profile"));
  auto comments = blocks_of(d, "comment");
  ASSERT_EQ(comments.size(), 1u);  // the opening comment repeats the description
  EXPECT_TRUE(comments[0]->text.starts_with("author 381 (internal, 2024-03-14T13:30:00Z): Internal"));
  EXPECT_EQ(blocks_of(*c.find("ZD-4102"), "comment").size(), 1u);

  const char* single = R"js({"ticket":{"id":7,"subject":"S","description":"D"},
                           "comments":[{"author_id":2,"body":"sibling comment"}]})js";
  Collected s;
  ASSERT_TRUE(fetch_buffer(single, "t7.json", {}, s.sink()).is_ok());
  ASSERT_EQ(s.docs.size(), 1u) << s.error_text();
  EXPECT_EQ(blocks_of(s.docs[0], "comment").size(), 1u);
}

TEST(Tickets, UnrecognisedJsonShapeIsReported) {
  Collected c;
  ASSERT_TRUE(fetch_buffer(R"js({"foo":[1,2]})js", "odd.json", {}, c.sink()).is_ok());
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_TRUE(contains(c.errors[0].message(), "odd.json: unrecognised JSON shape")) << c.errors[0].message();
  Collected d;
  ASSERT_TRUE(fetch_buffer(R"js({"issues":{"key":"X"}})js", "j.json", {}, d.sink()).is_ok());
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_TRUE(contains(d.errors[0].message(), "'issues' is not an array"));
}

}  // namespace
}  // namespace ragd
