// The model registry (govern/registry.h) over HTTP, admin only:
//   GET  /v1/registry/models                 every entry, the active ones marked
//   POST /v1/registry/models/{name}/activate make it the active one of its role
// Registering a file stays on the CLI (`ragd models add`): a route that opens
// a server-side path named by a client would read any file on the box.
#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
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
  auto e = govern::activate_model(api.service.store(), name);
  if (!e.is_ok()) return error_response(e.status());
  Json j = entry_json(*e);
  // The running server keeps the model it loaded; the next start loads this.
  j["applies"] = "next start";
  Response r;
  r.body = dump(j);
  return r;
}

}  // namespace ragd::api
