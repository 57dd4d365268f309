// Numbers out of range in request bodies are bad input (kInvalidArgument,
// HTTP 400) with a message of ours, never an escaped library exception (500
// with nlohmann's text) nor a silently wrapped value. Found by
// tests/fuzz/json_codec_fuzz.cpp; the inputs are its regression cases.
#include <gtest/gtest.h>

#include "api/json_codec.h"

namespace ragd::api {
namespace {

TEST(JsonNumbers, FloatOverflowIsABadRequest) {
  for (const char* body : {R"({"query":"x","k":1e400})", R"({"query":"x","filters":{"n":-1e999}})",
                           R"({"documents":[{"id":"a","text":"t","metadata":{"x":1E+400}}]})"}) {
    auto j = parse_json_body(body);
    ASSERT_FALSE(j.is_ok()) << body;
    EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_NE(j.status().message().find("number is out of range"), std::string::npos) << j.status().message();
    EXPECT_EQ(j.status().message().find("json.exception"), std::string::npos) << j.status().message();
  }
  // Large but finite numbers still parse.
  EXPECT_TRUE(parse_json_body(R"({"query":"x","f":1e300,"g":18446744073709551616})").is_ok());
}

TEST(JsonNumbers, TimestampsBeyondInt64AreRejectedNotWrapped) {
  struct Case {
    const char* body;
    const char* needle;
  };
  const Case cases[] = {
      // 2^64-1 used to become -1 (updated_at 1969-12-31).
      {R"({"id":"a","text":"t","updated_at":18446744073709551615})", "'document.updated_at': 18446744073709551615 is out of range"},
      {R"({"id":"a","text":"t","created_at":9223372036854775808})", "'document.created_at': 9223372036854775808 is out of range"},
      // 2^64 does not fit an integer at all: nlohmann makes it a float.
      {R"({"id":"a","text":"t","updated_at":18446744073709551616})", "'document.updated_at': expected unix seconds"},
  };
  for (const auto& c : cases) {
    auto j = parse_json_body(c.body);
    ASSERT_TRUE(j.is_ok()) << c.body;
    auto d = parse_document(*j, "document");
    ASSERT_FALSE(d.is_ok()) << c.body << " -> updated_at " << d->updated_at;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find(c.needle), std::string::npos) << d.status().message();
  }
  auto ok = parse_document(*parse_json_body(R"({"id":"a","text":"t","updated_at":9223372036854775807})"), "d");
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(ok->updated_at, INT64_MAX);

  auto f = parse_filters(*parse_json_body(R"({"updated_after":18446744073709551615})"));
  ASSERT_FALSE(f.is_ok());
  EXPECT_NE(f.status().message().find("'filters.updated_after': 18446744073709551615 is out of range"),
            std::string::npos)
      << f.status().message();
}

TEST(JsonNumbers, LargeUnsignedMetadataKeepsItsValue) {
  // 2^64-1 used to be read as int64_t and stored as "-1".
  auto d = parse_document(*parse_json_body(R"({"id":"a","text":"t","metadata":{"n":18446744073709551615}})"), "d");
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d->metadata.at("n"), "18446744073709551615");
  auto f = parse_filters(*parse_json_body(R"({"n":18446744073709551615,"m":-5})"));
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ(f->fields.at("n"), "18446744073709551615");
  EXPECT_EQ(f->fields.at("m"), "-5");
}

TEST(JsonNumbers, HugeKNamesTheValueItGot) {
  auto r = parse_search_request(*parse_json_body(R"({"query":"x","k":18446744073709551615})"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("must be between 1 and 1000, got 18446744073709551615"), std::string::npos)
      << r.status().message();
  auto neg = parse_search_request(*parse_json_body(R"({"query":"x","k":-3})"));
  ASSERT_FALSE(neg.is_ok());
  EXPECT_NE(neg.status().message().find("got -3"), std::string::npos) << neg.status().message();
}

}  // namespace
}  // namespace ragd::api
