// Question intent from general question structure, and answer units
// (list items, table rows with their header cells, section roles).
#include <gtest/gtest.h>

#include "generate/intent.h"
#include "generate/units.h"

namespace ragd {
namespace {

TEST(Intent, ReadsTheKindOfQuestion) {
  EXPECT_EQ(classify_question("How do I fix VPN error 809?").kind, Intent::kFix);
  // A procedure asked for by its noun; an option asked for is a fact.
  EXPECT_EQ(classify_question("What's the proper way to get rid of an old role?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("What is the fastest method to rebuild the statistics?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("What option does the restore take for the owner?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("What methods to authenticate are supported?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("how to reset Okta Verify for a user").kind, Intent::kFix);
  EXPECT_EQ(classify_question("Outlook won't send as the shared mailbox").kind, Intent::kFix);
  EXPECT_EQ(classify_question("What should I do when the printer shows 0x0000011b?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("Why does my account lock every morning?").kind, Intent::kCause);
  EXPECT_EQ(classify_question("What causes error 809?").kind, Intent::kCause);
  // A cause asked for without its word; a fault word that names a thing is no such question.
  EXPECT_EQ(classify_question("What turned out to be the problem last time?").kind, Intent::kCause);
  EXPECT_EQ(classify_question("HTTP/2 still shows http/1.1. What's the usual culprit?").kind, Intent::kCause);
  // The step left out is what to do.
  EXPECT_EQ(classify_question("What am I missing on the server side?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("What did we forget?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("What is missing from the export?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("What was the issue with the Leeds scanners?").kind, Intent::kCause);
  EXPECT_EQ(classify_question("What went wrong with the backup?").kind, Intent::kCause);
  EXPECT_NE(classify_question("What is the issue number of the VPN outage?").kind, Intent::kCause);
  EXPECT_NE(classify_question("What problem does the fallback profile solve?").kind, Intent::kCause);
  // A name written as code asked for.
  EXPECT_TRUE(classify_question("When compiling, which configure option sets the lowest UID?").asks_name);
  EXPECT_TRUE(classify_question("What SSI directive prints the date?").asks_name);
  EXPECT_FALSE(classify_question("Which users may approve a change?").asks_name);
  EXPECT_FALSE(classify_question("How do I set this option?").asks_name);
  EXPECT_FALSE(classify_question("What are my options if my laptop is stolen?").asks_name);
  EXPECT_FALSE(classify_question("I get a warning which says the signal is weak").asks_name);
  EXPECT_TRUE(classify_question("In which directive is the listen port set?").asks_name);
  // The noun a "what"/"which" question asks for, closed by an auxiliary.
  EXPECT_EQ(classify_question("What character encoding does pip assume for a requirements file?").focus, "encoding");
  EXPECT_EQ(classify_question("Which library does the resolver build on?").focus, "library");
  EXPECT_EQ(classify_question("If I build it myself, which MPM do I end up with?").focus, "mpm");
  EXPECT_EQ(classify_question("What is the default port?").focus, "");
  EXPECT_EQ(classify_question("Which one do I pick?").focus, "");
  EXPECT_EQ(classify_question("Which reindexdb option rebuilds indexes?").focus, "") << "no auxiliary closes it";
  EXPECT_EQ(classify_question("I get a warning which says the disk is full").focus, "");
  // "Is there a limit ...?" asks for a value (or that there is none).
  EXPECT_TRUE(classify_question("Is there a max line length for directives in a .htaccess file?").asks_quantity);
  EXPECT_FALSE(classify_question("Is there a way to install it offline?").asks_quantity);
  EXPECT_EQ(classify_question("Is there a way to increase the time limit?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("Is there a workaround for the max path length?").kind, Intent::kFix);
  EXPECT_FALSE(classify_question("Is there a version for Mac?").asks_quantity);
  EXPECT_FALSE(classify_question("What does max_connections do?").asks_quantity);
  EXPECT_EQ(classify_question("What happens when postgres is restarted?").focus, "");
  // A fault asked about together with its fix asks for the fix.
  EXPECT_EQ(classify_question("What's the problem with my VPN and how do I fix it?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("How many characters must a password have?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("How long do we keep CCTV footage?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("Who approves a normal change?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("Can I use my private phone for work email?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("What is the minimum password length?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("What does 'apply entries took too long' mean?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("What does 'database space exceeded' mean and how do I fix it?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("What does it mean when etcd fails to send out heartbeat on time?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("What does error 42 mean and how is it counted?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("What does error 42 mean and what should I do?").kind, Intent::kFix);
}

// A question that first describes the situation is read from the sentence
// that asks; the description's words ("We're", "root", "times out") do not
// decide the kind.
TEST(Intent, ReadsTheSentenceThatAsks) {
  EXPECT_EQ(classify_question("We're behind a proxy and the installer just times out. How do I make it use the proxy?")
                .kind,
            Intent::kFix);
  EXPECT_EQ(classify_question("The package lives in a subfolder, not at the repo root. How do I install it from git?")
                .kind,
            Intent::kFix);
  EXPECT_EQ(classify_question("I keep getting error 809 on the VPN. Who should I call?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("The backup job failed again last night. Why does that keep happening?").kind,
            Intent::kCause);
  // A bare "any idea?" after a complaint asks for its fix.
  EXPECT_EQ(classify_question("Outlook crashes when I open the shared mailbox. Any idea?").kind, Intent::kFix);
  // "Is there a way to <do something>" asks for a procedure.
  EXPECT_EQ(classify_question("I made a venv without pip. Is there a way to install packages into it?").kind,
            Intent::kFix);
  // Periods inside a sentence ("pip install . on", "e.g. a") do not end it.
  EXPECT_EQ(classify_question("Why does pip install . on my project leave files behind?").kind, Intent::kCause);
  EXPECT_EQ(classify_question("Which file, e.g. a config, holds the proxy?").kind, Intent::kFact);
  // Abbreviations do not end a sentence; a trailing run of questions asks.
  EXPECT_EQ(classify_question("Which version does the U.S. East region run?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("The backups moved last week. How long are they kept? And where?").kind,
            Intent::kFact);
  // A short asking sentence asks nothing of its own: the whole question
  // decides, wherever the statement stands.
  EXPECT_EQ(classify_question("Can you help? I need to reset my MFA token.").kind, Intent::kFix);
  // "Is there a limit ..." asks for a fact, "is there a way to ..." for a
  // procedure.
  EXPECT_EQ(classify_question("Is there a limit on how many devices I can add?").kind, Intent::kFact);
  // A leading clause or phrase before the question word.
  EXPECT_EQ(classify_question("If I don't give it a label, what label ends up on the backup?").kind, Intent::kFact);
  const QuestionIntent often = classify_question("By default, how often does it send status packets?");
  EXPECT_EQ(often.kind, Intent::kFact);
  EXPECT_TRUE(often.asks_quantity);
  EXPECT_TRUE(often.asks_default);
  // A statement before the comma is the situation, not a leading clause.
  EXPECT_EQ(classify_question("Someone needs to send mail as the group address, what permission is missing?").kind,
            Intent::kFix);
  EXPECT_EQ(classify_question("What's the oldest server version it can still dump?").kind, Intent::kFact);
  // "what <noun> does ..." asks for a fact whatever its verb; "what fixed
  // ..." and "what can I do ..." for a fix.
  EXPECT_EQ(classify_question("What shutdown mode does pg_ctl stop use?").kind, Intent::kFact);
  EXPECT_EQ(classify_question("What fixed the VPN outage?").kind, Intent::kFix);
  EXPECT_EQ(classify_question("What can I do about a full disk?").kind, Intent::kFix);
  // Record ids anywhere in the question count.
  const QuestionIntent ticket = classify_question("INC0012402 is back. What fixed it last time?");
  EXPECT_EQ(ticket.kind, Intent::kFix);
  EXPECT_EQ(ticket.named_ids, std::vector<std::string>{"INC0012402"});
}

TEST(Intent, FindsIdShapedTokens) {
  auto q = classify_question("How was INC0012402 resolved, and is ITSM-2231 related to ZD-4101 or HD-2023-1010?");
  EXPECT_EQ(q.named_ids, (std::vector<std::string>{"INC0012402", "ITSM-2231", "ZD-4101", "HD-2023-1010"}));
  EXPECT_EQ(q.kind, Intent::kFix);
  EXPECT_TRUE(classify_question("how do I fix error 809 on windows 11").named_ids.empty());
  EXPECT_TRUE(classify_question("").named_ids.empty());
}

TEST(Units, TableRowsKeepTheirHeaderCells) {
  auto units = split_units(
      "Intro sentence one. Intro two.\n\n| Record type | Retention | Starts from |\n|---|---|---|\n"
      "| CCTV footage | **28 days** | recording date |\n| Email | 2 years | date |");
  ASSERT_EQ(units.size(), 4u);
  EXPECT_EQ(units[0].text, "Intro sentence one.");
  EXPECT_EQ(units[2].kind, UnitKind::kTableRow);
  EXPECT_EQ(units[2].text, "CCTV footage — Retention: 28 days; Starts from: recording date");
  // The rows HTML tables become (" | " between cells, no outer pipes).
  auto html = split_units("Pod status | Usual cause | Action\nOOMKilled | memory limit | raise the limit");
  ASSERT_EQ(html.size(), 1u);
  EXPECT_EQ(html[0].text, "OOMKilled — Usual cause: memory limit; Action: raise the limit");
}

TEST(Units, ListItemsCodeAndSentences) {
  auto units = split_units(
      "1. Check the **status page**. If red, escalate.\n2. Switch to *NW-VPN-SSTP*:\n- sub item one\n\n```\nreg add X\n```\n\n"
      "3. Verify with `Test-NetConnection`.");
  ASSERT_EQ(units.size(), 5u);
  EXPECT_EQ(units[0].kind, UnitKind::kNumbered);
  EXPECT_EQ(units[0].text, "Check the status page. If red, escalate.");
  EXPECT_EQ(units[1].text, "Switch to NW-VPN-SSTP:");
  EXPECT_EQ(units[2].kind, UnitKind::kBullet);
  EXPECT_EQ(units[3].kind, UnitKind::kCode);
  EXPECT_EQ(units[3].text, "reg add X");
  EXPECT_EQ(units[4].text, "Verify with `Test-NetConnection`.");
  EXPECT_TRUE(split_units("").empty());
  EXPECT_TRUE(split_units("\n\n```\n").empty());
}

// Code is quoted as written: its lines keep their indentation (less the
// fence's own), and a fence closes only at a line of its character at
// least as long, so a "````" block holds a "```" one (CommonMark).
TEST(Units, CodeKeepsItsLinesAndALongerFenceHoldsAShorterOne) {
  auto units = split_units(
      "Create the file:\n\n````yaml\nspec:\n  containers:\n    - name: web\n```\nNot the end. Still code.\n```\n\n"
      "  image: nginx\n````\n\nThen apply it.\n\n   ~~~\n   def f():\n       return 1\n   ~~~\n\n```x``` is inline.");
  ASSERT_EQ(units.size(), 5u);
  EXPECT_EQ(units[0].text, "Create the file:");
  EXPECT_EQ(units[1].kind, UnitKind::kCode);
  EXPECT_EQ(units[1].text, "spec:\n  containers:\n    - name: web\n```\nNot the end. Still code.\n```\n\n  image: nginx");
  EXPECT_EQ(units[2].text, "Then apply it.");
  EXPECT_EQ(units[3].kind, UnitKind::kCode);
  EXPECT_EQ(units[3].text, "def f():\n    return 1");
  EXPECT_EQ(units[4].kind, UnitKind::kSentence);
  // A fence left open runs to the end.
  auto open = split_units("Run:\n\n```\n  a\n\n  b\n");
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[1].text, "  a\n\n  b");
  // On a terminal, code stays as written inside the fence lines.
  EXPECT_EQ(markdown_to_plain("Steps:\n\n````\n```\n  x = [1](2) **y**\n```\n````\n\n- **Done** [1]"),
            "Steps:\n\n```\n  x = [1](2) **y**\n```\n\n- Done [1]");
}

// The heading lines the chunker keeps for sections it merged into one
// chunk are not units; each unit knows the heading it follows, and its
// section is that sibling's unless the heading is on the chunk's path.
TEST(Units, MergedSectionsKeepTheirHeadings) {
  const std::vector<std::string> path{"Outlook", "Resolution"};
  auto units = chunk_units("## Symptoms\n\nOutlook does not start.\n\n## Resolution\n\n1. Add a profile.\n\n"
                           "```\noutlook.exe /safe\n```",
                           path);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[0].text, "Outlook does not start.");
  EXPECT_EQ(units[0].heading, "Symptoms");
  EXPECT_EQ(units[1].heading, "Resolution");
  EXPECT_EQ(units[2].kind, UnitKind::kCode);
  EXPECT_EQ(units[2].heading, "Resolution");
  EXPECT_EQ(unit_section(path, units[0]), (std::vector<std::string>{"Outlook", "Symptoms"}));
  EXPECT_EQ(unit_section(path, units[1]), path);
  EXPECT_EQ(section_role(unit_section(path, units[0]), "body"), SectionRole::kSymptom);
  // Text before any heading, and a "#" inside a paragraph, are the chunk's.
  auto plain = chunk_units("Intro line.\n\nRun it\n# not a heading here\n\n## Resolution\n\nDo it.", path);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_TRUE(plain[0].heading.empty());
  EXPECT_EQ(unit_section(path, plain[0]), path);
  // A sibling merged into a parent that then went into its child: the
  // sibling's section is at its own depth.
  const std::vector<std::string> deep{"KB", "B", "B1"};
  auto nested = chunk_units("## A\n\nShort a.\n\n## B\n\nShort b.\n\n### B1\n\nThe text.", deep);
  ASSERT_EQ(nested.size(), 3u);
  EXPECT_EQ(unit_section(deep, nested[0]), (std::vector<std::string>{"KB", "A"}));
  EXPECT_EQ(unit_section(deep, nested[1]), deep);
  EXPECT_EQ(unit_section(deep, nested[2]), deep);
  // "# ..." lines the chunker did not write (no line for the chunk's own
  // section; indented) are text: a shell comment of a code block cut across
  // chunks.
  auto code = chunk_units("# compact up to revision 3\n\n$ etcdctl compact 3", path);
  ASSERT_EQ(code.size(), 2u);
  EXPECT_TRUE(code[0].heading.empty());
  EXPECT_EQ(code[0].text, "compact up to revision 3");
  auto indented = chunk_units("    # keep one hour\n\n## Resolution\n\nDo it.", path);
  ASSERT_EQ(indented.size(), 2u);
  EXPECT_EQ(unit_section(path, indented[0]), path);
  // The own line read back as markdown_heading reads it: "C#" loses its
  // "#"; the unit still gets the chunk's own section.
  const std::vector<std::string> sharp{"Languages", "C#"};
  auto csharp = chunk_units("## Java\n\nShort.\n\n## C#\n\nUse dotnet build.", sharp);
  ASSERT_EQ(csharp.size(), 2u);
  EXPECT_EQ(unit_section(sharp, csharp[1]), sharp);
  EXPECT_EQ(unit_section(sharp, csharp[0]), (std::vector<std::string>{"Languages", "Java"}));
  // split_units reads no headings.
  EXPECT_EQ(split_units("## Symptoms\n\nIt fails.").size(), 2u);
}

// Reference-style links read as their text; their definitions are not text.
TEST(Units, MarkdownReferenceLinks) {
  auto units = split_units("1. [Compact][maintenance-compact] the history.\n\n[maintenance-compact]: "
                           "maintenance.md#compaction\n[site]: https://example.com \"Site\"\n[^1]: A footnote says "
                           "this.");
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0].text, "Compact the history.");
  EXPECT_EQ(units[1].text, "[^1]: A footnote says this.");
  // Brackets that only touch stay: citations, tags, indexes, fields.
  EXPECT_EQ(clean_inline_markdown("Restart it [1][2]."), "Restart it [1][2].");
  EXPECT_EQ(clean_inline_markdown("[EXTERNAL][URGENT] VPN down"), "[EXTERNAL][URGENT] VPN down");
  EXPECT_EQ(clean_inline_markdown("[ERROR][db01] disk full"), "[ERROR][db01] disk full");
  EXPECT_EQ(clean_inline_markdown("use a[i][j] here"), "use a[i][j] here");
  auto fields = split_units("[Status]: Resolved.\n[12:00:01]: started\n[Version]: 3.5.2");
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].text, "[Status]: Resolved.");
  EXPECT_EQ(fields[1].text, "[12:00:01]: started [Version]: 3.5.2");
}

// A heading that only names its section's role, or one with a topic.
TEST(Units, RoleLabelsHaveNoTopic) {
  for (const char* label : {"Resolution", "To resolve this issue", "Workaround 2", "More information", "Cause",
                            "Steps to fix", "Symptoms", "Resolution (Service Desk, first line)",
                            "Method 1: Fix the profile", "Workaround\u2014restart the agent",
                            "\u201cResolution\u201d"}) {
    EXPECT_TRUE(is_role_label(label)) << label;
  }
  for (const char* topic : {"Add a new member", "Error 0x709", "What does \"mvcc: database space exceeded\" mean?",
                            "Steps to add a member", "Restore a single file", ""}) {
    EXPECT_FALSE(is_role_label(topic)) << topic;
  }
}

TEST(Units, SectionRolesFromHeadingsAndTicketBlocks) {
  EXPECT_EQ(section_role({"VPN error 809", "Resolution"}, "body"), SectionRole::kResolution);
  EXPECT_EQ(section_role({"Guide", "Workaround for old clients"}, "body"), SectionRole::kResolution);
  EXPECT_EQ(section_role({"Guide", "Root cause"}, "body"), SectionRole::kCause);
  EXPECT_EQ(section_role({"Guide", "Symptoms"}, "body"), SectionRole::kSymptom);
  EXPECT_EQ(section_role({"Guide", "Escalation"}, "body"), SectionRole::kEscalation);
  EXPECT_EQ(section_role({"Guide", "Networks"}, "body"), SectionRole::kOther);
  // Role words that are also technical nouns name a topic after a word that
  // qualifies them, and the role after a qualifier of roles.
  EXPECT_EQ(section_role({"Dependency resolution", "Backtracking"}, "body"), SectionRole::kOther);
  EXPECT_EQ(section_role({"Guide", "DNS resolution"}, "body"), SectionRole::kOther);
  EXPECT_EQ(section_role({"Guide", "Disaster recovery"}, "body"), SectionRole::kOther);
  EXPECT_EQ(section_role({"Guide", "Alert actions"}, "body"), SectionRole::kOther);
  EXPECT_EQ(section_role({"Getting started", "Next steps"}, "body"), SectionRole::kOther);
  EXPECT_EQ(section_role({"Guide", "Problem resolution"}, "body"), SectionRole::kResolution);
  EXPECT_EQ(section_role({"Guide", "Recommended actions"}, "body"), SectionRole::kResolution);
  EXPECT_EQ(section_role({"Backup and Restore", "SQL Dump"}, "body"), SectionRole::kOther);
  EXPECT_EQ(section_role({"Guide", "Cause and resolution"}, "body"), SectionRole::kResolution);
  EXPECT_EQ(section_role({"Guide", "How do I restore a file?"}, "body"), SectionRole::kResolution);
  EXPECT_EQ(section_role({"Guide", "Handling steps"}, "body"), SectionRole::kResolution);
  EXPECT_EQ(section_role({"Guide", "Resolution 2"}, "body"), SectionRole::kResolution);
  EXPECT_EQ(section_role({}, "resolution"), SectionRole::kResolution);
  EXPECT_EQ(section_role({}, "problem"), SectionRole::kSymptom);
}

TEST(Units, MarkdownForTheTerminal) {
  EXPECT_EQ(clean_inline_markdown("Use **NW-VPN-SSTP** and [the guide](https://x/y) with `a*b`"),
            "Use NW-VPN-SSTP and the guide with `a*b`");
  // A star with white space on both sides is no emphasis; one that opens or
  // closes a word is.
  EXPECT_EQ(clean_inline_markdown("long f (const char * der, int * len) and *this* one"),
            "long f (const char * der, int * len) and this one");
  EXPECT_EQ(clean_inline_markdown("SELECT * FROM t"), "SELECT * FROM t");
  EXPECT_EQ(markdown_to_plain("Lead [1]:\n\n1. Run `lsnrctl start` [1].\n   - **sub** [1].\n```\ncode\n```"),
            "Lead [1]:\n\n1. Run lsnrctl start [1].\n   - sub [1].\ncode");
  // A code block under a list item is indented; its fences go too.
  EXPECT_EQ(markdown_to_plain("1. Set it [1].\n\n   ```\n   reg add X\n   ```\n2. Reboot [1]."),
            "1. Set it [1].\n\n   reg add X\n2. Reboot [1].");
}

}  // namespace
}  // namespace ragd
