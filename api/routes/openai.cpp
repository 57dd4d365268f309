// The OpenAI-compatible routes: POST /v1/chat/completions (model "ragd":
// retrieval-augmented through the Answerer; any other model: plain chat with
// the loaded model), GET /v1/models, POST /v1/embeddings (the service's
// encoder; works without --llm). Errors use OpenAI's body shape.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>

#include "api/admission.h"
#include "api/auth_hook.h"
#include "api/json_codec.h"
#include "api/llm_service.h"
#include "api/openai.h"
#include "api/routes/routes.h"
#include "api/sse.h"
#include "api/status_http.h"
#include "generate/llm_answerer.h"
#include "ragd/clock.h"
#include "service/encoder.h"

namespace ragd::api {

using Clock = std::chrono::steady_clock;

namespace {

Response json_ok(const Json& j, int status = 200) {
  Response r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

Response openai_error_response(const Status& status, int retry_after_s) {
  Response r = json_ok(openai::error_json(status), http_status(status));
  if (status.code() == StatusCode::kUnavailable) r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  return r;
}

// ---- POST /v1/chat/completions ----

namespace {

struct ChatCall {
  openai::ChatCompletionRequest req;
  openai::CompletionMeta meta;
  Clock::time_point start;
  Clock::time_point deadline;
  // The admission slot, held until the response (a stream: its end) is done.
  std::shared_ptr<AdmissionTicket> ticket;
};

Response rag_chat(const Request& req, const ChatCall& call, Api& api);
Response plain_chat(const ChatCall& call, Api& api);
Response chat_refused(const ChatCall& call, const Status& status);

}  // namespace

Response handle_chat_completions(const Request& req, Api& api) {
  // The model serving now, for the checks below (the generation runs on the
  // one serving when the slot is granted).
  const std::shared_ptr<const LlmAnswerPath> path = api.llm ? api.llm->path() : nullptr;
  if (path == nullptr) {
    return openai_error_response(Status::unavailable(
        "no language model is loaded (start with --llm, or activate one: POST /v1/registry/models/{name}/activate)"));
  }
  LlmService& llm = *api.llm;
  ChatCall call;
  call.start = Clock::now();
  auto parsed = openai::parse_chat_completion_request(req.body);
  if (!parsed.is_ok()) return openai_error_response(parsed.status());
  call.req = std::move(parsed).value();
  if (call.req.max_tokens > path->options().answerer.max_tokens_limit) {
    return openai_error_response(Status::invalid_argument("field 'max_tokens': at most " +
                                                          std::to_string(path->options().answerer.max_tokens_limit)));
  }
  int timeout_ms = 0;
  if (call.req.ragd.is_object()) {
    auto t = optional_int(call.req.ragd, "timeout_ms", 1, 3600 * 1000);
    if (!t.is_ok()) return openai_error_response(t.status().with_context("ragd"));
    timeout_ms = *t;
  }
  call.deadline = llm.deadline(call.start, timeout_ms);
  call.meta = {openai::new_completion_id(), unix_seconds(), call.req.model, llm.fingerprint()};
  const bool rag = call.req.model == llm.options().rag_model_name;
  if (rag) {
    // Validate the retrieval part before taking a place in the queue.
    bool has_user = std::any_of(call.req.messages.begin(), call.req.messages.end(),
                                [](const openai::Message& m) { return m.role == "user"; });
    if (!has_user) return openai_error_response(Status::invalid_argument("field 'messages': no user message to answer"));
  }
  auto ticket = llm.queue().admit();
  if (!ticket.is_ok()) {
    llm.record("chat", "rejected");
    return openai_error_response(ticket.status(), llm.options().retry_after_s);
  }
  call.ticket = std::move(ticket).value();
  auto deferred = std::make_shared<Deferred>();
  deferred->ticket = call.ticket;
  deferred->deadline = call.deadline;
  // The server waits for the slot, then calls one of these while `req` is
  // still alive.
  deferred->admitted = [&req, call, &api, rag]() { return rag ? rag_chat(req, call, api) : plain_chat(call, api); };
  deferred->refused = [call, &llm](const Status& s) {
    llm.record("chat", outcome_of(s));
    return chat_refused(call, s);
  };
  Response r;
  r.deferred = std::move(deferred);
  return r;
}

namespace {

// Runs `body` either at once (non-streaming: returns its Response) or as an
// OpenAI chunk stream. `run` gets the delta sink and the cancellation probe
// and returns (content, finish, usage, extra) or an error.
struct ChatOutcome {
  std::string content;
  std::string finish;
  openai::Usage usage;
  Json extra;
};
using ChatRun = std::function<Result<ChatOutcome>(const std::function<bool(std::string_view)>& on_delta,
                                                  const std::function<bool()>& cancelled)>;

Response sse_response() {
  Response r;
  r.content_type = kSseContentType;
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  return r;
}

Response run_chat(const ChatCall& call, ChatRun run, std::function<void(const Status&)> on_error) {
  if (!call.req.stream) {
    auto out = run({}, {});
    if (!out.is_ok()) {
      on_error(out.status());
      return openai_error_response(out.status());
    }
    return json_ok(openai::chat_completion(call.meta, out->content, out->finish, out->usage, out->extra));
  }
  Response r = sse_response();
  r.stream = [call, run, on_error](const StreamWrite& write) {
    std::atomic<bool> gone{false};
    auto send = [&](const std::string& s) {
      if (!gone.load() && !write(s)) gone = true;
      return !gone.load();
    };
    auto cancelled = [&] {
      if (!gone.load() && !write(std::string())) gone = true;
      return gone.load();
    };
    const bool iu = call.req.include_usage;
    send(openai::sse_chunk(openai::chunk_role(call.meta, iu)));
    Result<ChatOutcome> out = run([&](std::string_view d) {
      return d.empty() || send(openai::sse_chunk(openai::chunk_delta(call.meta, d, iu)));
    }, cancelled);
    if (!out.is_ok()) {
      on_error(out.status());
      send(openai::sse_chunk(openai::error_json(out.status())));
      send(openai::sse_done());
      return;
    }
    send(openai::sse_chunk(openai::chunk_finish(call.meta, out->finish, iu, out->extra)));
    if (iu) send(openai::sse_chunk(openai::usage_chunk(call.meta, out->usage)));
    send(openai::sse_done());
  };
  return r;
}

// A chat that got no slot before its deadline: an OpenAI error (a stream:
// the role chunk, the error chunk, [DONE]).
Response chat_refused(const ChatCall& call, const Status& status) {
  if (!call.req.stream) return openai_error_response(status);
  Response r = sse_response();
  r.stream = [call, status](const StreamWrite& write) {
    if (!write(openai::sse_chunk(openai::chunk_role(call.meta, call.req.include_usage)))) return;
    if (!write(openai::sse_chunk(openai::error_json(status)))) return;
    write(openai::sse_done());
  };
  return r;
}

// The streamed deltas of a retrieval-augmented chat, as OpenAI chunks.
class ChatSink final : public AnswerSink {
 public:
  ChatSink(const std::function<bool(std::string_view)>& on_delta, const std::function<bool()>& cancelled)
      : on_delta_(on_delta), cancelled_(cancelled) {}
  bool on_delta(std::string_view text) override { return !on_delta_ || on_delta_(text); }
  bool cancelled() override { return cancelled_ && cancelled_(); }

 private:
  const std::function<bool(std::string_view)>& on_delta_;
  const std::function<bool()>& cancelled_;
};

Response rag_chat(const Request& req, const ChatCall& call, Api& api) {
  LlmService& llm = *api.llm;
  AnswerRequest ar;
  Json search = call.req.ragd.is_object() ? call.req.ragd : Json::object();
  search.erase("timeout_ms");
  for (auto it = call.req.messages.rbegin(); it != call.req.messages.rend(); ++it) {
    if (it->role == "user") {
      search["query"] = it->content;
      break;
    }
  }
  if (!search.contains("k")) search["k"] = 8;
  auto sr = parse_search_request(search, api.options.max_k);
  if (!sr.is_ok()) return openai_error_response(sr.status().with_context("ragd"));
  ar.search = std::move(sr).value();
  bind_groups(req, ar.search);
  auto svc = collection_service(req, api);
  if (!svc.is_ok()) return openai_error_response(svc.status());
  ar.context = *svc;
  // On a cluster node the default collection is every shard: retrieved
  // through the coordinator (with `ragd.consistency_token`, read-your-writes).
  auto reader = cluster_reader(req, search, api);
  if (!reader.is_ok()) return openai_error_response(reader.status().with_context("ragd"));
  ar.reader = reader->get();
  // The authenticated caller; with authentication off, the self-asserted
  // OpenAI `user` or X-Ragd-Caller.
  ar.caller = req.principal || !req.caller.empty() ? req.caller
              : call.req.user.empty()              ? req.header("x-ragd-caller")
                                                   : call.req.user;
  ar.request_id = req.request_id;
  ar.max_tokens = call.req.max_tokens;
  ar.deadline = call.deadline;
  if (call.req.temperature || call.req.top_p || call.req.seed) {
    SamplerOptions so = llm.path()->options().answerer.sampling;
    if (call.req.temperature) so.temperature = static_cast<float>(*call.req.temperature);
    if (call.req.top_p) so.top_p = static_cast<float>(*call.req.top_p);
    if (call.req.seed) so.seed = *call.req.seed;
    ar.sampling = so;
  }
  const auto start = call.start;
  ChatRun run = [&api, &llm, ar, start, keep = *reader](const std::function<bool(std::string_view)>& on_delta,
                                                       const std::function<bool()>& cancelled) -> Result<ChatOutcome> {
    (void)keep;  // ar.reader points into it
    ChatSink sink(on_delta, cancelled);
    RAGD_ASSIGN_OR_RETURN(Answer a, api.answerer.answer(ar, on_delta || cancelled ? &sink : nullptr));
    llm.record("chat", "ok");
    llm.record_grounding(a.grounding);
    llm.record_generation("chat", a.prompt_tokens, a.completion_tokens, a.first_token_ms, ms_since(start));
    ChatOutcome o;
    o.content = a.text;  // the verified answer (streaming sent the raw deltas)
    o.finish = openai::finish_reason(a.finish);
    o.usage = {a.prompt_tokens, a.completion_tokens};
    o.extra = Json{{"citations", answer_to_json(a)["citations"]},
                   {"grounding", grounding_name(a.grounding)},
                   {"ragd", Json{{"request_id", a.request_id},
                                 {"answer", a.text},
                                 {"refused", a.refused},
                                 {"removed_sentences", a.removed_sentences}}}};
    return o;
  };
  return run_chat(call, std::move(run), [&llm](const Status& s) { llm.record("chat", outcome_of(s)); });
}

Response plain_chat(const ChatCall& call, Api& api) {
  LlmService& llm = *api.llm;
  // Held until the chat ends: a model switch meanwhile does not free it.
  const std::shared_ptr<const LlmAnswerPath> path = llm.path();
  const LlmAnswererOptions& ao = path->options().answerer;
  std::vector<ChatMessage> msgs;
  for (const auto& m : call.req.messages) msgs.push_back({m.role, m.content});
  GenerateOptions go;
  go.max_tokens = call.req.max_tokens > 0 ? call.req.max_tokens : ao.max_tokens;
  go.sampling = ao.sampling;
  if (call.req.temperature) go.sampling.temperature = static_cast<float>(*call.req.temperature);
  if (call.req.top_p) go.sampling.top_p = static_cast<float>(*call.req.top_p);
  if (call.req.seed) go.sampling.seed = *call.req.seed;
  go.stop = call.req.stop;
  go.prompt_chunk = ao.prefill_chunk;
  const auto start = call.start;
  const auto deadline = call.deadline;
  ChatRun run = [&llm, path, msgs, go, start, deadline](const std::function<bool(std::string_view)>& on_delta,
                                                          const std::function<bool()>& cancelled) mutable
      -> Result<ChatOutcome> {
    double first_ms = 0;
    go.should_stop = [&](int) -> Status {
      if (cancelled && cancelled()) return Status::cancelled("client went away");
      if (Clock::now() >= deadline) return Status::timeout("request timed out");
      return Status::ok();
    };
    int pieces = 0;
    StreamCallback cb = [&](std::string_view piece) {
      if (pieces++ == 0) first_ms = ms_since(start);
      return on_delta ? on_delta(piece) : true;
    };
    RAGD_ASSIGN_OR_RETURN(Generation g, path->chat(msgs, go, cb));
    if (!g.stop_status.is_ok()) return g.stop_status;
    if (g.finish == FinishReason::kCancelled) return Status::cancelled("client went away");
    const int completion = static_cast<int>(g.tokens.size());
    llm.record("chat", "ok");
    llm.record_generation("chat", g.prompt_tokens, completion, first_ms, ms_since(start));
    ChatOutcome o;
    o.content = g.text;
    o.finish = openai::finish_reason(answer_finish_of(g.finish));
    o.usage = {g.prompt_tokens, completion};
    return o;
  };
  return run_chat(call, std::move(run), [&llm](const Status& s) { llm.record("chat", outcome_of(s)); });
}

}  // namespace

// ---- GET /v1/models ----

Response handle_models(const Request&, Api& api) {
  if (!api.llm || !api.llm->path()) {
    Json list = {{"object", "list"}, {"data", Json::array()}};
    if (api.service.embedder()) {
      list["data"].push_back({{"id", "ragd-embed"}, {"object", "model"}, {"created", 0}, {"owned_by", "ragd"}});
    }
    return json_ok(list);
  }
  const LlmService& llm = *api.llm;
  std::vector<openai::ModelInfo> list = {{llm.options().rag_model_name, llm.created(), "ragd"},
                                         {llm.model_id(), llm.created(), "ragd"}};
  if (api.service.embedder()) list.push_back({"ragd-embed", llm.created(), "ragd"});
  return json_ok(openai::models_response(list));
}

// ---- POST /v1/embeddings ----

Response handle_embeddings(const Request& req, Api& api) {
  auto parsed = openai::parse_embeddings_request(req.body);
  if (!parsed.is_ok()) return openai_error_response(parsed.status());
  const Embedder* e = api.service.embedder();
  if (!e) return openai_error_response(Status::unavailable("no embedding encoder is loaded"));
  if (parsed->dimensions && *parsed->dimensions != e->dim()) {
    return openai_error_response(Status::invalid_argument("field 'dimensions': this encoder gives " +
                                                          std::to_string(e->dim()) + " dimensions"));
  }
  if (parsed->input.size() > 2048) {
    return openai_error_response(Status::invalid_argument("field 'input': at most 2048 inputs per request"));
  }
  std::vector<float> out;
  Status s = e->embed(parsed->input, EmbedRole::kPassage, out);
  if (!s.is_ok()) return openai_error_response(s);
  // Tokens: the encoder's own count for a GGUF encoder, words for GloVe.
  int tokens = 0;
  for (const auto& text : parsed->input) {
    if (auto n = encoder_token_count(*e, text)) {
      tokens += static_cast<int>(*n);
    } else {
      bool in_word = false;
      for (unsigned char c : text) {
        bool w = std::isalnum(c) || c >= 0x80;
        if (w && !in_word) ++tokens;
        in_word = w;
      }
    }
  }
  return json_ok(openai::embeddings_response(parsed->model, out, e->dim(), parsed->base64, tokens));
}

}  // namespace ragd::api
