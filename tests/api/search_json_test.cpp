// search_response_body() writes the /v1/search body without a Json tree; it
// must parse to exactly what dumping hits_to_json() gives, for any text.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "api/json_codec.h"

namespace ragd::api {
namespace {

Hit make_hit(const std::string& text, double score) {
  Hit h;
  h.doc_id = "runbooks/vpn \"809\".md";
  h.chunk_id = h.doc_id + "#2";
  h.score = score;
  h.score_lexical = 10.248797416687012;
  h.score_vector = -0.0;
  h.title = "VPN\terror\n809 \xE2\x80\x94 caf\xC3\xA9";
  h.kind = "runbook";
  h.source = "files";
  h.url = "file:///kb/runbooks/vpn-error-809.md?a=1&b=\\2";
  h.section_path = {"VPN", "Fix \"it\"", ""};
  h.role = "body";
  h.text = text;
  h.metadata = {{"tags", "vpn,ikev2"}, {"owner", "network\x01ops"}, {"emoji", "\xF0\x9F\x98\x80"}};
  return h;
}

Json reference(const std::vector<Hit>& hits, const std::string& mode, double took) {
  Json j{{"hits", hits_to_json(hits)}, {"mode", mode}, {"took_ms", took}};
  return Json::parse(j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

TEST(SearchJsonTest, MatchesTheJsonTreeForOrdinaryAndEscapedText) {
  std::vector<Hit> hits = {make_hit("Run rasdial.\r\nThen \"restart\" the \\service\\.\b\f\x1f done", 1.0),
                           make_hit("", 0.123456789012345), make_hit("plain", 1e-7)};
  hits[1].metadata.clear();
  hits[1].section_path.clear();
  const std::string body = search_response_body(hits, "hybrid", 3.25);
  const Json got = Json::parse(body);
  EXPECT_EQ(got, reference(hits, "hybrid", 3.25));
  // Byte for byte too, for valid UTF-8.
  Json j{{"hits", hits_to_json(hits)}, {"mode", "hybrid"}, {"took_ms", 3.25}};
  EXPECT_EQ(body, j.dump(-1, ' ', false, Json::error_handler_t::replace));
  EXPECT_EQ(search_response_body({}, "lexical", 0.5), R"({"hits":[],"mode":"lexical","took_ms":0.5})");
}

TEST(SearchJsonTest, IntegralAndNonFiniteNumbers) {
  std::vector<Hit> hits = {make_hit("x", 2.0)};
  hits[0].score_lexical = std::numeric_limits<double>::quiet_NaN();
  hits[0].score_vector = std::numeric_limits<double>::infinity();
  const Json got = Json::parse(search_response_body(hits, "vector", 7.0));
  EXPECT_TRUE(got["hits"][0]["score"].is_number_float());
  EXPECT_EQ(got["hits"][0]["score"].get<double>(), 2.0);
  EXPECT_TRUE(got["hits"][0]["score_lexical"].is_null());
  EXPECT_TRUE(got["hits"][0]["score_vector"].is_null());
  EXPECT_TRUE(got["took_ms"].is_number_float());
}

// Random bytes, invalid UTF-8 included: always valid JSON, and wherever
// the text is valid UTF-8 the same string as the tree gives.
TEST(SearchJsonTest, RandomBytesStayValidJson) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 40), pick(0, 3);
  const std::vector<std::string> valid = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "a", "\"", "\\", "\n"};
  for (int round = 0; round < 500; ++round) {
    std::string text;
    bool all_valid = true;
    for (int i = len(rng); i > 0; --i) {
      if (pick(rng) == 0) {
        text.push_back(static_cast<char>(byte(rng)));
        all_valid = false;
      } else {
        text += valid[static_cast<size_t>(byte(rng)) % valid.size()];
      }
    }
    std::vector<Hit> hits = {make_hit(text, 0.5)};
    const std::string body = search_response_body(hits, "hybrid", 1.5);
    Json got = Json::parse(body, nullptr, false);
    ASSERT_FALSE(got.is_discarded()) << "round " << round;
    if (all_valid) {
      EXPECT_EQ(got, reference(hits, "hybrid", 1.5)) << "round " << round;
    }
  }
}

}  // namespace
}  // namespace ragd::api
