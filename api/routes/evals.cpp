// The evaluation suite over HTTP (govern/eval_suite.h), admin only:
//   GET  /v1/evals      the stored results (the active configuration's and
//                       each candidate's, with their versions) and the job
//   POST /v1/evals/run  {"candidate": NAME, "prompts": NAME} (both optional),
//                       or {"triage": "FIELD@VERSION"}: a run in the
//                       background of the active configuration or of a
//                       candidate (a registered model, a folder of prompt
//                       templates <data>/prompts/NAME, or both; or a stored
//                       triage version, alone) (202; 409 while one runs)
// A client names a templates folder, never a path: the route reads only
// under the data directory (as the registry's routes take names, not files).
// Results can hold the evaluation's questions' outcomes only as metrics, but
// they name the deployed models and prompts: readers do not need them.
#include <algorithm>
#include <cctype>

#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "govern/eval_suite.h"
#include "triage/triage.h"

namespace ragd::api {

Response handle_list_evals(const Request&, Api& api) {
  // The job's status before the results: a run it counts as finished has
  // stored its results, so they are in the list read after it.
  Json job = api.jobs.evals ? job_status_json(api.jobs.evals->status()) : Json(nullptr);
  auto results = govern::list_suite_results(api.service.store());
  if (!results.is_ok()) return error_response(results.status());
  Json list = Json::array();
  for (const auto& r : *results) list.push_back(Json::parse(govern::suite_result_to_json(r)));
  Json j{{"results", std::move(list)}};
  j["job"] = std::move(job);
  return json_response(j);
}

Response handle_run_evals(const Request& req, Api& api) {
  if (api.jobs.evals == nullptr) {
    return error_response(Status::unimplemented("the evaluation suite is not wired in this server"));
  }
  // The job's request: {"candidate": NAME, "prompts": DIR} with the ones
  // given, "" for the active configuration.
  auto is_name = [](const std::string& s) {
    return !s.empty() && s.size() <= 64 && s != "." && s != ".." &&
           std::all_of(s.begin(), s.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
           });
  };
  Json run = Json::object();
  auto body = parse_optional_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  for (const auto& [key, value] : body->items()) {
    if (key != "candidate" && key != "prompts" && key != "triage") {
      return error_response(
          Status::invalid_argument("unknown field '" + key.substr(0, 100) + "' (candidate, prompts, triage)"));
    }
    if (value.is_null()) continue;
    if (key == "triage") {
      if (!value.is_string()) return error_response(Status::invalid_argument("field 'triage': FIELD@VERSION"));
      auto fv = govern::parse_triage_candidate(value.get<std::string>());
      if (!fv.is_ok()) return error_response(fv.status().with_context("field 'triage'"));
      // Refused now (400, 404) rather than later in the job's last_error.
      auto stored = triage::version_manifest(api.service.store(), fv->first, fv->second);
      if (!stored.is_ok()) return error_response(stored.status().with_context("field 'triage'"));
      run[key] = value.get<std::string>();
      continue;
    }
    if (!value.is_string() || !is_name(value.get<std::string>())) {
      return error_response(Status::invalid_argument(
          key == "candidate" ? "field 'candidate': a registered model's name"
                             : "field 'prompts': the name of a folder of prompt templates in <data>/prompts/ "
                               "(1-64 of a-z A-Z 0-9 . _ -)"));
    }
    run[key] = key == "candidate" ? value.get<std::string>()
                                  : (api.service.options().store.dir / "prompts" / value.get<std::string>()).string();
  }
  if (run.contains("triage") && (run.contains("candidate") || run.contains("prompts"))) {
    return error_response(Status::invalid_argument("a triage candidate is evaluated on its own: leave out 'candidate' "
                                                   "and 'prompts'"));
  }
  if (!api.jobs.evals->trigger(run.empty() ? std::string() : run.dump())) {
    return error_response(Status::already_exists("an evaluation suite run is already running"));
  }
  Json prompts = body->contains("prompts") ? (*body)["prompts"] : Json(nullptr);
  return json_response(Json{{"started", true}, {"candidate", run.value("candidate", Json(nullptr))},
                            {"prompts", std::move(prompts)}, {"triage", run.value("triage", Json(nullptr))}},
                       202);
}

}  // namespace ragd::api
