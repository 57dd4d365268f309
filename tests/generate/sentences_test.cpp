#include "generate/sentences.h"

#include <gtest/gtest.h>

namespace ragd {
namespace {

using V = std::vector<std::string>;

TEST(SplitSentences, PlainProse) {
  EXPECT_EQ(split_sentences("The VPN drops. Restart the client! Did it work? Yes."),
            (V{"The VPN drops.", "Restart the client!", "Did it work?", "Yes."}));
  EXPECT_TRUE(split_sentences("").empty());
  EXPECT_TRUE(split_sentences("  \n\n ").empty());
  EXPECT_EQ(split_sentences("no final stop"), (V{"no final stop"}));
}

TEST(SplitSentences, AbbreviationsAndInitialsDoNotSplit) {
  EXPECT_EQ(split_sentences("Use a client, e.g. Cisco AnyConnect. Then log in."),
            (V{"Use a client, e.g. Cisco AnyConnect.", "Then log in."}));
  EXPECT_EQ(split_sentences("Ask Dr. Smith or J. Doe in the U.S. Office. Done."),
            (V{"Ask Dr. Smith or J. Doe in the U.S. Office.", "Done."}));
  EXPECT_EQ(split_sentences("See ticket No. 42 for details."), (V{"See ticket No. 42 for details."}));
}

TEST(SplitSentences, VersionsIpsPathsAndHostsStayWhole) {
  EXPECT_EQ(split_sentences("Upgrade to 2.4.1 on 10.0.0.12 now. Edit /etc/ssl/openssl.cnf first."),
            (V{"Upgrade to 2.4.1 on 10.0.0.12 now.", "Edit /etc/ssl/openssl.cnf first."}));
  EXPECT_EQ(split_sentences("Ping db01.corp.example.com. It answers."),
            (V{"Ping db01.corp.example.com.", "It answers."}));
  EXPECT_EQ(split_sentences("Open C:\\Windows\\System32\\drivers\\etc\\hosts. Add the line."),
            (V{"Open C:\\Windows\\System32\\drivers\\etc\\hosts.", "Add the line."}));
}

TEST(SplitSentences, InlineCodeIsNotSplit) {
  EXPECT_EQ(split_sentences("Run `systemctl restart sshd. Then check` and wait. Done."),
            (V{"Run `systemctl restart sshd. Then check` and wait.", "Done."}));
}

TEST(SplitSentences, LowercaseAfterStopIsNotABoundary) {
  EXPECT_EQ(split_sentences("Set the value to approx. five minutes. Next step."),
            (V{"Set the value to approx. five minutes.", "Next step."}));
}

TEST(SplitSentences, LinesListsHeadingsAndCodeBlocks) {
  const char* md =
      "# Reset a password\n"
      "Open the portal and choose\n"
      "Forgot password. Enter your ID.\n"
      "\n"
      "- Step one: verify identity\n"
      "- Step two: set a new password\n"
      "1. Numbered item\n"
      "```\n"
      "passwd alice\n"
      "sudo systemctl restart sssd\n"
      "```\n"
      "> Quoted note.\n";
  EXPECT_EQ(split_sentences(md), (V{"Reset a password", "Open the portal and choose Forgot password.",
                                    "Enter your ID.", "Step one: verify identity",
                                    "Step two: set a new password", "Numbered item", "passwd alice",
                                    "sudo systemctl restart sssd", "Quoted note."}));
}

TEST(SplitSentences, ClosingQuotesStayWithTheirSentence) {
  EXPECT_EQ(split_sentences("The error says \"Access denied.\" Retry later."),
            (V{"The error says \"Access denied.\"", "Retry later."}));
}

// Lines of a fenced block are pieces of their own, and a fence closes
// only at a line of its character at least as long: a "```" line in a
// "````" block is code, and the sentences in it are not split.
TEST(SplitSentences, ALongerFenceHoldsAShorterOne) {
  EXPECT_EQ(split_sentences("Intro.\n\n````\n```\n  A line. Another\n```\n````\nAfter. Done."),
            (V{"Intro.", "```", "A line. Another", "```", "After.", "Done."}));
  EXPECT_EQ(split_sentences("~~~\nA. B\n```\nC. D"), (V{"A. B", "```", "C. D"}));
}

}  // namespace
}  // namespace ragd
