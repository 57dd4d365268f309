#include "api/router.h"

#include <algorithm>

#include "api/status_http.h"

namespace ragd::api {

namespace {

// The media type of a Content-Type header, lower-cased, without parameters.
std::string media_type(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  const auto not_space = [](unsigned char c) { return c != ' ' && c != '\t'; };
  t.erase(t.begin(), std::find_if(t.begin(), t.end(), not_space));
  t.erase(std::find_if(t.rbegin(), t.rend(), not_space).base(), t.end());
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  return t;
}

// 415 unless the body is of a type the route reads. JSON is never parsed
// from a body that claims another type (a cross-site form post is
// text/plain or application/x-www-form-urlencoded).
std::optional<Response> refuse_content_type(const Route& route, const Request& req) {
  if (req.body.empty()) return std::nullopt;
  const std::string type = media_type(req.header("content-type"));
  if (type == "application/json") return std::nullopt;
  std::string expected = "application/json";
  if (route.body == BodyType::kJsonOrUpload) {
    if (type == "multipart/form-data") return std::nullopt;
    if (req.query.count("filename") != 0 || req.query.count("format") != 0) return std::nullopt;
    expected += ", multipart/form-data, or a raw file named by ?filename= or ?format=";
  }
  std::string got = type.empty() ? std::string("no Content-Type") : "'" + type.substr(0, 100) + "'";
  return error_response(415, "unsupported_media_type",
                        req.method + " " + route.pattern + " takes " + expected + "; got " + got);
}

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

Lane Router::lane(const Request& req) const {
  const std::string& method = req.method == "HEAD" ? std::string("GET") : req.method;
  for (const Route& r : routes_) {
    if (r.method == method && matches(r.pattern, req.path, nullptr)) return r.lane;
  }
  return Lane::kDefault;
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
    if (std::optional<Response> refused = refuse_content_type(*route, req)) return std::move(*refused);
    return route->handler(req);
  } catch (...) {
    return current_exception_response(req);
  }
}

}  // namespace ragd::api
