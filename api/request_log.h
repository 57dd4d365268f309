// Logs operators can use: `--log-format text|json`, the request id
// (X-Request-Id) and one record per request.
//
// In json mode every line on stdout is one JSON object: spdlog's messages as
// {"time","level","message"} and one {"time","level":"info","event":"request",
// "request_id","method","route","status","latency_ms","bytes_in","bytes_out",
// "caller","remote"} per request, written when its response (a stream
// included) has been sent. Times are UTC, ISO 8601 with milliseconds. In text
// mode the request line is at debug level (off by default), as before.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ragd::api {

enum class LogFormat { kText, kJson };

// Sets the process's log format (spdlog's default logger, and the request
// records), and sends the default logger to stdout beside the access log
// (the other commands keep it on stderr, cli/main.cpp). Call before the
// server starts; not thread-safe against logging.
void set_log_format(LogFormat format);
LogFormat log_format();

// Longest X-Request-Id kept, in bytes.
inline constexpr size_t kMaxRequestIdBytes = 128;

// The client's X-Request-Id when it is 1..kMaxRequestIdBytes characters of
// [A-Za-z0-9._:-] (safe in logs and headers), else a new random id of 32 hex
// digits.
std::string accept_request_id(std::string_view given);

struct RequestRecord {
  std::string request_id;
  std::string method;
  std::string route;   // the route label ("/v1/documents/{id}"), not the raw path
  int status = 0;
  double latency_ms = 0;  // arrival of the request to the end of its response
  uint64_t bytes_in = 0;  // request body
  uint64_t bytes_out = 0; // response body (a stream's chunks)
  std::string caller;  // the authenticated caller; "" until API keys exist
  std::string remote;  // "127.0.0.1:53422"
};

// One request's JSON object, on one line without the newline.
std::string request_log_json(const RequestRecord& r, std::chrono::system_clock::time_point at);

// Writes the record: a JSON line in json mode, a debug text line in text mode.
// Thread-safe.
void log_request(const RequestRecord& r);

}  // namespace ragd::api
