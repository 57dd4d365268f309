#include "api/router.h"

#include "api/status_http.h"

namespace ragd::api {

Router::Router(std::vector<Route> routes, const Authenticator* auth)
    : routes_(std::move(routes)), auth_(auth != nullptr ? auth : &admit_all_) {}

bool Router::matches(const std::string& pattern, std::string_view path, std::string* param) {
  const size_t brace = pattern.find('{');
  if (brace == std::string::npos) return path == pattern;
  if (path.size() <= brace || path.compare(0, brace, std::string_view(pattern).substr(0, brace)) != 0) return false;
  if (param != nullptr) *param = std::string(path.substr(brace));
  return true;
}

const Route* Router::find(const Request& req) const {
  for (const Route& r : routes_) {
    if (r.method == req.method && matches(r.pattern, req.path, nullptr)) return &r;
  }
  return nullptr;
}

bool Router::is_generation(const Request& req) const {
  const Route* r = find(req);
  return r != nullptr && r->generation;
}

std::string Router::label(const Request& req) const {
  for (const Route& r : routes_) {
    if (matches(r.pattern, req.path, nullptr)) return r.pattern;
  }
  return "other";
}

Response Router::dispatch(Request& req) const {
  Response resp = dispatch_method(req);
  if (req.method == "HEAD") resp.head_only = true;
  return resp;
}

Response Router::dispatch_method(Request& req) const {
  try {
    const Route* route = nullptr;
    std::string allow;
    const bool head = req.method == "HEAD";
    for (const Route& r : routes_) {
      std::string param;
      if (!matches(r.pattern, req.path, &param)) continue;
      // HEAD runs the GET route; the server drops the body.
      if (r.method == req.method || (head && r.method == "GET")) {
        route = &r;
        req.path_param = std::move(param);
        break;
      }
      if (r.method == "HEAD") continue;  // implied by GET; not listed
      if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
    }
    if (route == nullptr) return allow.empty() ? not_found_response(req) : method_not_allowed_response(req, allow);
    if (std::optional<Response> refused = auth_->admit(route->action, req)) return std::move(*refused);
    return route->handler(req);
  } catch (...) {
    return current_exception_response(req);
  }
}

}  // namespace ragd::api
