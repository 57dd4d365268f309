// POST /v1/answer: parse the request once, call the Answerer (extractive, or
// the LLM with --llm), encode the answer as JSON or, for a streaming LLM
// answer, as Server-Sent Events (`delta` per piece of model text, then
// `done` with the JSON, or `error`).
//
// The LLM-only fields (stream, max_tokens, timeout_ms, task, input) are read
// only when the answerer generates; the extractive answerer refuses
// "stream": true with 501.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "api/admission.h"
#include "api/auth_hook.h"
#include "api/json_codec.h"
#include "api/llm_service.h"
#include "api/openai.h"
#include "api/routes/routes.h"
#include "api/sse.h"
#include "api/status_http.h"
#include "cluster/node.h"

namespace ragd::api {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// An optional boolean field: strict (400 on another type) when `strict`,
// else a non-boolean counts as false.
Result<bool> optional_bool(const Json& j, const char* name, bool strict) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (strict) return Status::invalid_argument("field '" + std::string(name) + "': expected a boolean");
  return false;
}

// The request as parsed, once.
struct AnswerCall {
  AnswerRequest request;
  // The answerer generated when the request arrived (an LLM activated in a
  // server started without one switches it on while serving): the request
  // is parsed, queued and encoded by this one reading.
  bool generates = false;
  bool stream = false;
  bool include_hits = false;
  int timeout_ms = 0;
  // On a cluster node, the default collection is every shard: the answer
  // reads through the coordinator (request.reader points here).
  std::shared_ptr<const KnowledgeReader> cluster_reader;
};

Result<AnswerCall> parse_answer_call(const Request& req, const Json& body, const Api& api) {
  const bool llm = api.answerer.generates();
  AnswerCall call;
  call.generates = llm;
  RAGD_ASSIGN_OR_RETURN(call.stream, optional_bool(body, "stream", llm));
  if (call.stream && !llm) {
    return Status::unimplemented(
        "field 'stream': streaming needs an LLM (--llm, or activate one: POST /v1/registry/models/{name}/activate)");
  }
  RAGD_ASSIGN_OR_RETURN(call.request.search, parse_search_request(body, api.options.max_k));
  bind_groups(req, call.request.search);
  RAGD_ASSIGN_OR_RETURN(call.request.context, collection_service(req, api));
  if (llm) {
    const int max_tokens_limit = api.llm->path()->options().answerer.max_tokens_limit;
    RAGD_ASSIGN_OR_RETURN(call.request.max_tokens, optional_int(body, "max_tokens", 1, max_tokens_limit));
    RAGD_ASSIGN_OR_RETURN(call.timeout_ms, optional_int(body, "timeout_ms", 1, 3600 * 1000));
  }
  RAGD_ASSIGN_OR_RETURN(call.include_hits, optional_bool(body, "include_hits", llm));
  RAGD_ASSIGN_OR_RETURN(call.request.escalate, optional_bool(body, "escalate", /*strict=*/true));
  call.request.collection = req.collection;
  // Read-your-writes: on a cluster the evidence comes from replicas that
  // have applied the token's writes, as for /v1/search.
  RAGD_ASSIGN_OR_RETURN(call.cluster_reader, cluster_reader(req, body, api));
  call.request.reader = call.cluster_reader.get();
  if (llm) {
    if (auto t = body.find("task"); t != body.end() && !t->is_null()) {
      auto task = t->is_string() ? parse_prompt_task(t->get<std::string>()) : std::nullopt;
      if (!task) {
        return Status::invalid_argument(
            "field 'task': expected \"answer\", \"summarize_ticket\" or \"suggest_resolution\"");
      }
      call.request.task = *task;
    }
    if (auto in = body.find("input"); in != body.end() && in->is_string()) call.request.input = in->get<std::string>();
  }
  call.request.request_id = req.request_id;
  // The authenticated caller; with authentication off, the LLM path's
  // X-Ragd-Caller header (self-asserted).
  call.request.caller = req.principal || !req.caller.empty() ? req.caller
                                                             : (llm ? req.header("x-ragd-caller") : std::string());
  return call;
}

// The JSON answer; the LLM path adds what the generation did.
Json answer_json(const Answer& a, const AnswerCall& call, const Api& api, Clock::time_point start) {
  Json j = answer_to_json(a);
  if (!a.request_id.empty()) j["request_id"] = a.request_id;
  if (call.generates) {
    j["removed_sentences"] = a.removed_sentences;
    j["raw_text"] = a.raw_text;
    j["finish_reason"] = answer_finish_name(a.finish);
    j["usage"] = openai::usage_json({a.prompt_tokens, a.completion_tokens});
    j["first_token_ms"] = a.first_token_ms;
    j["prompt_ready_ms"] = a.prompt_ready_ms;
    j["model"] = api.llm->model_id();
  }
  if (call.include_hits) j["hits"] = hits_to_json(a.hits);
  j["took_ms"] = ms_since(start);
  return j;
}

// The stream's side of a generation: each delta becomes an SSE event; the
// client is polled (write("")) for cancellation.
class SseSink final : public AnswerSink {
 public:
  explicit SseSink(const StreamWrite& write) : write_(write) {}
  bool on_delta(std::string_view text) override {
    if (gone_.load()) return false;
    if (!write_(sse_event(dump(Json{{"text", std::string(text)}}), "delta"))) gone_ = true;
    return !gone_.load();
  }
  bool cancelled() override {
    if (!gone_.load() && !write_(std::string())) gone_ = true;
    return gone_.load();
  }
  bool gone() const { return gone_.load(); }

 private:
  const StreamWrite& write_;
  std::atomic<bool> gone_{false};
};

Response sse_response() {
  Response r;
  r.content_type = kSseContentType;
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  return r;
}

// Takes a place in the admission queue and returns what to answer once the
// server has waited for the slot (api/admission.h).
Response generated_answer(AnswerCall call, Api& api, Clock::time_point start) {
  LlmService& llm = *api.llm;
  call.request.deadline = llm.deadline(start, call.timeout_ms);
  auto ticket = llm.queue().admit();
  if (!ticket.is_ok()) {
    llm.record("answer", "rejected");
    Response r = error_response(ticket.status());
    r.headers.emplace_back("Retry-After", std::to_string(llm.options().retry_after_s));
    return r;
  }
  auto deferred = std::make_shared<Deferred>();
  deferred->ticket = std::move(ticket).value();
  deferred->deadline = call.request.deadline;
  const bool stream = call.stream;
  auto shared = std::make_shared<const AnswerCall>(std::move(call));
  auto finish = [&llm, start](const Answer& a) {
    llm.record("answer", "ok");
    llm.record_grounding(a.grounding);
    llm.record_generation("answer", a.prompt_tokens, a.completion_tokens, a.first_token_ms, ms_since(start));
  };
  if (!stream) {
    deferred->admitted = [&api, &llm, shared, finish, start]() {
      auto a = api.answerer.answer(shared->request, nullptr);
      if (!a.is_ok()) {
        llm.record("answer", outcome_of(a.status()));
        return error_response(a.status());
      }
      finish(*a);
      return json_response(answer_json(*a, *shared, api, start));
    };
    deferred->refused = [&llm](const Status& s) {
      llm.record("answer", outcome_of(s));
      return error_response(s);
    };
  } else {
    // The slot is held until the stream ends.
    std::weak_ptr<AdmissionTicket> slot = deferred->ticket;
    deferred->admitted = [&api, &llm, shared, finish, start, slot]() {
      Response r = sse_response();
      r.stream = [&api, &llm, shared, finish, start, held = slot.lock()](const StreamWrite& write) {
        SseSink sink(write);
        auto a = api.answerer.answer(shared->request, &sink);
        if (!a.is_ok()) {
          llm.record("answer", outcome_of(a.status()));
          if (!sink.gone()) {
            write(sse_event(dump(error_to_json(status_code_slug(a.status().code()), a.status().message())), "error"));
          }
          return;
        }
        finish(*a);
        write(sse_event(dump(answer_json(*a, *shared, api, start)), "done"));
      };
      return r;
    };
    deferred->refused = [&llm](const Status& s) {
      llm.record("answer", outcome_of(s));
      Response r = sse_response();
      r.stream = [s](const StreamWrite& write) {
        write(sse_event(dump(error_to_json(status_code_slug(s.code()), s.message())), "error"));
      };
      return r;
    };
  }
  Response r;
  r.deferred = std::move(deferred);
  return r;
}

}  // namespace

Response handle_answer(const Request& req, Api& api) {
  const auto start = Clock::now();
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  auto call = parse_answer_call(req, *body, api);
  if (!call.is_ok()) return error_response(call.status());
  if (call->generates) return generated_answer(std::move(call).value(), api, start);
  auto answer = api.answerer.answer(call->request, nullptr);
  if (!answer.is_ok()) return error_response(answer.status());
  return json_response(answer_json(*answer, *call, api, start));
}

}  // namespace ragd::api
