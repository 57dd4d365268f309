#include "generate/verifier.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ragd {
namespace {

const std::vector<std::string> kPassages = {
    "[1] VPN error 809\nOn the client, restart the RasMan service and set the VPN type to SSTP. "
    "Error 809 means the L2TP packets are blocked by a NAT device.",
    "[2] Printer 0x0000011b\nReplace the toner cartridge in tray 2 and clear the paper jam. "
    "Install the KB5005565 print spooler update on the print server.",
};

TEST(VerifierTest, SupportedSentencesAreVerified) {
  Verifier v;
  auto r = v.verify("Restart the RasMan service and set the VPN type to SSTP [1]. "
                    "Install the KB5005565 spooler update on the print server [2].",
                    kPassages);
  EXPECT_EQ(r.grounding, Grounding::kVerified);
  ASSERT_EQ(r.sentences.size(), 2u);
  EXPECT_TRUE(r.sentences[0].supported);
  EXPECT_TRUE(r.sentences[1].supported);
  EXPECT_EQ(r.cited, (std::vector<int>{1, 2}));
  EXPECT_TRUE(r.removed.empty());
  EXPECT_EQ(r.text,
            "Restart the RasMan service and set the VPN type to SSTP [1]. "
            "Install the KB5005565 spooler update on the print server [2].");
}

TEST(VerifierTest, UnsupportedSentenceIsRemovedAndFlaggedPartial) {
  Verifier v;
  auto r = v.verify("Restart the RasMan service [1]. Reinstall Windows from scratch and buy a new laptop [1].",
                    kPassages);
  EXPECT_EQ(r.grounding, Grounding::kPartial);
  ASSERT_EQ(r.removed.size(), 1u);
  EXPECT_EQ(r.removed[0], "Reinstall Windows from scratch and buy a new laptop.");
  EXPECT_EQ(r.text, "Restart the RasMan service [1].");
  EXPECT_EQ(r.sentences[1].reason, "support below threshold");
}

TEST(VerifierTest, SentenceCitingTheWrongPassageIsUnsupported) {
  Verifier v;
  // True in passage 2, but cites passage 1.
  auto r = v.verify("Replace the toner cartridge in tray 2 [1].", kPassages);
  EXPECT_EQ(r.grounding, Grounding::kNone);
  EXPECT_TRUE(r.text.empty());
  ASSERT_EQ(r.sentences.size(), 1u);
  EXPECT_FALSE(r.sentences[0].supported);
  EXPECT_EQ(r.sentences[0].best, 1);
}

TEST(VerifierTest, CitationNumbersThatNameNoPassage) {
  Verifier v;
  auto only_bad = v.verify("Restart the RasMan service [7].", kPassages);
  EXPECT_EQ(only_bad.grounding, Grounding::kNone);
  EXPECT_EQ(only_bad.invalid_citations, (std::vector<int>{7}));
  EXPECT_EQ(only_bad.sentences[0].reason, "cites only passages that do not exist");

  auto zero = v.verify("Restart the RasMan service [0].", kPassages);
  EXPECT_EQ(zero.grounding, Grounding::kNone);
  EXPECT_EQ(zero.invalid_citations, (std::vector<int>{0}));

  // A good and a bad number: the bad one is dropped, the answer is partial.
  auto mixed = v.verify("Restart the RasMan service [1][3].", kPassages);
  EXPECT_EQ(mixed.grounding, Grounding::kPartial);
  EXPECT_EQ(mixed.text, "Restart the RasMan service [1].");
  EXPECT_EQ(mixed.invalid_citations, (std::vector<int>{3}));
}

TEST(VerifierTest, NoCitationsIsNotGrounded) {
  Verifier v;
  auto r = v.verify("Restart the RasMan service and set the VPN type to SSTP.", kPassages);
  EXPECT_EQ(r.grounding, Grounding::kNone);
  ASSERT_EQ(r.sentences.size(), 1u);
  EXPECT_EQ(r.sentences[0].reason, "no citation");
  EXPECT_EQ(r.removed.size(), 1u);

  auto empty = v.verify("", kPassages);
  EXPECT_EQ(empty.grounding, Grounding::kNone);
}

TEST(VerifierTest, CitationAfterTheFullStopBelongsToTheSentence) {
  Verifier v;
  auto r = v.verify("Restart the RasMan service. [1] Clear the paper jam. [2]", kPassages);
  EXPECT_EQ(r.grounding, Grounding::kVerified) << r.text;
  EXPECT_EQ(r.text, "Restart the RasMan service [1]. Clear the paper jam [2].");
}

TEST(VerifierTest, ModelRefusalIsReported) {
  Verifier v;
  auto r = v.verify("The passages do not contain the answer.", kPassages);
  EXPECT_EQ(r.grounding, Grounding::kRefused);
  EXPECT_TRUE(r.text.empty());
  // A refusal next to a supported sentence makes the answer partial.
  auto mixed = v.verify("Restart the RasMan service [1]. The passages do not contain the answer.", kPassages);
  EXPECT_EQ(mixed.grounding, Grounding::kPartial);
}

TEST(VerifierTest, CitationMarkers) {
  auto m = find_citation_markers("a [1] b [2, 3] c [4;5] d [x] e [12345] f [ 6 ]");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].numbers, (std::vector<int>{1}));
  EXPECT_EQ(m[1].numbers, (std::vector<int>{2, 3}));
  EXPECT_EQ(m[2].numbers, (std::vector<int>{4, 5}));
  EXPECT_EQ(m[3].numbers, (std::vector<int>{6}));
}

TEST(VerifierTest, SupportScoreIsTheShareOfSentenceTerms) {
  Verifier v;
  auto s = v.support("restart rasman printer", "Restart the RasMan service.");
  EXPECT_EQ(s.terms, 3);
  EXPECT_NEAR(s.lexical, 2.0 / 3.0, 1e-9);
  EXPECT_DOUBLE_EQ(s.score, s.lexical);
}

}  // namespace
}  // namespace ragd
