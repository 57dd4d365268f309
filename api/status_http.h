// The one mapping from ragd::Status to HTTP, and the one error body shape
// {"error":{"code","message"}}: every error response of the API (the 404 of
// an unknown path, the 405 of a wrong method, the 500 of an unexpected
// exception, and every route's failed Status) is built here. The OpenAI
// routes wrap the same code in OpenAI's body (routes/openai.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "api/http_types.h"
#include "ragd/status.h"

namespace ragd::api {

// A JSON response body (application/json), invalid UTF-8 replaced.
Response json_response(const nlohmann::json& j, int status = 200);

// 400 invalid argument, 401 unauthenticated, 403 permission denied, 404 not
// found, 408 timeout, 409 already exists / failed precondition, 413 resource
// exhausted, 501 unimplemented, 503 unavailable or cancelled, 500 the rest.
int http_status(const Status& status);

// A JSON error response for a failed Status.
Response error_response(const Status& status);
// The same for errors that only HTTP knows (431, 405, 408).
Response error_response(int http_code, const std::string& code, const std::string& message);
// Error messages quote what was wrong (an id, a value); beyond this many
// bytes they are cut, so an error never echoes a huge input back.
inline constexpr size_t kMaxErrorMessageBytes = 1024;
std::string bounded_message(const std::string& message);

// What a client is told about kCorruption / kIoError instead of the status's
// own message (which names files): short, no paths.
std::string storage_error_message(const Status& status);

// 404: no route has this path.
Response not_found_response(const Request& req);
// 405 with an Allow header listing the path's methods ("GET, DELETE").
Response method_not_allowed_response(const Request& req, std::string_view allow);
// 500 (or 413 for std::bad_alloc) for an exception that escaped a handler;
// call inside a catch block.
Response current_exception_response(const Request& req);

}  // namespace ragd::api
