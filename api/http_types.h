// Request and Response as the routes see them: plain values with no Beast
// types, so that a route can be tested without a socket.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/principal.h"

namespace ragd::api {

struct Deferred;  // admission.h

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: "/v1/documents/runbooks%2Fvpn.md?x=1"
  std::string path;    // target before '?', still percent-encoded
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string remote;  // "127.0.0.1:53422", for logs
  // The client's X-Request-Id (bounded, safe characters) or a generated one;
  // the server returns it in every response and the answer path writes it
  // into the audit log.
  std::string request_id;
  // The authenticated caller's name, for logs and the audit log; "" when
  // authentication is off.
  std::string caller;
  // The authenticated caller (api/auth_hook.h); unset when authentication is
  // off. Its groups bound what every route may show.
  std::optional<auth::Principal> principal;
  // The node id of a cluster peer whose signature (auth/peer.h) was
  // verified; "" otherwise. Such a request has no principal: the groups in
  // its body were bound by the signing coordinator.
  std::string peer;
  // The value of the route pattern's "{name}" part (api/router.h), still
  // percent-encoded; "" for routes without one.
  std::string path_param;
  // The collection named by a "/v1/collections/{name}/..." path (the
  // router strips that prefix from `path`); "" = the default collection.
  std::string collection;

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Writes one Server-Sent Event (or any chunk) to the client. Returns false
// once the client has gone away (closed, reset, or not reading for the
// write timeout); the producer should then stop. write("") sends nothing and
// only answers whether the client is still there: cheap enough to poll
// before every generated token.
using StreamWrite = std::function<bool(const std::string& chunk)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // The answer to a HEAD request: the server sends the headers, with the
  // Content-Length `body` would have, and no body.
  bool head_only = false;
  // Streaming responses (SSE): when set, the server sends the headers with
  // chunked transfer encoding (and Connection: close), then calls `stream` on
  // a generation-pool thread, forwarding each chunk it writes as it comes;
  // `body` is ignored. The connection closes when `stream` returns.
  std::function<void(const StreamWrite&)> stream;
  // Generation routes: when set, the request holds a place in the model's
  // admission queue and this is not the response yet. The server waits for
  // the slot without holding a thread, then sends deferred->admitted() (or
  // deferred->refused() at the deadline), run on the generation pool.
  std::shared_ptr<Deferred> deferred;
};

// Splits target into path and decoded query parameters.
void split_target(Request& req);
// Percent-decoding; '+' becomes a space only when `plus_is_space`.
// Returns false on a malformed escape.
bool percent_decode(const std::string& in, std::string& out, bool plus_is_space = false);

}  // namespace ragd::api
