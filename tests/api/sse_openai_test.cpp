// SSE framing (round trip through the parser, hostile payloads) and the
// OpenAI request parsers and response builders.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include <nlohmann/json.hpp>

#include "api/openai.h"
#include "api/sse.h"
#include "generate/llm_answerer.h"
#include "ragd/clock.h"

namespace ragd::api {
namespace {

using Json = nlohmann::json;

TEST(SseTest, EventFraming) {
  EXPECT_EQ(sse_event("hello"), "data: hello\n\n");
  EXPECT_EQ(sse_event("a\nb", "delta", "7"), "event: delta\nid: 7\ndata: a\ndata: b\n\n");
  EXPECT_EQ(sse_event("a\r\nb\rc"), "data: a\ndata: b\ndata: c\n\n");
  EXPECT_EQ(sse_event(""), "data: \n\n");
  EXPECT_EQ(sse_event("x", "bad\nname"), "data: x\n\n");
  EXPECT_EQ(sse_comment("keep\nalive"), ": keep alive\n\n");
}

TEST(SseTest, ParserRoundTripsAnyPayloadInAnySplit) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab \n\r:data:event\xc3\xa9";
  for (int round = 0; round < 200; ++round) {
    std::vector<std::pair<std::string, std::string>> sent;
    std::string wire;
    int n = 1 + rng() % 5;
    for (int i = 0; i < n; ++i) {
      std::string payload;
      int len = rng() % 20;
      for (int k = 0; k < len; ++k) payload += alphabet[rng() % alphabet.size()];
      std::string ev = rng() % 2 ? "delta" : "";
      sent.emplace_back(ev, payload);
      wire += sse_event(payload, ev);
      if (rng() % 3 == 0) wire += sse_comment("ping");
    }
    SseParser p;
    std::vector<SseEvent> got;
    size_t pos = 0;
    while (pos < wire.size()) {
      size_t step = 1 + rng() % 7;
      p.feed(std::string_view(wire).substr(pos, step));
      pos += step;
      for (auto& e : p.take()) got.push_back(std::move(e));
    }
    ASSERT_EQ(got.size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
      // Line breaks of any kind come back as '\n'.
      std::string want;
      const std::string& s = sent[i].second;
      for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '\r') {
          want += '\n';
          if (k + 1 < s.size() && s[k + 1] == '\n') ++k;
        } else {
          want += s[k];
        }
      }
      EXPECT_EQ(got[i].data, want);
      EXPECT_EQ(got[i].event, sent[i].first);
    }
  }
}

TEST(OpenAiTest, ParsesChatRequest) {
  auto r = openai::parse_chat_completion_request(R"({
    "model":"ragd","stream":true,"stream_options":{"include_usage":true},
    "messages":[{"role":"developer","content":"be brief"},
                {"role":"user","content":[{"type":"text","text":"how do I "},{"type":"text","text":"reset VPN?"}]}],
    "max_tokens":12,"temperature":0.5,"top_p":0.9,"seed":3,"stop":["\n\n",""],"user":"alice",
    "ragd":{"k":3}})");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "ragd");
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "how do I reset VPN?");
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->max_tokens, 12);
  EXPECT_DOUBLE_EQ(*r->temperature, 0.5);
  EXPECT_EQ(*r->seed, 3u);
  EXPECT_EQ(r->stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(r->user, "alice");
  EXPECT_EQ(r->ragd["k"], 3);

  auto m = openai::parse_chat_completion_request(R"({"model":"x","messages":[{"role":"user","content":"hi"}],
    "max_completion_tokens":5,"max_tokens":99})");
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->max_tokens, 5);
}

TEST(OpenAiTest, RejectsBadChatRequestsNamingTheField) {
  struct Case {
    const char* body;
    const char* field;
  } cases[] = {
      {"not json", "JSON"},
      {"[1]", "object"},
      {R"({"messages":[{"role":"user","content":"x"}]})", "'model'"},
      {R"({"model":"m"})", "'messages'"},
      {R"({"model":"m","messages":[]})", "'messages'"},
      {R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content[0].type"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"9"})", "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})", "'n'"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop[0]"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})", "stop"},
  };
  for (const auto& c : cases) {
    auto r = openai::parse_chat_completion_request(c.body);
    ASSERT_FALSE(r.is_ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.field), std::string::npos) << r.status().message();
  }
}

TEST(OpenAiTest, ParsesEmbeddingsRequest) {
  auto r = openai::parse_embeddings_request(R"({"model":"m","input":["a","b"],"encoding_format":"base64"})");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->input.size(), 2u);
  EXPECT_TRUE(r->base64);
  EXPECT_FALSE(openai::parse_embeddings_request(R"({"model":"m","input":[[1,2]]})").is_ok());
  EXPECT_FALSE(openai::parse_embeddings_request(R"({"model":"m","input":""})").is_ok());
  EXPECT_FALSE(openai::parse_embeddings_request(R"({"model":"m","input":[]})").is_ok());
  EXPECT_FALSE(openai::parse_embeddings_request(R"({"model":"m","input":"x","encoding_format":"hex"})").is_ok());
}

TEST(OpenAiTest, CompletionAndChunksFollowTheSchema) {
  openai::CompletionMeta meta{openai::new_completion_id(), unix_seconds(), "ragd", "fp_abc"};
  EXPECT_EQ(meta.id.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(meta.id.size(), 9u + 24u);
  Json c = openai::chat_completion(meta, "hi [1]", "stop", {10, 3}, Json{{"citations", Json::array()}});
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(c["choices"][0]["message"]["content"], "hi [1]");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(c["usage"]["total_tokens"], 13);
  EXPECT_TRUE(c.contains("citations"));
  EXPECT_EQ(c["system_fingerprint"], "fp_abc");

  Json role = openai::chunk_role(meta, true);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(role.contains("usage") && role["usage"].is_null());
  EXPECT_FALSE(openai::chunk_delta(meta, "x", false).contains("usage"));
  Json fin = openai::chunk_finish(meta, "length", true);
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(fin["choices"][0]["delta"].is_object() && fin["choices"][0]["delta"].empty());
  Json u = openai::usage_chunk(meta, {4, 2});
  EXPECT_TRUE(u["choices"].is_array() && u["choices"].empty());
  EXPECT_EQ(u["usage"]["completion_tokens"], 2);
  EXPECT_EQ(openai::sse_done(), "data: [DONE]\n\n");
  std::string ev = openai::sse_chunk(openai::chunk_delta(meta, "line1\nline2", false));
  EXPECT_EQ(ev.find('\n'), ev.size() - 2) << "a chunk is one data line: JSON escapes the newline";

  EXPECT_EQ(openai::finish_reason(AnswerFinish::kContextFull), "length");
  EXPECT_EQ(openai::finish_reason(AnswerFinish::kLength), "length");
  EXPECT_EQ(openai::finish_reason(AnswerFinish::kStop), "stop");
  EXPECT_EQ(openai::finish_reason(AnswerFinish::kStopString), "stop");
  EXPECT_EQ(answer_finish_of(FinishReason::kEndOfGeneration), AnswerFinish::kStop);
  EXPECT_EQ(answer_finish_of(FinishReason::kMaxTokens), AnswerFinish::kLength);
}

TEST(OpenAiTest, EmbeddingsBase64IsLittleEndianFloat32) {
  std::vector<float> v = {1.0f, -2.5f, 0.0f, 3.25f, 7.0f, 8.0f};
  Json f = openai::embeddings_response("m", v, 3, false, 5);
  ASSERT_EQ(f["data"].size(), 2u);
  EXPECT_EQ(f["data"][1]["index"], 1);
  EXPECT_EQ(f["data"][1]["embedding"][0], 3.25);
  EXPECT_EQ(f["usage"]["prompt_tokens"], 5);
  // 1.0f = 00 00 80 3f -> "AACAPw=="
  EXPECT_EQ(openai::floats_to_base64(v.data(), 1), "AACAPw==");
  Json b = openai::embeddings_response("m", v, 3, true, 5);
  EXPECT_EQ(b["data"][0]["embedding"].get<std::string>().size(), 16u);  // 12 bytes
}

TEST(OpenAiTest, ErrorObject) {
  Json e = openai::error_json(Status::invalid_argument("field 'x': bad"));
  EXPECT_EQ(e["error"]["message"], "field 'x': bad");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(e["error"]["param"].is_null());
  EXPECT_EQ(e["error"]["code"], "invalid_argument");
}

}  // namespace
}  // namespace ragd::api
