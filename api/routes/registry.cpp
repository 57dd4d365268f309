// The model registry (govern/registry.h) over HTTP, admin only:
//   GET  /v1/registry/models                 every entry, the active ones marked
//   POST /v1/registry/models/{name}/activate make it the active one of its role
//        {"force": true} (optional): past a failing evaluation suite gate
//        (govern/eval_suite.h), recorded in the audit log
// Activating an LLM switches the served one live (LlmService::switch_model:
// loaded first, in-flight requests finish on the old one; "applies":
// "now"); in a server that answered extractively the LLM takes over
// /v1/answer and opens /v1/chat/completions. An encoder starts the
// background reindex of every collection (Collections::reindex_to;
// "applies": "after the background reindex", "reindex": {collection:
// "started" | "bound already" | the error}). If the new file fails to
// load, the registry is not changed and the old model (or the extractive
// answerer) keeps serving. "next start" is left for a server
// with no LLM service (an App built without one).
// Registering a file stays on the CLI (`ragd models add`): a route that opens
// a server-side path named by a client would read any file on the box.
#include <filesystem>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "api/json_codec.h"
#include "api/llm_service.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "generate/audit_log.h"
#include "govern/eval_suite.h"
#include "govern/registry.h"
#include "service/collections.h"

namespace ragd::api {
namespace {

Json entry_json(const govern::ModelEntry& e) {
  Json j = Json::parse(govern::model_entry_to_json(e));
  j["active"] = e.active;
  return j;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// A collection's reindex as the response shows it. A storage error names
// server paths: only its kind (the server log has the rest).
std::string reindex_outcome(const std::string& collection, const Status& s) {
  if (s.is_ok()) return "started";
  if (s.code() == StatusCode::kAlreadyExists) return "bound already";
  spdlog::warn("collection '{}': the reindex did not start: {}", collection, s.message());
  switch (s.code()) {
    case StatusCode::kIoError:
    case StatusCode::kCorruption:
    case StatusCode::kNoSpace:
      return std::string(status_code_name(s.code())) + "; the server log has the details";
    default:
      return s.message();
  }
}

// An encoder activation: every collection re-embeds in the background
// (Collections::reindex_to; the old encoder serves each until its switch).
// Each one's outcome goes to `outcomes`. An error = the default's: nothing
// started.
Status start_reindex(Api& api, const std::filesystem::path& model, Json& outcomes) {
  if (api.collections == nullptr) {  // the default collection alone
    Status s = api.service.reindex_to(model);
    if (!s.is_ok() && s.code() != StatusCode::kAlreadyExists) {
      return s.with_context("the previous model keeps serving");
    }
    outcomes["default"] = reindex_outcome("default", s);
    return Status::ok();
  }
  auto started = api.collections->reindex_to(model);
  if (!started.is_ok()) return started.status().with_context("the previous model keeps serving");
  for (const auto& [collection, s] : *started) outcomes[collection] = reindex_outcome(collection, s);
  return Status::ok();
}

}  // namespace

Response handle_list_registry(const Request&, Api& api) {
  auto all = govern::list_models(api.service.store());
  if (!all.is_ok()) return error_response(all.status());
  Json models = Json::array();
  for (const auto& e : *all) models.push_back(entry_json(e));
  Response r;
  r.body = dump(Json{{"models", std::move(models)}});
  return r;
}

Response handle_registry_action(const Request& req, Api& api) {
  const std::string suffix = "/activate";
  const std::string& p = req.path_param;
  if (p.size() <= suffix.size() || p.compare(p.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return not_found_response(req);
  }
  std::string name;
  if (!percent_decode(p.substr(0, p.size() - suffix.size()), name)) {
    return error_response(Status::invalid_argument("malformed percent-escape in the model name"));
  }
  bool force = false;
  auto body = parse_optional_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  for (const auto& [key, value] : body->items()) {
    if (key != "force") return error_response(Status::invalid_argument("unknown field '" + key.substr(0, 100) + "' (force)"));
    if (!value.is_boolean()) return error_response(Status::invalid_argument("field 'force': a boolean"));
    force = value.get<bool>();
  }
  std::unique_ptr<AuditLog> audit;
  if (force && !api.options.audit_log.empty()) {
    // Its own descriptor on the answers' file: each record is one O_APPEND write.
    auto opened = AuditLog::open(api.options.audit_log);
    if (!opened.is_ok()) return error_response(opened.status());
    audit = std::move(opened).value();
  }
  // A running server switches first; the registry names the model only
  // once it serves (a model that fails to load changes nothing).
  std::string applies = "next start";
  Json reindex = Json::object();  // an encoder: each collection's reindex
  auto apply = [&](const govern::ModelEntry& e) -> Status {
    if (e.role == govern::ModelRole::kEncoder) {
      applies = "after the background reindex";
      return start_reindex(api, e.path, reindex);
    }
    if (api.llm == nullptr) return Status::ok();
    applies = "now";
    const bool had_model = api.llm->path() != nullptr;
    Status switched = api.llm->switch_model(e.path);
    if (switched.is_ok()) return switched;
    return switched.with_context(had_model ? "the previous model keeps serving" : "the extractive answerer keeps serving");
  };
  auto g = govern::activate_gated(api.service.store(), name, api.options.eval_tolerance, force, audit.get(),
                                  req.caller.empty() ? "http" : req.caller, apply);
  if (!g.is_ok()) return error_response(g.status());
  Json j = entry_json(g->entry);
  j["forced"] = g->forced;
  j["gate"] = g->verdict.pass ? "pass" : g->verdict.reason;
  j["applies"] = applies;
  if (!reindex.empty()) j["reindex"] = std::move(reindex);
  Response r;
  r.body = dump(j);
  return r;
}

}  // namespace ragd::api
