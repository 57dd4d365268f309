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

Result<HttpResponse> HttpClient::send_once(const std::string& url, const std::string* post_body, bool& timed_out) {
  timed_out = false;
  const std::string method = post_body != nullptr ? "POST" : "GET";
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return Status::internal("libcurl could not start");
  HttpResponse resp;
  Sink sink{&resp, options_.max_body_bytes};
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
  curl_easy_setopt(c, CURLOPT_TIMEOUT, options_.timeout_seconds);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_seconds);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate as the server offers
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  if (post_body != nullptr) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  }
  std::string extra_header;
  if (request_header) {
    static const std::string kNoBody;
    extra_header = request_header(method, url, post_body != nullptr ? *post_body : kNoBody);
    if (!extra_header.empty()) headers = curl_slist_append(headers, extra_header.c_str());
  }
  std::string bearer_header;
  if (!bearer_.empty()) {
    bearer_header = "Authorization: Bearer " + bearer_;
    headers = curl_slist_append(headers, bearer_header.c_str());
  } else if (!user_.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, user_.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password_.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (sink.too_big) {
    return Status::resource_exhausted(method + " " + without_query(url) + ": response over " +
                                      std::to_string(options_.max_body_bytes) + " bytes");
  }
  if (rc != CURLE_OK) {
    timed_out = true;
    return Status::unavailable(method + " " + without_query(url) + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
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
      if (code >= 200 && code < 300) return r;
      if (code == 401 || code == 403) {
        return Status::failed_precondition(where + (code == 401 ? " (unauthorized)" : " (forbidden)") +
                                           ": check the source's user and secret and its permissions");
      }
      if (code == 429 || code == 503) {
        auto it = r->headers.find("retry-after");
        int64_t now = unix_seconds();
        if (it != r->headers.end()) {
          if (auto secs = parse_retry_after(it->second, now)) wait_ms = *secs * 1000;
        }
        last = Status::unavailable(where);
      } else if (code >= 500) {
        last = Status::unavailable(where);
      } else if (code == 404) {
        return Status::not_found(where);
      } else {
        return Status::invalid_argument(where);
      }
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
