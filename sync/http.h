// HTTP GET for the sync clients (and the JSON POST of govern/'s escalation
// client), with libcurl (TLS, redirects off, proxies
// from the environment as curl does) and the retry rules of issue 12:
// 429/503 wait for Retry-After; other 5xx, timeouts and connection errors
// back off exponentially with jitter; 401/403 stop at once. One HttpClient
// per source and thread (it keeps its connection alive between pages).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ragd/status.h"

namespace ragd::sync {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; the last of a repeated header
  std::string body;
};

struct HttpOptions {
  // Whole-request timeout, seconds. Default: 60.
  long timeout_seconds = 60;
  // Connect timeout, seconds. Default: 10.
  long connect_timeout_seconds = 10;
  // Attempts per request before the error is returned (429/503/5xx/timeouts). Default: 6.
  int max_attempts = 6;
  // First backoff after a 5xx or a timeout, ms; doubled per attempt, with
  // full jitter. Default: 500.
  int64_t backoff_initial_ms = 500;
  // Longest single wait (a larger Retry-After is clamped to it), ms. Default: 60000.
  int64_t backoff_max_ms = 60000;
  // Responses larger than this fail (a misbehaving server). Default: 256 MiB.
  size_t max_body_bytes = 256u << 20;
  // Seed of the jitter. Default: fixed, so tests are repeatable.
  uint64_t jitter_seed = 12;
  // TLS (https:// URLs): a PEM file of the certificate authorities trusted
  // for the servers (alone: the system's store is not consulted), and a
  // client certificate chain and its key (PEM) for servers that ask for
  // one.
  // Default: "" = the system's store, no client certificate.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // "Authorization: Basic ..." from user and password (curl encodes it), or
  // "Authorization: Bearer <token>".
  void set_basic_auth(const std::string& user, const std::string& password);
  void set_bearer(const std::string& token);

  // GET with the retry rules. Returns the 2xx response; a 401/403 gives
  // kFailedPrecondition naming the status, other failures kUnavailable (after
  // the retries), kNotFound (404) or kInvalidArgument (other 4xx). The message never holds
  // the secret; it holds the URL without its query string.
  Result<HttpResponse> get(const std::string& url);
  // POST of a JSON body (Content-Type: application/json) with the same retry
  // rules and errors. For calls that may be repeated (a chat completion).
  Result<HttpResponse> post_json(const std::string& url, const std::string& body);

  // A header line ("Name: value") computed for each attempt from its method,
  // URL and body, or "" for none: cluster/ signs its requests to peers with
  // it (auth/peer.h). Default: unset.
  std::function<std::string(const std::string& method, const std::string& url, const std::string& body)>
      request_header;
  // Waits between retries; tests replace it to record the waits. Default:
  // sleeps, returning early (false) when `stop` is set.
  std::function<bool(int64_t ms)> sleep;
  // Set from another thread to give up at the next wait.
  std::atomic<bool>* stop = nullptr;
  // Retries made so far (for counts and tests).
  uint64_t retries() const { return retries_; }

 private:
  friend class ParallelPosts;
  struct Attempt;
  // Sets the client's handle up for one request (kept alive by `a`); null
  // when libcurl could not start. finish() reads its outcome.
  void* prepare(const std::string& url, const std::string* post_body, Attempt& a);
  Result<HttpResponse> finish(int curl_code, Attempt& a, bool& timed_out);
  // `post_body` null: GET.
  Result<HttpResponse> send_once(const std::string& url, const std::string* post_body, bool& timed_out);
  Result<HttpResponse> send(const std::string& url, const std::string* post_body);
  HttpOptions options_;
  void* curl_ = nullptr;   // CURL*
  void* multi_ = nullptr;  // CURLM*: every request's, so its connection cache is this client's
  std::string user_, password_, bearer_;
  std::mt19937_64 rng_;
  uint64_t retries_ = 0;
};

// POSTs of JSON bodies run side by side in one client's multi handle,
// started and collected by the caller: a cluster search's requests to its
// peers, several in flight, each read as it comes, more started as the
// answers or the time demand (hedging). Each request runs in a client of
// its own (with its headers and credentials), one request at a time per
// client; the connections all of them open are kept in the owner's cache,
// so the next batch reuses them. One attempt per request, no retries.
// Not thread-safe: one caller drives it. Requests still running when it
// goes are abandoned (their connections closed). The clients must outlive
// it.
class ParallelPosts {
 public:
  explicit ParallelPosts(HttpClient& owner);
  ~ParallelPosts();
  ParallelPosts(const ParallelPosts&) = delete;
  ParallelPosts& operator=(const ParallelPosts&) = delete;

  // Starts POST `body` to `url` with `client`, which runs no other request
  // of this batch; `tag` comes back with its answer. Not ok: libcurl could
  // not start it.
  Status start(HttpClient& client, const std::string& url, std::string body, size_t tag);
  // Requests started and not yet returned by next().
  size_t running() const { return running_.size() + done_.size(); }

  struct Done {
    size_t tag = 0;
    // As HttpClient::post_json() judges an answer: the 2xx response; a
    // 401/403 kFailedPrecondition, 404 kNotFound, another 4xx
    // kInvalidArgument (the request's own fault), else kUnavailable.
    Result<HttpResponse> response;
  };
  // The next request to finish, waiting for one at most until `deadline`;
  // nullopt when none finished by then or none is running.
  std::optional<Done> next(std::chrono::steady_clock::time_point deadline);
  // Moves the requests on without waiting (sends what can be sent now):
  // the caller does other work before it calls next().
  void pump();
  // Abandons every request running and forgets those finished and not yet
  // returned: their clients are free again.
  void abandon_all();

 private:
  struct Running;
  // One curl_multi_perform, and the requests it finished into done_.
  void collect();
  void* multi_;  // CURLM*: the owner's
  std::vector<std::unique_ptr<Running>> running_;
  std::vector<Done> done_;  // finished, not yet returned
};

// Seconds to wait from a Retry-After value: delta-seconds or an HTTP date.
// nullopt when it is neither.
std::optional<int64_t> parse_retry_after(const std::string& value, int64_t now_unix);

// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
std::string url_encode(const std::string& s);

}  // namespace ragd::sync
