// GET /v1/triage, POST /v1/triage/train and POST /v1/triage/activate: the
// triage models ticket assist serves, retraining them inside the server
// (service/triage_retrainer.h), and serving a stored version past the
// evaluation suite's gate (govern/eval_suite.h).
#include <memory>
#include <string>
#include <vector>

#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "generate/audit_log.h"
#include "govern/eval_suite.h"
#include "service/triage_retrainer.h"
#include "triage/triage.h"

namespace ragd::api {
namespace {

Json field_result_json(const RetrainFieldResult& r) {
  Json j{{"field", r.field}, {"seconds", r.seconds}};
  if (!r.error.empty()) j["error"] = r.error;
  if (!r.version.empty()) {
    j["version"] = r.version;
    j["previous"] = r.previous.empty() ? Json(nullptr) : Json(r.previous);
    j["activated"] = r.activated;
    j["decision"] = r.decision;
    j["family"] = r.chosen;
    j["test_accuracy"] = r.accuracy;
    j["examples"] = r.examples;
  }
  return j;
}

}  // namespace

Response handle_triage_status(const Request&, Api& api) {
  // The retrain status before the served versions: a run it counts as
  // finished has activated what it activates, so the list read after it
  // shows that.
  Json retrain = nullptr;
  if (api.retrainer != nullptr) {
    const RetrainStatus st = api.retrainer->status();
    Json last = Json::array();
    for (const auto& r : st.last) last.push_back(field_result_json(r));
    retrain = Json{{"running", st.running},
                   {"interval_seconds", st.interval_seconds},
                   {"runs", st.runs},
                   {"last_start", time_json(st.last_start_ms)},
                   {"last_end", time_json(st.last_end_ms)},
                   {"next_run", time_json(st.next_run_ms)},
                   {"last", last}};
  }
  // The active versions in the store: the server serves them (a retrain
  // reloads what it activates; `ragd triage train` runs only while the
  // server is down).
  auto active = triage::served_versions(api.service.store());
  if (!active.is_ok()) return error_response(active.status());
  Json served = Json::array();
  for (const auto& m : *active) {
    Json manifest = Json::parse(m.manifest_json, nullptr, false);
    served.push_back(Json{{"field", m.field},
                          {"version", m.version},
                          {"manifest", manifest.is_discarded() ? Json(nullptr) : manifest}});
  }
  return json_response(Json{{"served", std::move(served)}, {"retrain", std::move(retrain)}});
}

Response handle_triage_train(const Request& req, Api& api) {
  if (api.retrainer == nullptr) {
    return error_response(Status::unimplemented("triage retraining is not wired in this server"));
  }
  std::vector<std::string> fields;
  bool force = false, activate = true;
  auto body = parse_optional_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  for (const auto& [key, value] : body->items()) {
    if (key == "fields") {
      if (!value.is_array() || value.size() > 32) {
        return error_response(Status::invalid_argument("field 'fields': an array of at most 32 field names"));
      }
      for (const auto& f : value) {
        if (!f.is_string() || f.get<std::string>().empty() || f.get<std::string>().size() > 256) {
          return error_response(Status::invalid_argument("field 'fields': each name a non-empty string of at most 256 bytes"));
        }
        fields.push_back(f.get<std::string>());
      }
    } else if (key == "force" || key == "activate") {
      if (!value.is_boolean()) return error_response(Status::invalid_argument("field '" + key + "': a boolean"));
      (key == "force" ? force : activate) = value.get<bool>();
    } else {
      return error_response(
          Status::invalid_argument("unknown field '" + key.substr(0, 100) + "' (fields, force, activate)"));
    }
  }
  if (force && !activate) {
    return error_response(
        Status::invalid_argument("'force' activates a worse version and 'activate': false activates none: choose one"));
  }
  switch (api.retrainer->trigger(fields, force, req.caller, activate)) {
    case TriageRetrainer::Trigger::kAlreadyRunning:
      return error_response(Status::already_exists("a triage training run is already running"));
    case TriageRetrainer::Trigger::kStarted: break;
  }
  return json_response(Json{{"started", true}, {"fields", fields}, {"force", force}, {"activate", activate}}, 202);
}

Response handle_triage_activate(const Request& req, Api& api) {
  if (api.retrainer == nullptr) {
    return error_response(Status::unimplemented("triage models are not served by this server"));
  }
  std::string field, version;
  bool force = false;
  auto body = parse_optional_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  for (const auto& [key, value] : body->items()) {
    if (key == "field" || key == "version") {
      if (!value.is_string() || value.get<std::string>().empty() || value.get<std::string>().size() > 256) {
        return error_response(Status::invalid_argument("field '" + key + "': a non-empty string of at most 256 bytes"));
      }
      (key == "field" ? field : version) = value.get<std::string>();
    } else if (key == "force") {
      if (!value.is_boolean()) return error_response(Status::invalid_argument("field 'force': a boolean"));
      force = value.get<bool>();
    } else {
      return error_response(
          Status::invalid_argument("unknown field '" + key.substr(0, 100) + "' (field, version, force)"));
    }
  }
  if (field.empty() || version.empty()) {
    return error_response(Status::invalid_argument("'field' and 'version' are required (GET /v1/triage lists them)"));
  }
  std::unique_ptr<AuditLog> audit;
  if (force && !api.options.audit_log.empty()) {
    auto opened = AuditLog::open(api.options.audit_log);
    if (!opened.is_ok()) return error_response(opened.status());
    audit = std::move(opened).value();
  }
  // Not while a training run may activate what it trains.
  Result<govern::GatedTriageActivation> g = Status::internal("not run");
  Status changed = api.retrainer->change_models([&] {
    g = govern::activate_triage_gated(api.service.store(), field, version, api.options.eval_tolerance, force,
                                      audit.get(), req.caller.empty() ? "http" : req.caller);
    return g.status();
  });
  if (!changed.is_ok()) return error_response(changed);
  return json_response(Json{{"field", field},
                            {"version", version},
                            {"previous", g->previous.empty() ? Json(nullptr) : Json(g->previous)},
                            {"forced", g->forced},
                            {"gate", g->verdict.pass ? "pass" : g->verdict.reason}});
}

}  // namespace ragd::api
