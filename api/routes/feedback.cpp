// POST /v1/answers/{id}/feedback: a judgement of one answer, linked to its
// audit record by the answer's id (its request_id), stored in the
// collection's store (govern/feedback.h). 404 when the audit log holds no
// answer with that id.

#include "api/auth_hook.h"
#include "api/json_codec.h"
#include "api/routes/routes.h"
#include "api/status_http.h"
#include "generate/audit_log.h"
#include "govern/feedback.h"
#include "ragd/clock.h"

namespace ragd::api {

Response handle_answer_feedback(const Request& req, Api& api) {
  // The router matches "/v1/answers/{id}" with the rest of the path as the
  // parameter: "<id>/feedback" is the one action.
  const std::string suffix = "/feedback";
  const std::string& p = req.path_param;
  if (p.size() <= suffix.size() || p.compare(p.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return not_found_response(req);
  }
  std::string id;
  if (!percent_decode(p.substr(0, p.size() - suffix.size()), id) || id.empty() || id.size() > 128) {
    return error_response(Status::invalid_argument("malformed answer id in the path"));
  }
  auto body = parse_json_body(req.body);
  if (!body.is_ok()) return error_response(body.status());
  const Json& b = *body;
  if (!b.is_object()) return error_response(Status::invalid_argument("expected a JSON object"));
  auto h = b.find("helpful");
  if (h == b.end() || !h->is_boolean()) {
    return error_response(Status::invalid_argument("field 'helpful': expected true or false"));
  }
  std::string correction;
  if (auto c = b.find("correction"); c != b.end() && !c->is_null()) {
    if (!c->is_string()) return error_response(Status::invalid_argument("field 'correction': expected a string"));
    correction = c->get<std::string>();
    if (correction.size() > govern::kMaxCorrectionBytes) {
      return error_response(Status::invalid_argument("field 'correction': longer than " +
                                                     std::to_string(govern::kMaxCorrectionBytes) + " bytes"));
    }
  }
  auto ctx = collection_service(req, api);
  if (!ctx.is_ok()) return error_response(ctx.status());
  if (api.options.audit_log.empty()) {
    return error_response(Status::not_found("no answer with id '" + id + "': this server keeps no audit log"));
  }
  AuditQuery q;
  q.request_id = id;
  auto records = query_audit_log(api.options.audit_log, q);
  if (!records.is_ok()) return error_response(records.status());
  auto f = govern::feedback_for(*records, h->get<bool>(), std::move(correction));
  if (!f.is_ok()) return error_response(Status::not_found("no answer with id '" + id + "' in the audit log"));
  f->caller = req.caller;
  f->time_ms = unix_ms();
  if (Status s = govern::put_feedback((*ctx)->store(), *f); !s.is_ok()) return error_response(s);
  Response r;
  r.body = Json{{"stored", "answer_feedback/" + id}, {"answer_id", id}, {"question", f->question},
                {"helpful", f->helpful}, {"refused", f->refused}}
               .dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

}  // namespace ragd::api
