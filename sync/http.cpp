#include "sync/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>

#include "ragd/clock.h"

namespace ragd::sync {
namespace {

std::once_flag g_curl_init;

struct Sink {
  HttpResponse* resp;
  size_t limit;
  bool too_big = false;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  size_t bytes = size * n;
  if (s->resp->body.size() + bytes > s->limit) {
    s->too_big = true;
    return 0;
  }
  s->resp->body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  size_t bytes = size * n;
  std::string line(data, bytes);
  if (line.rfind("HTTP/", 0) == 0) s->resp->headers.clear();  // a new response (after 100-continue)
  auto colon = line.find(':');
  if (colon == std::string::npos) return bytes;
  std::string name = line.substr(0, colon);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string value = line.substr(colon + 1);
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  value.erase(value.begin(), std::find_if(value.begin(), value.end(), not_space));
  value.erase(std::find_if(value.rbegin(), value.rend(), not_space).base(), value.end());
  s->resp->headers[name] = value;
  return bytes;
}

std::string without_query(const std::string& url) { return url.substr(0, url.find('?')); }

}  // namespace

std::optional<int64_t> parse_retry_after(const std::string& value, int64_t now_unix) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (value.size() > 9) return std::nullopt;
    return std::stoll(value);
  }
  time_t t = curl_getdate(value.c_str(), nullptr);  // RFC 7231 HTTP-date
  if (t < 0) return std::nullopt;
  return std::max<int64_t>(0, static_cast<int64_t>(t) - now_unix);
}

std::string url_encode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

HttpClient::HttpClient(HttpOptions options) : options_(options), rng_(options.jitter_seed) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  // Every request of this client goes through its own multi handle, whose
  // connection cache then serves its plain requests and the parallel ones
  // it owns alike (ParallelPosts): connections are kept, not reopened.
  multi_ = curl_multi_init();
  sleep = [this](int64_t ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
      if (stop != nullptr && stop->load()) return false;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
    }
    return true;
  };
}

HttpClient::~HttpClient() {
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

void HttpClient::set_basic_auth(const std::string& user, const std::string& password) {
  user_ = user;
  password_ = password;
  bearer_.clear();
}

void HttpClient::set_bearer(const std::string& token) {
  bearer_ = token;
  user_.clear();
  password_.clear();
}

// One request's state between prepare() and finish(): the response being
// read, and the header lines curl points at until the transfer ends.
struct HttpClient::Attempt {
  std::string method, url;
  HttpResponse resp;
  Sink sink{&resp, 0};
  curl_slist* headers = nullptr;
  std::string extra_header, bearer_header;
  ~Attempt() { curl_slist_free_all(headers); }
};

void* HttpClient::prepare(const std::string& url, const std::string* post_body, Attempt& a) {
  a.method = post_body != nullptr ? "POST" : "GET";
  a.url = url;
  a.sink.limit = options_.max_body_bytes;
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return nullptr;
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  if (post_body != nullptr) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // An abandoned request (a hedged request that lost its race) does not wait for its
  // name lookup to finish.
  curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, options_.timeout_seconds);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_seconds);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate as the server offers
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &a.sink);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!options_.tls_ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, options_.tls_ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);  // this authority alone, not also the system's directory
  }
  if (!options_.tls_cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, options_.tls_cert_file.c_str());
  if (!options_.tls_key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, options_.tls_key_file.c_str());
  a.headers = curl_slist_append(nullptr, "Accept: application/json");
  if (post_body != nullptr) {
    a.headers = curl_slist_append(a.headers, "Content-Type: application/json");
    a.headers = curl_slist_append(a.headers, "Expect:");  // no 100-continue round trip
  }
  if (request_header) {
    static const std::string kNoBody;
    a.extra_header = request_header(a.method, url, post_body != nullptr ? *post_body : kNoBody);
    if (!a.extra_header.empty()) a.headers = curl_slist_append(a.headers, a.extra_header.c_str());
  }
  if (!bearer_.empty()) {
    a.bearer_header = "Authorization: Bearer " + bearer_;
    a.headers = curl_slist_append(a.headers, a.bearer_header.c_str());
  } else if (!user_.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, user_.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password_.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, a.headers);
  return c;
}

Result<HttpResponse> HttpClient::finish(int curl_code, Attempt& a, bool& timed_out) {
  if (a.sink.too_big) {
    return Status::resource_exhausted(a.method + " " + without_query(a.url) + ": response over " +
                                      std::to_string(options_.max_body_bytes) + " bytes");
  }
  const auto rc = static_cast<CURLcode>(curl_code);
  if (rc != CURLE_OK) {
    timed_out = true;
    return Status::unavailable(a.method + " " + without_query(a.url) + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(static_cast<CURL*>(curl_), CURLINFO_RESPONSE_CODE, &a.resp.status);
  return std::move(a.resp);
}

Result<HttpResponse> HttpClient::send_once(const std::string& url, const std::string* post_body, bool& timed_out) {
  timed_out = false;
  Attempt a;
  void* c = prepare(url, post_body, a);
  if (c == nullptr) return Status::internal("libcurl could not start");
  auto* easy = static_cast<CURL*>(c);
  auto* multi = static_cast<CURLM*>(multi_);
  if (multi == nullptr || curl_multi_add_handle(multi, easy) != CURLM_OK) {
    return finish(curl_easy_perform(easy), a, timed_out);
  }
  CURLcode rc = CURLE_OK;
  for (bool done = false; !done;) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
        rc = msg->data.result;
        done = true;
      }
    }
    if (!done) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  curl_multi_remove_handle(multi, easy);
  return finish(rc, a, timed_out);
}

namespace {

// A response's status as send() judges it before retrying: ok for 2xx;
// 401/403 kFailedPrecondition, 404 kNotFound, other 4xx kInvalidArgument;
// 429, 5xx kUnavailable.
Status judge(long code, const std::string& where) {
  if (code >= 200 && code < 300) return Status::ok();
  if (code == 401 || code == 403) {
    return Status::failed_precondition(where + (code == 401 ? " (unauthorized)" : " (forbidden)") +
                                       ": check the source's user and secret and its permissions");
  }
  if (code == 429 || code >= 500) return Status::unavailable(where);
  if (code == 404) return Status::not_found(where);
  return Status::invalid_argument(where);
}

}  // namespace

// Kept in place while it runs: curl holds pointers into the attempt and
// the body.
struct ParallelPosts::Running {
  HttpClient* client = nullptr;
  HttpClient::Attempt attempt;
  std::string body;
  size_t tag = 0;
};

ParallelPosts::ParallelPosts(HttpClient& owner) : multi_(owner.multi_) {}

ParallelPosts::~ParallelPosts() { abandon_all(); }

Status ParallelPosts::start(HttpClient& client, const std::string& url, std::string body, size_t tag) {
  auto r = std::make_unique<Running>();
  r->client = &client;
  r->body = std::move(body);
  r->tag = tag;
  void* c = client.prepare(url, &r->body, r->attempt);
  running_.push_back(std::move(r));  // before curl holds pointers into it
  if (multi_ == nullptr || c == nullptr || curl_multi_add_handle(static_cast<CURLM*>(multi_), static_cast<CURL*>(c)) != CURLM_OK) {
    running_.pop_back();
    return Status::internal("libcurl could not start a request to " + without_query(url));
  }
  return Status::ok();
}

void ParallelPosts::collect() {
  auto* multi = static_cast<CURLM*>(multi_);
  int still = 0;
  curl_multi_perform(multi, &still);
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    auto it = std::find_if(running_.begin(), running_.end(), [&](const std::unique_ptr<Running>& r) {
      return static_cast<CURL*>(r->client->curl_) == msg->easy_handle;
    });
    if (it == running_.end()) continue;
    const CURLcode rc = msg->data.result;
    curl_multi_remove_handle(multi, msg->easy_handle);
    std::unique_ptr<Running> r = std::move(*it);
    running_.erase(it);
    bool transport = false;
    auto got = r->client->finish(rc, r->attempt, transport);
    if (got.is_ok()) {
      Status st = judge(got->status, "POST " + without_query(r->attempt.url) + ": HTTP " + std::to_string(got->status));
      if (!st.is_ok()) got = st;
    }
    done_.push_back({r->tag, std::move(got)});
  }
}

void ParallelPosts::pump() {
  if (!running_.empty()) collect();
}

void ParallelPosts::abandon_all() {
  for (auto& r : running_) curl_multi_remove_handle(static_cast<CURLM*>(multi_), static_cast<CURL*>(r->client->curl_));
  running_.clear();
  done_.clear();
}

std::optional<ParallelPosts::Done> ParallelPosts::next(std::chrono::steady_clock::time_point deadline) {
  while (done_.empty() && !running_.empty()) {
    collect();
    if (!done_.empty()) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    const int64_t wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    curl_multi_poll(static_cast<CURLM*>(multi_), nullptr, 0, static_cast<int>(std::min<int64_t>(1000, wait_ms)),
                    nullptr);
  }
  if (done_.empty()) return std::nullopt;
  Done d = std::move(done_.front());
  done_.erase(done_.begin());
  return d;
}

Result<HttpResponse> HttpClient::get(const std::string& url) { return send(url, nullptr); }

Result<HttpResponse> HttpClient::post_json(const std::string& url, const std::string& body) { return send(url, &body); }

Result<HttpResponse> HttpClient::send(const std::string& url, const std::string* post_body) {
  const std::string method = post_body != nullptr ? "POST" : "GET";
  Status last;
  for (int attempt = 1;; ++attempt) {
    bool transport_error = false;
    auto r = send_once(url, post_body, transport_error);
    int64_t wait_ms = -1;  // -1: exponential backoff
    if (!r.is_ok()) {
      if (!transport_error) return r.status();
      last = r.status();
    } else {
      const long code = r->status;
      const std::string where = method + " " + without_query(url) + ": HTTP " + std::to_string(code);
      Status judged = judge(code, where);
      if (judged.is_ok()) return r;
      if (judged.code() != StatusCode::kUnavailable) return judged;
      if (code == 429 || code == 503) {
        auto it = r->headers.find("retry-after");
        int64_t now = unix_seconds();
        if (it != r->headers.end()) {
          if (auto secs = parse_retry_after(it->second, now)) wait_ms = *secs * 1000;
        }
      }
      last = judged;
    }
    if (attempt >= options_.max_attempts) {
      return last.with_context("giving up after " + std::to_string(attempt) + " attempts");
    }
    if (wait_ms < 0) {
      int64_t cap = std::min<int64_t>(options_.backoff_max_ms,
                                      options_.backoff_initial_ms << std::min(attempt - 1, 20));
      wait_ms = std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng_);
    }
    wait_ms = std::min(wait_ms, options_.backoff_max_ms);
    ++retries_;
    if (!sleep(wait_ms)) return Status::cancelled("sync stopped while waiting to retry");
  }
}

}  // namespace ragd::sync
