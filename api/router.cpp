#include "api/router.h"

#include "api/status_http.h"

namespace ragd::api {

namespace {

constexpr std::string_view kCollectionsPrefix = "/v1/collections/";

// "/v1/collections/<name>/<rest>" is the route "/v1/<rest>" in collection
// <name>; false for any other path ("/v1/collections" and
// "/v1/collections/<name>" are routes of their own).
bool split_collection(std::string_view path, std::string* name, std::string* route_path) {
  if (path.substr(0, kCollectionsPrefix.size()) != kCollectionsPrefix) return false;
  std::string_view rest = path.substr(kCollectionsPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 >= rest.size()) return false;
  *name = std::string(rest.substr(0, slash));
  *route_path = "/v1/" + std::string(rest.substr(slash + 1));
  return true;
}

// The path the route table is matched against.
std::string route_path_of(const std::string& path) {
  std::string name, route;
  return split_collection(path, &name, &route) ? route : path;
}

}  // namespace

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
  const std::string path = route_path_of(req.path);
  for (const Route& r : routes_) {
    if (r.method == req.method && matches(r.pattern, path, nullptr)) return &r;
  }
  return nullptr;
}

bool Router::is_generation(const Request& req) const {
  const Route* r = find(req);
  return r != nullptr && r->generation;
}

std::string Router::label(const Request& req) const {
  const std::string path = route_path_of(req.path);
  for (const Route& r : routes_) {
    if (matches(r.pattern, path, nullptr)) return r.pattern;
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
    // A collection's routes are the default's under a prefix: the handler
    // sees the plain path and req.collection.
    std::string name, route_path;
    if (req.collection.empty() && split_collection(req.path, &name, &route_path)) {
      req.collection = std::move(name);
      req.path = std::move(route_path);
    }
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
