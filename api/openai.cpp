#include "api/openai.h"

#include <cstring>
#include <random>

#include "api/json_codec.h"
#include "api/status_http.h"
#include "api/sse.h"
#include "ragd/clock.h"

namespace ragd::api::openai {

using Json = nlohmann::json;

namespace {

const char* json_type_name(const Json& j) { return j.type_name(); }

Status field_error(const std::string& field, const std::string& what, const Json& got) {
  return Status::invalid_argument("field '" + field + "': expected " + what + ", got " + json_type_name(got));
}

Result<Json> parse_object(std::string_view body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) return Status::invalid_argument("request body is not valid JSON");
  if (!j.is_object()) return Status::invalid_argument("request body: expected a JSON object, got " + std::string(j.type_name()));
  return j;
}

// Reads an optional number field within [lo, hi].
Status read_number(const Json& j, const char* name, double lo, double hi, std::optional<double>& out) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return Status::ok();
  if (!it->is_number()) return field_error(name, "a number", *it);
  double v = it->get<double>();
  if (!(v >= lo && v <= hi)) {
    return Status::invalid_argument("field '" + std::string(name) + "': " + std::to_string(v) + " is outside [" +
                                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  out = v;
  return Status::ok();
}

Result<std::string> message_content(const Json& c, const std::string& field) {
  if (c.is_null()) return std::string();
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) return field_error(field, "a string or an array of text parts", c);
  std::string text;
  for (size_t i = 0; i < c.size(); ++i) {
    const Json& part = c[i];
    std::string pf = field + "[" + std::to_string(i) + "]";
    if (!part.is_object()) return field_error(pf, "an object", part);
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) return Status::invalid_argument("field '" + pf + ".type': expected a string");
    if (*type != "text") {
      return Status::invalid_argument("field '" + pf + ".type': only \"text\" parts are supported, got \"" +
                                      type->get<std::string>() + "\"");
    }
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) return Status::invalid_argument("field '" + pf + ".text': expected a string");
    text += t->get<std::string>();
  }
  return text;
}

}  // namespace

Result<ChatCompletionRequest> parse_chat_completion_request(std::string_view body) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse_object(body));
  ChatCompletionRequest r;
  auto model = j.find("model");
  if (model == j.end()) return Status::invalid_argument("field 'model': required");
  if (!model->is_string() || model->get<std::string>().empty()) return field_error("model", "a non-empty string", *model);
  r.model = model->get<std::string>();

  auto msgs = j.find("messages");
  if (msgs == j.end()) return Status::invalid_argument("field 'messages': required");
  if (!msgs->is_array() || msgs->empty()) return field_error("messages", "a non-empty array", *msgs);
  for (size_t i = 0; i < msgs->size(); ++i) {
    const Json& m = (*msgs)[i];
    std::string f = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return field_error(f, "an object", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return Status::invalid_argument("field '" + f + ".role': expected a string");
    std::string rs = role->get<std::string>();
    if (rs == "developer") rs = "system";
    if (rs != "system" && rs != "user" && rs != "assistant" && rs != "tool") {
      return Status::invalid_argument("field '" + f + ".role': unknown role \"" + rs + "\"");
    }
    if (rs == "tool") return Status::invalid_argument("field '" + f + ".role': tool messages are not supported");
    auto content = m.find("content");
    Json c = content == m.end() ? Json(nullptr) : *content;
    RAGD_ASSIGN_OR_RETURN(std::string text, message_content(c, f + ".content"));
    r.messages.push_back({rs, std::move(text)});
  }

  if (auto s = j.find("stream"); s != j.end() && !s->is_null()) {
    if (!s->is_boolean()) return field_error("stream", "a boolean", *s);
    r.stream = s->get<bool>();
  }
  if (auto so = j.find("stream_options"); so != j.end() && !so->is_null()) {
    if (!so->is_object()) return field_error("stream_options", "an object", *so);
    if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
      if (!iu->is_boolean()) return field_error("stream_options.include_usage", "a boolean", *iu);
      r.include_usage = iu->get<bool>();
    }
  }
  for (const char* name : {"max_completion_tokens", "max_tokens"}) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > (1 << 20)) {
      return Status::invalid_argument("field '" + std::string(name) + "': expected a positive integer");
    }
    r.max_tokens = static_cast<int>(it->get<int64_t>());
    break;
  }
  RAGD_RETURN_IF_ERROR(read_number(j, "temperature", 0, 2, r.temperature));
  RAGD_RETURN_IF_ERROR(read_number(j, "top_p", 0, 1, r.top_p));
  if (auto s = j.find("seed"); s != j.end() && !s->is_null()) {
    if (!s->is_number_integer()) return field_error("seed", "an integer", *s);
    r.seed = static_cast<uint64_t>(s->get<int64_t>());
  }
  if (auto n = j.find("n"); n != j.end() && !n->is_null()) {
    if (!n->is_number_integer() || n->get<int64_t>() != 1) {
      return Status::invalid_argument("field 'n': only 1 choice is supported");
    }
  }
  if (auto st = j.find("stop"); st != j.end() && !st->is_null()) {
    if (st->is_string()) {
      r.stop.push_back(st->get<std::string>());
    } else if (st->is_array() && st->size() <= 4) {
      for (size_t i = 0; i < st->size(); ++i) {
        if (!(*st)[i].is_string()) return field_error("stop[" + std::to_string(i) + "]", "a string", (*st)[i]);
        r.stop.push_back((*st)[i].get<std::string>());
      }
    } else {
      return Status::invalid_argument("field 'stop': expected a string or an array of up to 4 strings");
    }
    std::erase_if(r.stop, [](const std::string& s) { return s.empty(); });
  }
  if (auto u = j.find("user"); u != j.end() && !u->is_null()) {
    if (!u->is_string()) return field_error("user", "a string", *u);
    r.user = u->get<std::string>();
  }
  if (auto x = j.find("ragd"); x != j.end() && !x->is_null()) {
    if (!x->is_object()) return field_error("ragd", "an object", *x);
    r.ragd = *x;
  }
  return r;
}

Result<EmbeddingsRequest> parse_embeddings_request(std::string_view body) {
  RAGD_ASSIGN_OR_RETURN(Json j, parse_object(body));
  EmbeddingsRequest r;
  auto model = j.find("model");
  if (model == j.end()) return Status::invalid_argument("field 'model': required");
  if (!model->is_string() || model->get<std::string>().empty()) return field_error("model", "a non-empty string", *model);
  r.model = model->get<std::string>();
  auto input = j.find("input");
  if (input == j.end()) return Status::invalid_argument("field 'input': required");
  if (input->is_string()) {
    r.input.push_back(input->get<std::string>());
  } else if (input->is_array() && !input->empty()) {
    for (size_t i = 0; i < input->size(); ++i) {
      if (!(*input)[i].is_string()) {
        return field_error("input[" + std::to_string(i) + "]", "a string (token arrays are not supported)", (*input)[i]);
      }
      r.input.push_back((*input)[i].get<std::string>());
    }
  } else {
    return field_error("input", "a string or a non-empty array of strings", *input);
  }
  for (size_t i = 0; i < r.input.size(); ++i) {
    if (r.input[i].empty()) return Status::invalid_argument("field 'input[" + std::to_string(i) + "]': empty string");
  }
  if (auto ef = j.find("encoding_format"); ef != j.end() && !ef->is_null()) {
    if (!ef->is_string() || (*ef != "float" && *ef != "base64")) {
      return Status::invalid_argument("field 'encoding_format': expected \"float\" or \"base64\"");
    }
    r.base64 = *ef == "base64";
  }
  if (auto d = j.find("dimensions"); d != j.end() && !d->is_null()) {
    if (!d->is_number_integer() || d->get<int64_t>() < 1) return field_error("dimensions", "a positive integer", *d);
    r.dimensions = static_cast<int>(d->get<int64_t>());
  }
  if (auto u = j.find("user"); u != j.end() && !u->is_null()) {
    if (!u->is_string()) return field_error("user", "a string", *u);
    r.user = u->get<std::string>();
  }
  return r;
}

std::string new_completion_id() {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string id = "chatcmpl-";
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return id;
}

std::string_view finish_reason(AnswerFinish f) {
  return f == AnswerFinish::kLength || f == AnswerFinish::kContextFull ? "length" : "stop";
}

Json usage_json(const Usage& u) {
  return Json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

namespace {

Json chunk_base(const CompletionMeta& meta) {
  return Json{{"id", meta.id},
              {"object", "chat.completion.chunk"},
              {"created", meta.created},
              {"model", meta.model},
              {"system_fingerprint", meta.system_fingerprint}};
}

Json chunk_with(const CompletionMeta& meta, Json delta, Json finish, bool include_usage) {
  Json c = chunk_base(meta);
  c["choices"] = Json::array({Json{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                   {"finish_reason", std::move(finish)}}});
  if (include_usage) c["usage"] = nullptr;
  return c;
}

void merge_extra(Json& into, const Json& extra) {
  if (!extra.is_object()) return;
  for (auto it = extra.begin(); it != extra.end(); ++it) into[it.key()] = it.value();
}

}  // namespace

Json chat_completion(const CompletionMeta& meta, std::string_view content, std::string_view finish, const Usage& usage,
                     const Json& extra) {
  Json r{{"id", meta.id},
         {"object", "chat.completion"},
         {"created", meta.created},
         {"model", meta.model},
         {"system_fingerprint", meta.system_fingerprint}};
  r["choices"] = Json::array({Json{{"index", 0},
                                   {"message", Json{{"role", "assistant"}, {"content", std::string(content)}, {"refusal", nullptr}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", std::string(finish)}}});
  r["usage"] = usage_json(usage);
  merge_extra(r, extra);
  return r;
}

Json chunk_role(const CompletionMeta& meta, bool include_usage) {
  return chunk_with(meta, Json{{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr, include_usage);
}

Json chunk_delta(const CompletionMeta& meta, std::string_view text, bool include_usage) {
  return chunk_with(meta, Json{{"content", std::string(text)}}, nullptr, include_usage);
}

Json chunk_finish(const CompletionMeta& meta, std::string_view finish, bool include_usage, const Json& extra) {
  Json c = chunk_with(meta, Json::object(), std::string(finish), include_usage);
  merge_extra(c, extra);
  return c;
}

Json usage_chunk(const CompletionMeta& meta, const Usage& usage) {
  Json c = chunk_base(meta);
  c["choices"] = Json::array();
  c["usage"] = usage_json(usage);
  return c;
}

std::string sse_chunk(const Json& chunk) {
  return sse_event(chunk.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string sse_done() { return sse_event("[DONE]"); }

std::string floats_to_base64(const float* v, size_t n) {
  static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(n * 4, '\0');
  for (size_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, &v[i], 4);
    for (int k = 0; k < 4; ++k) bytes[i * 4 + k] = static_cast<char>((b >> (8 * k)) & 0xff);  // little-endian
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t x = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kB64[(x >> 18) & 63];
    out += kB64[(x >> 12) & 63];
    out += kB64[(x >> 6) & 63];
    out += kB64[x & 63];
  }
  if (i < bytes.size()) {
    uint32_t x = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) x |= uint8_t(bytes[i + 1]) << 8;
    out += kB64[(x >> 18) & 63];
    out += kB64[(x >> 12) & 63];
    out += i + 1 < bytes.size() ? kB64[(x >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Json embeddings_response(const std::string& model, const std::vector<float>& vectors, int dim, bool base64,
                         int prompt_tokens) {
  Json data = Json::array();
  size_t count = dim > 0 ? vectors.size() / static_cast<size_t>(dim) : 0;
  for (size_t i = 0; i < count; ++i) {
    const float* v = vectors.data() + i * dim;
    Json e{{"object", "embedding"}, {"index", i}};
    if (base64) {
      e["embedding"] = floats_to_base64(v, dim);
    } else {
      e["embedding"] = std::vector<float>(v, v + dim);
    }
    data.push_back(std::move(e));
  }
  return Json{{"object", "list"},
              {"data", std::move(data)},
              {"model", model},
              {"usage", Json{{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

Json model_json(const ModelInfo& m) {
  return Json{{"id", m.id}, {"object", "model"}, {"created", m.created}, {"owned_by", m.owned_by}};
}

Json models_response(const std::vector<ModelInfo>& models) {
  Json data = Json::array();
  for (const auto& m : models) data.push_back(model_json(m));
  return Json{{"object", "list"}, {"data", std::move(data)}};
}

Json error_json(const Status& status) {
  std::string type = "server_error";
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kResourceExhausted:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists: type = "invalid_request_error"; break;
    case StatusCode::kNotFound: type = "not_found_error"; break;
    case StatusCode::kUnavailable: type = "overloaded_error"; break;
    case StatusCode::kTimeout: type = "timeout_error"; break;
    default: break;
  }
  const bool storage = status.code() == StatusCode::kCorruption || status.code() == StatusCode::kIoError;
  return Json{{"error", Json{{"message", storage ? storage_error_message(status) : bounded_message(status.message())},
                             {"type", type},
                             {"param", nullptr},
                             {"code", status_code_slug(status.code())}}}};
}

}  // namespace ragd::api::openai
