// "What caused <ticket>?" for tickets whose sentences name no cause: the
// change the record reports is the cause, but not a denial of one ("Nothing
// has been changed"), an agent's question ("Has anything been changed
// recently?") nor what an agent did to fix it ("Your password has been
// reset"). A ServiceNow Table API export, ingested through the real
// connector with the real GloVe vectors and the shipped options.
#include "tests/generate/docs_fixture.h"

namespace ragd {
namespace {

constexpr const char* kIncidents = R"({"result": [
{"number": "INC7700001", "sys_id": "a1", "state": "6",
 "short_description": "Label printer in goods-in prints blank labels",
 "description": "Since this morning the label printer at goods-in prints blank labels. Nothing has been changed on the printer or on my PC.",
 "comments": "2024-05-02 10:20:00 - Sam Lee (Additional comments)\nThe thermal ribbon on the printer expired last week and was never swapped.\n\n2024-05-02 09:40:00 - Sam Lee (Additional comments)\nHas anything been changed on the printer recently?\n\n",
 "work_notes": "",
 "close_notes": "New thermal ribbon fitted, test label printed fine.",
 "opened_at": "2024-05-02 09:10:00"},
{"number": "INC7700002", "sys_id": "a2", "state": "6",
 "short_description": "Cannot sign in to the expenses portal",
 "description": "I cannot sign in to the expenses portal since Monday, it says my credentials are invalid.",
 "comments": "2024-05-03 11:05:00 - Kim Ode (Additional comments)\nYour password has been reset, please sign in with the temporary one.\n\n2024-05-03 10:50:00 - Kim Ode (Additional comments)\nThe portal's sign-in was switched to the new identity provider on Sunday, and old sessions keep the former realm.\n\n",
 "work_notes": "",
 "close_notes": "Password reset and user signed in.",
 "opened_at": "2024-05-03 10:30:00"}
]})";

class TicketCause : public DocsFixture {
 protected:
  void SetUp() override { load("ticket-cause", {{"incidents_table_api.json", kIncidents}}, 2); }
};

TEST_F(TicketCause, TheChangeIsTheCauseNotItsDenialNorAQuestion) {
  const Answer a = ask("What caused INC7700001?");
  ASSERT_FALSE(a.refused) << a.text;
  EXPECT_EQ(a.intent, "cause");
  EXPECT_NE(a.text.find("ribbon on the printer expired"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("Nothing has been changed"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("Has anything been changed"), std::string::npos) << a.text;
}

TEST_F(TicketCause, WhatAnAgentDidToFixItIsNoCause) {
  const Answer a = ask("What caused INC7700002?");
  ASSERT_FALSE(a.refused) << a.text;
  EXPECT_NE(a.text.find("was switched to the new identity provider"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("has been reset"), std::string::npos) << a.text;
}

}  // namespace
}  // namespace ragd
