// POST /v1/webhooks/{source-name}: a vendor's signed event, upserted or
// deleted at once (sync/scheduler.h, sync/webhook.h). No API key: the
// signature is the authentication, so the route is open in the route table.
#include <string>

#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "sync/scheduler.h"

namespace ragd::api {

Response handle_webhook(const Request& req, Api& api) {
  std::string name;
  if (!percent_decode(req.path_param, name)) {
    return error_response(Status::invalid_argument("malformed percent-escape in the source name"));
  }
  if (api.sources == nullptr) return error_response(Status::not_found("no [[source]] tables are configured"));
  auto out = api.sources->webhook(name, req.headers, req.body);
  if (!out.is_ok()) return error_response(out.status());
  const sync::SyncCounts& c = out->counts;
  Json j{{"source", name},
         {"event", out->event},
         {"action", out->action},
         {"id", out->id},
         {"counts", {{"new", c.added}, {"updated", c.updated}, {"unchanged", c.unchanged}, {"deleted", c.deleted},
                     {"failed", c.failed}}},
         {"errors", out->errors}};
  Response r;
  r.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

}  // namespace ragd::api
