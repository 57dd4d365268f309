// Inputs the libFuzzer targets (tests/fuzz/) found, replayed through
// fetch_buffer: each must give a clear invalid-argument error, never an
// internal "parser failed: [json.exception...]" one. The same bytes are in
// tests/fuzz/<target>_corpus/regress_*.
#include <gtest/gtest.h>

#include "connectors/connector.h"

namespace ragd {
namespace {

struct Case {
  const char* target;
  std::string bytes;
  SourceFormat format;
  const char* filename;
};

std::vector<Status> errors_of(const Case& c) {
  std::vector<Status> errors;
  FetchOptions o;
  o.format = c.format;
  FetchSink sink{[](Document&&) {}, [&](const Status& s) { errors.push_back(s); }};
  EXPECT_TRUE(fetch_buffer(c.bytes, c.filename, o, sink).is_ok());
  return errors;
}

// nlohmann throws out_of_range, not parse_error, for a number beyond a
// double (1e400); the export and JSONL readers only caught parse_error.
TEST(FuzzRegressions, NumberOverflowInJsonIsInvalidArgument) {
  const Case cases[] = {
      {"servicenow", std::string("\n 77e777oc77n\xf4s\":\"202{"), SourceFormat::kServiceNow, "export.json"},
      {"zendesk", std::string("666666666666666E66666O666M}\x9f\x9fpon\""), SourceFormat::kZendesk, "export.json"},
      {"jsonl", std::string("{\"_id\":\"a\",\"text\":\"t\"}\n33333e333333333333\n"), SourceFormat::kJsonl, "corpus.jsonl"},
      {"json (auto)", std::string("{\"result\":[{\"number\":\"INC1\",\"short_description\":\"x\",\"n\":1e400}]}"),
       SourceFormat::kAuto, "export.json"},
  };
  for (const Case& c : cases) {
    std::vector<Status> errors = errors_of(c);
    ASSERT_EQ(errors.size(), 1u) << c.target;
    EXPECT_EQ(errors[0].code(), StatusCode::kInvalidArgument) << c.target << ": " << errors[0].to_string();
    EXPECT_NE(errors[0].message().find("a number is out of range"), std::string::npos) << errors[0].message();
    EXPECT_EQ(errors[0].message().find("json.exception"), std::string::npos) << errors[0].message();
  }
}

// A truncated export whose damage is an overflowing number still yields the
// complete records before it.
TEST(FuzzRegressions, RecoveryStopsAtAnOverflowingNumber) {
  const Case c{"servicenow",
               "{\"result\":[{\"number\":\"INC1\",\"short_description\":\"first\"},"
               "{\"number\":\"INC2\",\"short_description\":\"second\",\"n\":1e400}",
               SourceFormat::kServiceNow, "cut.json"};
  std::vector<std::string> ids;
  std::vector<Status> errors;
  FetchOptions o;
  o.format = c.format;
  FetchSink sink{[&](Document&& d) { ids.push_back(d.id); }, [&](const Status& s) { errors.push_back(s); }};
  ASSERT_TRUE(fetch_buffer(c.bytes, c.filename, o, sink).is_ok());
  EXPECT_EQ(ids, std::vector<std::string>{"INC1"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), StatusCode::kInvalidArgument) << errors[0].to_string();
}

}  // namespace
}  // namespace ragd
