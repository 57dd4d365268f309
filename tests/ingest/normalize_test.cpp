#include <gtest/gtest.h>

#include <chrono>

#include "ingest/chunker.h"
#include "tests/sanitizer.h"

namespace ragd {
namespace {

TEST(NormalizeText, WhitespaceCollapsedParagraphsKept) {
  EXPECT_EQ(normalize_text("  a \t b  \r\n c\n\n\n\n d  "), "a b\nc\n\nd");
  EXPECT_EQ(normalize_text("x\r\ry"), "x\n\ny");
  EXPECT_EQ(normalize_text("line   \n   next"), "line\nnext");
  EXPECT_EQ(normalize_text(""), "");
  EXPECT_EQ(normalize_text(" \n \t "), "");
}

TEST(NormalizeText, ControlCharactersDropped) {
  EXPECT_EQ(normalize_text(std::string("a\x01\x07" "b\x7f" "c\0d", 9)), "abcd");
  EXPECT_EQ(normalize_text("\xEF\xBB\xBFstart"), "start");          // BOM
  EXPECT_EQ(normalize_text("a\xC2\xA0" "b\xE2\x80\x83" "c"), "a b c");  // NBSP, EM SPACE
  EXPECT_EQ(normalize_text("a\xC2\x85" "b"), "a\nb");                  // NEL
}

TEST(NormalizeText, InvalidUtf8Replaced) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(normalize_text("caf\xE9!"), "caf" + fffd + "!");
  EXPECT_EQ(normalize_text("\xC0\xAF"), fffd + fffd);                // overlong
  EXPECT_EQ(normalize_text("\xED\xA0\x80"), fffd + fffd + fffd);     // surrogate
  EXPECT_EQ(normalize_text("ok\xF0\x9F\x98"), "ok" + fffd + fffd + fffd);  // truncated at the end
  EXPECT_EQ(normalize_text("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");  // a valid emoji stays
}

TEST(NormalizeText, Nfc) {
  // "e" + COMBINING ACUTE -> "é"; Hangul jamo compose.
  EXPECT_EQ(normalize_text("Cafe\xCC\x81"), "Caf\xC3\xA9");
  EXPECT_EQ(normalize_text("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), "\xED\x95\x9C");
  EXPECT_EQ(normalize_text("10 \xE2\x84\xAB"), "10 \xC3\x85");  // ANGSTROM SIGN, a singleton
  EXPECT_EQ(normalize_text("\xE2\x84\xA6 \xEF\xA4\x80"), "\xCE\xA9 \xE8\xB1\x88");  // OHM; CJK compat
  // Already NFC text is untouched (precomposed letters, CJK, emoji).
  EXPECT_EQ(normalize_text("Caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80"), "Caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80");
}

// Inside a fenced code block white space is syntax (YAML, Python, a shell
// heredoc): indentation, inner runs of spaces and blank lines stay; tabs
// become spaces to the next multiple of 4 columns. Prose around the block
// is collapsed as before, and control characters go in code too.
TEST(NormalizeText, FencedCodeKeepsItsWhiteSpace) {
  EXPECT_EQ(normalize_text("Set   the   limits:\n```yaml\nresources:\n  limits:\n    memory:  \"512Mi\"   \n\n\n"
                           "    cpu: 1\n```\nThen    apply."),
            "Set the limits:\n```yaml\nresources:\n  limits:\n    memory:  \"512Mi\"\n\n\n    cpu: 1\n```\n"
            "Then apply.");
  EXPECT_EQ(normalize_text("~~~python\ndef f(x):\n\tif x:\n\t\treturn  x\x07\n~~~"),
            "~~~python\ndef f(x):\n    if x:\n        return  x\n~~~");
  // A fence indented under a list item: its lines lose that indentation
  // (CommonMark), keep their own, and the fence lines start the line.
  EXPECT_EQ(normalize_text("1. Edit:\n\n   ```ini\n   [global]\n     timeout = 60\n   ```\n2.  Save."),
            "1. Edit:\n\n```ini\n[global]\n  timeout = 60\n```\n2. Save.");
  // A longer fence holds a shorter one: the inner lines are code.
  EXPECT_EQ(normalize_text("````md\n```sh\n  ls   -l\n```\n  after\n````\n  prose   again"),
            "````md\n```sh\n  ls   -l\n```\n  after\n````\nprose again");
  // A fence left open runs to the end; trailing blank lines go.
  EXPECT_EQ(normalize_text("```\n  a   b\n\n\n"), "```\n  a   b");
  // A backtick run followed by backticks is inline code, not a fence.
  EXPECT_EQ(normalize_text("```x``` and   y\n  z"), "```x``` and y\nz");
}

TEST(NormalizeText, HostileFencesFinishQuickly) {
  const auto start = std::chrono::steady_clock::now();
  const std::string ticks(10 << 20, '`');
  EXPECT_TRUE(normalize_text(ticks + "\n  x") == ticks + "\n  x");  // (not printed: 10 MB)
  std::string nested;
  for (int i = 3000; i >= 3; --i) nested += std::string(static_cast<size_t>(i), '`') + "\n  line\n";
  EXPECT_EQ(normalize_text(nested).size(), nested.size() - 1);  // all code under the first fence
  std::string many, expected;
  for (int i = 0; i < 100000; ++i) {
    many += "```\n\tx\n```\n\tx\n";
    expected += "```\n    x\n```\nx\n";
  }
  expected.pop_back();
  EXPECT_TRUE(normalize_text(many) == expected);
  if (!testing::kSanitized) {
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  }
}

TEST(NormalizeDocument, FieldsAndDerivedText) {
  Document d;
  d.id = "  runbooks/vpn.md ";
  d.title = "VPN\n  error   809";
  d.kind = "Runbook";
  d.metadata = {{"team", " Network\nOps "}, {"empty", "  "}};
  d.acl = {"ops", " ops", "", "hr"};
  d.blocks = {{{"VPN", " Fix "}, "body", "Use  SSTP."}, {{}, "body", "  \n "}};
  ASSERT_TRUE(normalize_document(d).is_ok());
  EXPECT_EQ(d.id, "runbooks/vpn.md");
  EXPECT_EQ(d.title, "VPN error 809");
  EXPECT_EQ(d.kind, "runbook");
  EXPECT_EQ(d.metadata.size(), 1u);
  EXPECT_EQ(d.metadata.at("team"), "Network Ops");
  EXPECT_EQ(d.acl, (std::vector<std::string>{"ops", "hr"}));
  ASSERT_EQ(d.blocks.size(), 1u);
  EXPECT_EQ(d.blocks[0].section_path, (std::vector<std::string>{"VPN", "Fix"}));
  EXPECT_EQ(d.text, "Fix\n\nUse SSTP.");
}

Document make_doc(std::string id, std::string title, std::string text, std::string origin = "") {
  Document d;
  d.id = std::move(id);
  d.title = std::move(title);
  d.text = std::move(text);
  d.origin = std::move(origin);
  return d;
}

TEST(NormalizeDocument, RejectsUnstorableIds) {
  Document a = make_doc("", "", "x", "f.jsonl line 3");
  Status s = normalize_document(a);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "f.jsonl line 3: document has no id");
  Document b = make_doc("bad\x01id", "", "x");
  EXPECT_FALSE(normalize_document(b).is_ok());
  Document c = make_doc(std::string(600, 'a'), "", "x");
  EXPECT_FALSE(normalize_document(c).is_ok());
  Document e = make_doc("empty", "", " \n ");
  EXPECT_FALSE(normalize_document(e).is_ok());
  Document t = make_doc("title-only", "Just a title", "");
  EXPECT_TRUE(normalize_document(t).is_ok());
}

}  // namespace
}  // namespace ragd
