#include <gtest/gtest.h>

#include "ingest/chunker.h"

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
