// Generic record files: CSV with a column mapping, JSONL (BEIR), JSON arrays.
#include <gtest/gtest.h>

#include "connectors/connector.h"
#include "tests/connectors/test_files.h"

namespace ragd {
namespace {

using testing::Collected;

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST(Csv, MappingQuotingAndMultiLineFields) {
  const std::string csv =
      "ticket,subject,body,team,changed\r\n"
      "HD-1,\"Printer, 3rd floor\",\"Line one\r\nline \"\"two\"\"\",Desk,2024-01-02 03:04:05\r\n"
      "HD-2,Plain,Short text,Ops,\r\n"
      "\r\n"
      "HD-3,Too,few\r\n"
      ",No id,text,Ops,\r\n"
      "HD-5,Bad time,text,Ops,not-a-date\r\n";
  FetchOptions opts;
  opts.csv_columns = {{"id", "ticket"}, {"title", "subject"}, {"text", "body"}, {"updated_at", "changed"},
                      {"meta:team", "team"}};
  Collected c;
  ASSERT_TRUE(fetch_buffer(csv, "export.csv", opts, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 2u) << c.error_text();
  const Document& d = *c.find("HD-1");
  EXPECT_EQ(d.title, "Printer, 3rd floor");
  EXPECT_EQ(d.text, "Line one\r\nline \"two\"");
  EXPECT_EQ(d.metadata.at("team"), "Desk");
  EXPECT_EQ(d.updated_at, 1704164645);
  EXPECT_EQ(d.source, "csv");
  EXPECT_EQ(d.origin, "export.csv row 1");
  ASSERT_EQ(c.errors.size(), 3u) << c.error_text();
  EXPECT_TRUE(contains(c.errors[0].message(), "export.csv: row 3 (line 6): 3 fields, header has 5"))
      << c.errors[0].message();
  EXPECT_TRUE(contains(c.errors[1].message(), "row 4 (line 7): empty id")) << c.errors[1].message();
  EXPECT_TRUE(contains(c.errors[2].message(), "(HD-5): 'updated_at' is not a timestamp")) << c.errors[2].message();
}

TEST(Csv, DefaultColumnsUnterminatedQuoteAndBadMapping) {
  Collected c;
  ASSERT_TRUE(fetch_buffer("id,title,text,category\nA,T,body,Net\nB,T2,\"never closed\n", "a.csv", {}, c.sink())
                  .is_ok());
  ASSERT_EQ(c.docs.size(), 1u);
  EXPECT_EQ(c.docs[0].metadata.at("category"), "Net");  // unmapped columns become metadata
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_TRUE(contains(c.errors[0].message(), "a.csv: row starting at line 3: unterminated quoted field"));

  FetchOptions opts;
  opts.csv_columns = {{"id", "nope"}};
  Collected m;
  ASSERT_TRUE(fetch_buffer("id,text\n1,x\n", "b.csv", opts, m.sink()).is_ok());
  ASSERT_EQ(m.errors.size(), 1u);
  EXPECT_TRUE(contains(m.errors[0].message(), "column 'nope'"));
}

TEST(Csv, ServiceNowCsvExportMapsLikeJson) {
  Collected c;
  ASSERT_TRUE(fetch_buffer("number,short_description,close_notes,priority\nINC9,Disk full,Cleared logs,3\n",
                           "incident.csv", {}, c.sink())
                  .is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  EXPECT_EQ(c.docs[0].id, "INC9");
  EXPECT_EQ(c.docs[0].source, "servicenow");
  EXPECT_EQ(c.docs[0].blocks.size(), 2u);
}

TEST(Jsonl, BeirCorpusLinesAndBadLines) {
  const std::string jsonl =
      R"({"_id":"4983","title":"Microstructural development","text":"Alterations of the architecture.","metadata":{"year":2004,"tags":["a","b"]}})"
      "\n\n"
      R"({"id":7,"text":"Numeric id.","kind":"Policy","acl":["hr"],"url":"https://x/7","updated_at":"2024-01-01"})"
      "\n"
      R"({"_id":"broken", "text": )"
      "\n"
      R"(["array"])"
      "\n"
      R"({"_id":"nothing"})"
      "\n";
  Collected c;
  ASSERT_TRUE(fetch_buffer(jsonl, "corpus.jsonl", {}, c.sink()).is_ok());
  ASSERT_EQ(c.docs.size(), 2u) << c.error_text();
  const Document& a = *c.find("4983");
  EXPECT_EQ(a.title, "Microstructural development");
  EXPECT_EQ(a.metadata.at("year"), "2004");
  EXPECT_EQ(a.metadata.at("tags"), "a,b");
  EXPECT_EQ(a.source, "jsonl");
  EXPECT_EQ(a.kind, "document");
  const Document& b = *c.find("7");
  EXPECT_EQ(b.kind, "policy");
  EXPECT_EQ(b.acl, std::vector<std::string>{"hr"});
  EXPECT_EQ(b.updated_at, 1704067200);
  EXPECT_EQ(b.origin, "corpus.jsonl line 3");
  ASSERT_EQ(c.errors.size(), 3u) << c.error_text();
  EXPECT_TRUE(c.errors[0].message().starts_with("corpus.jsonl: line 4: invalid JSON")) << c.errors[0].message();
  EXPECT_EQ(c.errors[1].message(), "corpus.jsonl: line 5: not a JSON object");
  EXPECT_EQ(c.errors[2].message(), "corpus.jsonl: line 6 (nothing): no 'text', 'title' or 'blocks'");
}

TEST(Json, DocumentsShapeAndArraysAreDetected) {
  Collected c;
  ASSERT_TRUE(fetch_buffer(R"({"documents":[{"id":"d1","title":"T","text":"x","metadata":{"team":"ops"}}]})",
                           "upload", {}, c.sink())
                  .is_ok());
  ASSERT_EQ(c.docs.size(), 1u) << c.error_text();
  EXPECT_EQ(c.docs[0].source, "api");
  EXPECT_EQ(c.docs[0].metadata.at("team"), "ops");
  Collected j;
  ASSERT_TRUE(fetch_buffer(R"([{"key":"AB-1","fields":{"summary":"s"}}])", "issues.json", {}, j.sink()).is_ok());
  ASSERT_EQ(j.docs.size(), 1u);
  EXPECT_EQ(j.docs[0].source, "jira");
}

TEST(Formats, NamesRoundTrip) {
  for (SourceFormat f : {SourceFormat::kAuto, SourceFormat::kMarkdown, SourceFormat::kRst, SourceFormat::kHtml, SourceFormat::kText,
                         SourceFormat::kPdf, SourceFormat::kDocx, SourceFormat::kServiceNow, SourceFormat::kJira,
                         SourceFormat::kZendesk, SourceFormat::kCsv, SourceFormat::kJsonl}) {
    auto back = parse_source_format(source_format_name(f));
    ASSERT_TRUE(back.has_value()) << source_format_name(f);
    EXPECT_EQ(*back, f);
  }
  EXPECT_FALSE(parse_source_format("xlsx").has_value());
}

}  // namespace
}  // namespace ragd
