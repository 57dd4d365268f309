#include "api/status_http.h"

#include <exception>
#include <new>

#include "api/json_codec.h"

namespace ragd::api {

Response json_response(const nlohmann::json& j, int status) {
  Response r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

int http_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNoSpace: return 507;  // Insufficient Storage
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 413;
    case StatusCode::kTimeout: return 408;
    case StatusCode::kCancelled: return 503;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kCorruption:
    case StatusCode::kIoError:
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

Response error_response(const Status& status) {
  // Storage errors carry RocksDB's text (file names, offsets): that goes to
  // the server log (index/ logs it), the client gets a short message.
  if (status.code() == StatusCode::kCorruption || status.code() == StatusCode::kIoError ||
      status.code() == StatusCode::kNoSpace) {
    return error_response(http_status(status), status_code_slug(status.code()), storage_error_message(status));
  }
  return error_response(http_status(status), status_code_slug(status.code()), status.message());
}

std::string storage_error_message(const Status& status) {
  switch (status.code()) {
    case StatusCode::kCorruption:
      return "the store found damaged data while answering; the server log names it (restore or reingest)";
    case StatusCode::kNoSpace:
      return "disk full: the server could not store the change; free space on its data volume or enlarge it, "
             "then send the request again";
    default:
      return "the store could not read or write its data; the server log has the details";
  }
}

std::string bounded_message(const std::string& message) {
  if (message.size() <= kMaxErrorMessageBytes) return message;
  size_t cut = kMaxErrorMessageBytes;
  // Back up to the start of a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return message.substr(0, cut) + "... (" + std::to_string(message.size()) + " bytes, cut)";
}

Response error_response(int http_code, const std::string& code, const std::string& message) {
  Response r;
  r.status = http_code;
  r.body = error_to_json(code, bounded_message(message)).dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Response not_found_response(const Request& req) {
  return error_response(404, "not_found", "no route for " + req.method + " " + req.path);
}

Response method_not_allowed_response(const Request& req, std::string_view allow) {
  Response r = error_response(405, "method_not_allowed", req.method + " is not allowed on " + req.path +
                                                             " (allowed: " + std::string(allow) + ")");
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

Response current_exception_response(const Request& req) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return error_response(Status::resource_exhausted("out of memory while handling " + req.path));
  } catch (const std::exception& e) {
    return error_response(Status::internal(std::string("unexpected error: ") + e.what()));
  } catch (...) {
    return error_response(Status::internal("unexpected error"));
  }
}

}  // namespace ragd::api
