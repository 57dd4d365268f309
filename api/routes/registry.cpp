// The model registry (govern/registry.h) over HTTP, admin only:
//   GET  /v1/registry/models                 every entry, the active ones marked
//   POST /v1/registry/models/{name}/activate make it the active one of its role
//        {"force": true} (optional): past a failing evaluation suite gate
//        (govern/eval_suite.h), recorded in the audit log
// Activating an LLM in a server that answers with an LLM switches it live
// (LlmService::switch_model: loaded first, in-flight requests finish on the
// old one; "applies": "now"). An encoder starts the background reindex of
// the default collection (ServiceContext::reindex_to; "applies": "after the
// background reindex"). If the new file fails to load, the previous active
// entry is restored and the old model keeps serving. An LLM for a server
// started without one "applies": "next start".
// Registering a file stays on the CLI (`ragd models add`): a route that opens
// a server-side path named by a client would read any file on the box.
#include <optional>
#include <string>

#include "api/json_codec.h"
#include "api/llm_service.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "generate/audit_log.h"
#include "govern/eval_suite.h"
#include "govern/registry.h"

namespace ragd::api {
namespace {

Json entry_json(const govern::ModelEntry& e) {
  Json j = Json::parse(govern::model_entry_to_json(e));
  j["active"] = e.active;
  return j;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

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
  auto apply = [&](const govern::ModelEntry& e) -> Status {
    Status switched = Status::ok();
    if (e.role == govern::ModelRole::kLlm && api.llm != nullptr) {
      switched = api.llm->switch_model(e.path);
      applies = "now";
    } else if (e.role == govern::ModelRole::kEncoder) {
      // The default collection re-embeds in the background; the old encoder
      // serves until the switch (GET /v1/stats "reindex").
      switched = api.service.reindex_to(e.path);
      if (switched.code() == StatusCode::kAlreadyExists) switched = Status::ok();
      applies = "after the background reindex";
    }
    return switched.is_ok() ? switched : switched.with_context("the previous model keeps serving");
  };
  auto g = govern::activate_gated(api.service.store(), name, api.options.eval_tolerance, force, audit.get(),
                                  req.caller.empty() ? "http" : req.caller, apply);
  if (!g.is_ok()) return error_response(g.status());
  Json j = entry_json(g->entry);
  j["forced"] = g->forced;
  j["gate"] = g->verdict.pass ? "pass" : g->verdict.reason;
  j["applies"] = applies;
  Response r;
  r.body = dump(j);
  return r;
}

}  // namespace ragd::api
