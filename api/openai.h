// OpenAI-compatible request parsing and response building, as pure
// functions: POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models.
//
// The shapes follow OpenAI's API reference: a chat completion is
// {"id":"chatcmpl-…","object":"chat.completion","created","model",
// "system_fingerprint","choices":[{"index","message":{"role","content",
// "refusal"},"logprobs","finish_reason"}],"usage":{"prompt_tokens",
// "completion_tokens","total_tokens"}}; a stream is a sequence of
// "chat.completion.chunk" objects (role first, then content deltas, then one
// with finish_reason, then, with stream_options.include_usage, one with empty
// choices and the usage), each an SSE "data:" event, closed by
// "data: [DONE]". Errors use OpenAI's error object, which also carries
// ragd's own "code".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ragd/answer.h"
#include "ragd/status.h"

namespace ragd::api::openai {

struct Message {
  std::string role;  // "system", "developer" (read as system), "user", "assistant"
  std::string content;
};

struct ChatCompletionRequest {
  std::string model;
  std::vector<Message> messages;
  bool stream = false;
  bool include_usage = false;          // stream_options.include_usage
  int max_tokens = 0;                  // max_completion_tokens or max_tokens; 0 = server default
  std::optional<double> temperature;   // 0..2
  std::optional<double> top_p;         // 0..1
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;       // a string or up to 4 strings
  std::string user;
  // ragd extension for model "ragd": retrieval options (k, filters, groups)
  // as /v1/search takes them; null when absent.
  nlohmann::json ragd;
};

struct EmbeddingsRequest {
  std::string model;
  std::vector<std::string> input;  // a string or a list of strings (token arrays are refused)
  bool base64 = false;             // encoding_format "base64" (little-endian float32)
  std::optional<int> dimensions;   // must equal the encoder's if given
  std::string user;
};

// Errors: kInvalidArgument naming the field ("field 'messages[1].content':
// expected a string or an array of text parts").
Result<ChatCompletionRequest> parse_chat_completion_request(std::string_view body);
Result<EmbeddingsRequest> parse_embeddings_request(std::string_view body);

// "chatcmpl-" + 24 random alphanumerics.
std::string new_completion_id();

// An answer's finish reason as OpenAI's: "length" when the answer was cut
// (max_tokens, a full context), else "stop".
std::string_view finish_reason(AnswerFinish f);

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
};
nlohmann::json usage_json(const Usage& u);

// What every response and chunk of one completion shares.
struct CompletionMeta {
  std::string id;                  // chatcmpl-…
  int64_t created = 0;             // unix seconds
  std::string model;
  std::string system_fingerprint;  // "fp_" + the model's identity
};

// A non-streaming chat.completion. `extra` (an object, may be null) is
// merged at the top level (ragd's "citations", "grounding").
nlohmann::json chat_completion(const CompletionMeta& meta, std::string_view content, std::string_view finish,
                               const Usage& usage, const nlohmann::json& extra = nullptr);

// Streaming chunks. The first carries the role and empty content; deltas
// carry text; the last choice chunk carries finish_reason and an empty delta.
// With include_usage, every choice chunk has "usage": null and
// usage_chunk() follows with "choices": [].
nlohmann::json chunk_role(const CompletionMeta& meta, bool include_usage);
nlohmann::json chunk_delta(const CompletionMeta& meta, std::string_view text, bool include_usage);
nlohmann::json chunk_finish(const CompletionMeta& meta, std::string_view finish, bool include_usage,
                            const nlohmann::json& extra = nullptr);
nlohmann::json usage_chunk(const CompletionMeta& meta, const Usage& usage);
// The SSE event for a chunk, and the stream terminator "data: [DONE]\n\n".
std::string sse_chunk(const nlohmann::json& chunk);
std::string sse_done();

// {"object":"list","data":[{"object":"embedding","index","embedding"}],
// "model","usage":{"prompt_tokens","total_tokens"}}. `vectors` holds
// count * dim floats.
nlohmann::json embeddings_response(const std::string& model, const std::vector<float>& vectors, int dim,
                                   bool base64, int prompt_tokens);
// Base64 of the floats' little-endian bytes (OpenAI's encoding_format=base64).
std::string floats_to_base64(const float* v, size_t n);

struct ModelInfo {
  std::string id;
  int64_t created = 0;
  std::string owned_by = "ragd";
};
nlohmann::json model_json(const ModelInfo& m);
nlohmann::json models_response(const std::vector<ModelInfo>& models);

// OpenAI's error object: {"error":{"message","type","param","code"}}.
// `type` follows OpenAI ("invalid_request_error", "server_error", ...) from
// the Status; `code` is ragd's code name ("invalid_argument", ...).
nlohmann::json error_json(const Status& status);

}  // namespace ragd::api::openai
