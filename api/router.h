// The route table and the one dispatcher. A Route names its method, its path
// pattern, its handler, whether it waits for the model (a generation route:
// the server runs it behind the admission queue on the generation pool) and
// the auth::Action it needs. dispatch() finds the route, runs the
// authentication hook, then the handler; an unknown path is the one 404, a
// known path with another method the one 405, an escaped exception the one
// 500 (status_http.h).
//
// Patterns are literal paths, or a prefix ending in one "{name}" that matches
// the rest of the path (one character or more, '/' included: document ids
// such as "runbooks/vpn.md"). The value is still percent-encoded.
//
// Thread safety: const methods may be called from many threads at once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.h"
#include "auth/principal.h"
#include "ragd/status.h"

namespace ragd::api {

// The authentication hook: runs before every matched route's handler.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // `action` is what the route needs; nullopt for open routes (/healthz, the
  // web page and its assets). It may fill req.caller and req.principal. A
  // returned Response turns the request away (401, 403, 429) and the handler
  // does not run; nullopt admits it. See api/auth_hook.h.
  virtual std::optional<Response> admit(const std::optional<auth::Action>& action, Request& req) const = 0;
};

// Admits every request (no API keys configured).
class AdmitAll final : public Authenticator {
 public:
  std::optional<Response> admit(const std::optional<auth::Action>&, Request&) const override {
    return std::nullopt;
  }
};

// A route's handler: the request (req.path_param holds the pattern's
// "{name}" value, when it has one).
using Handler = std::function<Response(const Request& req)>;

// Which of the server's thread lanes runs a route (api/server.h), so that a
// class of requests cannot take the threads another needs.
enum class Lane {
  kDefault,  // the route workers: search, answer, documents by id, ...
  kProbe,    // /healthz and /metrics: a thread of their own, never behind the workers
  kIngest,   // writes that may be large (POST /v1/documents): at most --max-ingest-inflight at once
  kPeer,     // a cluster peer's phase of a search (App::lane): threads of their own
};

// What a non-empty request body must be; dispatch() answers 415 otherwise.
// An empty body needs no Content-Type (GET, HEAD, DELETE, an empty POST).
enum class BodyType {
  kJson,          // application/json (parameters such as "; charset=utf-8" allowed)
  kJsonOrUpload,  // JSON, multipart/form-data, or any type when ?filename= or ?format= names a raw file
};

struct Route {
  std::string method;   // "GET", "POST", "DELETE", "HEAD"
  std::string pattern;  // "/v1/search", "/v1/documents/{id}"
  Handler handler;
  // Waits for the model: runs on the generation pool, behind admission.
  bool generation = false;
  // What the caller must be allowed; nullopt = open to anyone.
  std::optional<auth::Action> action;
  Lane lane = Lane::kDefault;
  BodyType body = BodyType::kJson;
};

class Router {
 public:
  // `auth` null = AdmitAll. It must outlive the router.
  explicit Router(std::vector<Route> routes, const Authenticator* auth = nullptr);

  // The route for the request's method and path; null when none (then
  // dispatch() answers 404 or 405).
  const Route* find(const Request& req) const;
  // Authentication hook, handler, errors. Never throws. HEAD runs the GET
  // route and answers with head_only set.
  Response dispatch(Request& req) const;
  // True when the request's route is a generation route.
  bool is_generation(const Request& req) const;
  // The lane of the request's route (HEAD: its GET route's); kDefault when none.
  Lane lane(const Request& req) const;
  // A low-cardinality label for logs and metrics: the route's pattern
  // ("/v1/documents/{id}"), "other" for an unknown path.
  std::string label(const Request& req) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  Response dispatch_method(Request& req) const;
  // Whether `pattern` matches `path`; the "{name}" value goes to `param`.
  static bool matches(const std::string& pattern, std::string_view path, std::string* param);

  std::vector<Route> routes_;
  const Authenticator* auth_;
  AdmitAll admit_all_;
};

}  // namespace ragd::api
