#include "index/analyzer.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace ragd {
namespace {

bool has(const std::vector<std::string>& v, const std::string& t) {
  return std::find(v.begin(), v.end(), t) != v.end();
}

TEST(AnalyzerTest, LowercasesStemsAndDropsStopWords) {
  auto t = analyze("The Servers are Restarting after the Updates");
  EXPECT_FALSE(has(t, "the"));
  EXPECT_FALSE(has(t, "are"));
  EXPECT_TRUE(has(t, "server"));
  EXPECT_TRUE(has(t, "restart"));
  EXPECT_TRUE(has(t, "updat"));
}

TEST(AnalyzerTest, UnicodeCaseFoldAndWordSplit) {
  auto t = analyze_words("STRASSE Straße Ünïcödé—dash «quoted»");
  EXPECT_TRUE(has(t, "strasse"));
  EXPECT_TRUE(has(t, "ünïcödé"));
  EXPECT_TRUE(has(t, "dash"));
  EXPECT_TRUE(has(t, "quoted"));
}

// Only the stretches around non-ASCII bytes go through utf8proc; a
// combining mark still composes with the ASCII letter before it, wherever
// the stretch starts or ends.
TEST(AnalyzerTest, NfcComposesAcrossAsciiAndNonAsciiStretches) {
  const std::string composed = "caf\xc3\xa9";        // café, U+00E9
  const std::string decomposed = "cafe\xcc\x81";     // cafe + U+0301
  EXPECT_EQ(analyze_words(decomposed), analyze_words(composed));
  EXPECT_EQ(analyze_words("CAFE\xcc\x81 au lait"), (std::vector<std::string>{composed, "au", "lait"}));
  EXPECT_EQ(analyze_words("x " + decomposed + "s, " + decomposed), analyze_words("x " + composed + "s, " + composed));
  EXPECT_EQ(analyze_words("\xc3\x89" "COLE"), (std::vector<std::string>{"\xc3\xa9" "cole"}));  // ÉCOLE
  // An invalid byte costs only its own stretch: the rest is still folded.
  auto t = analyze_words("Stra\xc3\x9f" "e \xff RESTART \xc3\x89t\xc3\xa9");
  EXPECT_TRUE(has(t, "strasse"));
  EXPECT_TRUE(has(t, "restart"));
  EXPECT_TRUE(has(t, "\xc3\xa9t\xc3\xa9"));
}

TEST(AnalyzerTest, IdentifiersStayWholeAndSplitIntoParts) {
  struct Case {
    std::string text;
    std::string whole;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"see INC0012345 now", "inc0012345", {"inc", "0012345"}},
      {"KB0010023", "kb0010023", {"kb", "0010023"}},
      {"JIRA-4411.", "jira-4411", {"jira", "4411"}},
      {"HRESULT 0x80070005", "0x80070005", {"80070005"}},
      {"(ORA-00942)", "ora-00942", {"ora", "00942"}},
      {"CVE-2024-3094,", "cve-2024-3094", {"cve", "2024", "3094"}},
      {"db-prod-03.corp.example.com", "db-prod-03.corp.example.com", {"db", "prod", "03", "corp", "com"}},
      {"ping 10.20.30.40", "10.20.30.40", {"10", "20", "30", "40"}},
      {"/var/log/nginx/error.log", "var/log/nginx/error.log", {"var", "log", "nginx", "error"}},
      {"C:\\Windows\\System32\\drivers", "c:\\windows\\system32\\drivers", {"c", "window", "system32", "32", "driver"}},
      {"mail jane.doe@example.com", "jane.doe@example.com", {"jane", "doe", "com"}},
      {"upgrade to v2.14.1", "v2.14.1", {"v2", "14", "1"}},
  };
  for (const auto& c : cases) {
    auto t = analyze(c.text);
    EXPECT_TRUE(has(t, c.whole)) << c.text << ": missing whole '" << c.whole << "'";
    for (const auto& p : c.parts) EXPECT_TRUE(has(t, p)) << c.text << ": missing part '" << p << "'";
  }
}

TEST(AnalyzerTest, WordsKeepStopWordsAndDoNotStem) {
  auto t = analyze_words("The servers are running");
  EXPECT_EQ(t, (std::vector<std::string>{"the", "servers", "are", "running"}));
}

TEST(AnalyzerTest, BadInputDoesNotCrash) {
  std::string junk = "ok \xff\xfe\x80 word \xc3";
  junk += std::string(1, '\0');
  junk += std::string(500, 'x');
  auto t = analyze(junk);
  EXPECT_TRUE(has(t, "ok"));
  EXPECT_TRUE(has(t, "word"));
  for (const auto& s : t) EXPECT_LE(s.size(), 64u);
  EXPECT_TRUE(analyze("").empty());
  EXPECT_TRUE(analyze(" ... --- /// ").empty());
}

}  // namespace
}  // namespace ragd
