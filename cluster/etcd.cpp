#include "cluster/etcd.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "auth/crypto.h"
#include "sync/http.h"

namespace ragd::cluster {
namespace {

using Json = nlohmann::json;

std::string b64(const std::string& s) { return auth::base64_encode(s); }

// etcd's gateway sends standard base64 with padding; auth/ decodes the URL
// alphabet without it.
Result<std::string> unb64(const std::string& s) {
  std::string t;
  t.reserve(s.size());
  for (char c : s) {
    if (c == '=') break;
    t += c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return auth::base64url_decode(t);
}

// The gateway writes int64 fields as JSON strings, and leaves out zeros.
int64_t int_field(const Json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

Result<Json> parse(const std::string& body, const std::string& what) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::unavailable("etcd " + what + ": not a JSON answer");
  if (j.contains("error")) return Status::unavailable("etcd " + what + ": " + j["error"].dump());
  return j;
}

Result<EtcdKeyValue> decode_kv(const Json& kv) {
  EtcdKeyValue out;
  RAGD_ASSIGN_OR_RETURN(out.key, unb64(kv.value("key", "")));
  RAGD_ASSIGN_OR_RETURN(out.value, unb64(kv.value("value", "")));
  out.mod_revision = int_field(kv, "mod_revision");
  out.lease = int_field(kv, "lease");
  return out;
}

}  // namespace

namespace {

sync::HttpOptions etcd_http_options(long timeout_seconds, const TlsFiles& tls) {
  sync::HttpOptions o;
  o.tls_ca_file = tls.ca_file.string();
  o.tls_cert_file = tls.cert_file.string();
  o.tls_key_file = tls.key_file.string();
  o.timeout_seconds = timeout_seconds;
  o.connect_timeout_seconds = std::min(timeout_seconds, 2L);
  // Failover to the next endpoint is the retry; the callers retry on their
  // own schedule (keepalives every ttl/3).
  o.max_attempts = 1;
  return o;
}

}  // namespace

Etcd::Etcd(std::vector<std::string> endpoints, long timeout_seconds, const TlsFiles& tls, EtcdCredentials auth)
    : endpoints_(std::move(endpoints)), clients_(etcd_http_options(timeout_seconds, tls)), auth_(std::move(auth)) {}

Etcd::~Etcd() = default;

namespace {

// The HTTP status in sync::HttpClient's error message ("POST <url>: HTTP
// 401 ..."); 0 when the request got no answer.
long answered_status(const Status& s) {
  const std::string& m = s.message();
  const size_t at = m.find(": HTTP ");
  if (at == std::string::npos) return 0;
  return std::strtol(m.c_str() + at + 7, nullptr, 10);
}

}  // namespace

Result<std::string> Etcd::call_with(const std::string& path, const std::string& body, const std::string& token) {
  auto http = clients_.take();
  if (token.empty()) {
    http->request_header = nullptr;
  } else {
    http->request_header = [token](const std::string&, const std::string&, const std::string&) {
      return "Authorization: " + token;
    };
  }
  Status last = Status::unavailable("no etcd endpoint configured");
  long code = 0;
  for (const auto& e : endpoints_) {
    auto r = http->post_json(e + path, body);
    if (r.is_ok()) return std::move(r->body);
    last = r.status();
    code = answered_status(last);
    // A member that answered 401 or 403 has spoken for the cluster.
    if (code == 401 || code == 403) break;
  }
  // The client's own message is not passed on for these: it speaks of sync
  // sources.
  if (code == 401) return Status::unauthenticated("etcd " + path + ": the auth token is invalid or expired");
  if (code == 403) {
    return Status::permission_denied("etcd " + path + ": permission denied to user '" + auth_.user +
                                     "': grant its role readwrite on the cluster's keys (the prefix /ragd/<name>/)");
  }
  // A 400 is etcd's answer to a request without a user while its
  // authentication is enabled, and an HTTPS member's to plain HTTP: only
  // the first answers its status without one.
  if (code == 400 && auth_.user.empty() && path != "/v3/maintenance/status" &&
      call_with("/v3/maintenance/status", "{}", "").is_ok()) {
    return Status::unauthenticated("etcd " + path + " refused the request (HTTP 400): its authentication is "
                                   "enabled? set etcd_user and etcd_password_file");
  }
  return Status::unavailable("etcd unreachable (" + last.message() +
                             "); check the etcd URLs (https:// when the members require TLS, with tls_ca_file and, "
                             "when they verify clients, tls_cert_file)");
}

Result<std::string> Etcd::auth_token(const std::string& stale) {
  std::lock_guard lock(token_mu_);
  if (!token_.empty() && token_ != stale) return token_;
  const std::string req = Json{{"name", auth_.user}, {"password", auth_.password}}.dump();
  auto body = call_with("/v3/auth/authenticate", req, "");
  if (!body.is_ok()) {
    // etcd answers 400 to a wrong user or password (and when its
    // authentication is not enabled); an HTTPS member to plain HTTP too,
    // but that one does not answer its status.
    if (answered_status(body.status()) != 400 || !call_with("/v3/maintenance/status", "{}", "").is_ok()) {
      return body.status();
    }
    return Status::unauthenticated("etcd refused user '" + auth_.user +
                                   "' with the password in etcd_password_file " + auth_.password_file.string() +
                                   ": check both (and `etcdctl auth status`: authentication must be enabled)");
  }
  RAGD_ASSIGN_OR_RETURN(Json j, parse(*body, "authenticate"));
  auto t = j.find("token");
  if (t == j.end() || !t->is_string() || t->get<std::string>().empty()) {
    return Status::unavailable("etcd authenticate: no token in the answer");
  }
  token_ = t->get<std::string>();
  return token_;
}

Result<std::string> Etcd::call(const std::string& path, const std::string& body) {
  if (auth_.user.empty()) return call_with(path, body, "");
  RAGD_ASSIGN_OR_RETURN(std::string token, auth_token(""));
  auto r = call_with(path, body, token);
  if (r.is_ok() || r.status().code() != StatusCode::kUnauthenticated) return r;
  // Expired (the simple token's TTL, 5 minutes by default, or a member
  // restarted): once more with a new one.
  RAGD_ASSIGN_OR_RETURN(token, auth_token(token));
  return call_with(path, body, token);
}

Result<int64_t> Etcd::lease_grant(int ttl_seconds) {
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/lease/grant", Json{{"TTL", ttl_seconds}}.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "lease grant"));
  const int64_t id = int_field(j, "ID");
  if (id == 0) return Status::unavailable("etcd lease grant: no lease id in " + body.substr(0, 200));
  return id;
}

Result<int64_t> Etcd::lease_keepalive(int64_t lease) {
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/lease/keepalive", Json{{"ID", std::to_string(lease)}}.dump()));
  // A streaming RPC: the gateway answers {"result": {...}} per message.
  Json j = Json::parse(body.substr(0, body.find('\n')), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::unavailable("etcd lease keepalive: not a JSON answer");
  if (j.contains("error")) return Status::unavailable("etcd lease keepalive: " + j["error"].dump());
  const Json& r = j.contains("result") ? j["result"] : j;
  return int_field(r, "TTL");
}

Result<int64_t> Etcd::lease_time_to_live(int64_t lease) {
  RAGD_ASSIGN_OR_RETURN(std::string body,
                        call("/v3/lease/timetolive", Json{{"ID", std::to_string(lease)}}.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "lease time-to-live"));
  // An expired lease answers TTL -1; the gateway leaves out a 0 (less
  // than a second left: not expired yet).
  const int64_t ttl = int_field(j, "TTL");
  return ttl < 0 ? -1 : ttl;
}

Status Etcd::lease_revoke(int64_t lease) {
  auto body = call("/v3/lease/revoke", Json{{"ID", std::to_string(lease)}}.dump());
  Status st = body.is_ok() ? parse(*body, "lease revoke").status() : body.status();
  // etcd answers a lease it no longer has with "requested lease not found".
  if (!st.is_ok() && st.message().find("lease not found") != std::string::npos) return Status::ok();
  return st;
}

Status Etcd::put(const std::string& key, const std::string& value, int64_t lease) {
  Json req{{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/put", req.dump()));
  return parse(body, "put").status();
}

Result<std::string> Etcd::put_if_absent(const std::string& key, const std::string& value, int64_t lease) {
  Json put{{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  // create_revision == 0 means "no such key"; the gateway omits zero
  // fields, so the compare names it explicitly as a string.
  Json req{{"compare", Json::array({Json{{"key", b64(key)}, {"result", "EQUAL"}, {"target", "CREATE"},
                                         {"create_revision", "0"}}})},
           {"success", Json::array({Json{{"request_put", put}}})},
           {"failure", Json::array({Json{{"request_range", Json{{"key", b64(key)}}}}})}};
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/txn", req.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "txn"));
  if (j.value("succeeded", false)) return value;
  for (const auto& r : j.value("responses", Json::array())) {
    auto rr = r.find("response_range");
    if (rr == r.end()) continue;
    for (const auto& kv : rr->value("kvs", Json::array())) {
      RAGD_ASSIGN_OR_RETURN(EtcdKeyValue got, decode_kv(kv));
      return got.value;
    }
  }
  return Status::unavailable("etcd txn on " + key + ": neither created nor found");
}

Result<bool> Etcd::put_if_revision(const std::string& key, const std::string& value, int64_t mod_revision) {
  Json req{{"compare", Json::array({Json{{"key", b64(key)}, {"result", "EQUAL"}, {"target", "MOD"},
                                         {"mod_revision", std::to_string(mod_revision)}}})},
           {"success", Json::array({Json{{"request_put", Json{{"key", b64(key)}, {"value", b64(value)}}}}})}};
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/txn", req.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "txn"));
  return j.value("succeeded", false);
}

Result<bool> Etcd::put_if_equal(const std::string& key, const std::string& value, const std::string& guard_key,
                                const std::string& guard_value) {
  Json req{{"compare", Json::array({Json{{"key", b64(guard_key)}, {"result", "EQUAL"}, {"target", "VALUE"},
                                         {"value", b64(guard_value)}}})},
           {"success", Json::array({Json{{"request_put", Json{{"key", b64(key)}, {"value", b64(value)}}}}})}};
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/txn", req.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "txn"));
  return j.value("succeeded", false);
}

Result<std::vector<bool>> Etcd::exist(const std::vector<std::string>& keys) {
  std::vector<bool> out;
  // etcd takes at most 128 operations per transaction by default.
  constexpr size_t kPerTxn = 100;
  for (size_t from = 0; from < keys.size(); from += kPerTxn) {
    const size_t to = std::min(keys.size(), from + kPerTxn);
    Json ops = Json::array();
    for (size_t i = from; i < to; ++i) {
      ops.push_back(Json{{"request_range", Json{{"key", b64(keys[i])}, {"keys_only", true}}}});
    }
    RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/txn", Json{{"success", ops}}.dump()));
    RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "txn"));
    const Json responses = j.value("responses", Json::array());
    if (responses.size() != to - from) return Status::unavailable("etcd txn: an answer per key was expected");
    for (const auto& r : responses) {
      auto rr = r.find("response_range");
      out.push_back(rr != r.end() && !rr->value("kvs", Json::array()).empty());
    }
  }
  return out;
}

Result<std::optional<EtcdKeyValue>> Etcd::get(const std::string& key) {
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/range", Json{{"key", b64(key)}}.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "range"));
  for (const auto& kv : j.value("kvs", Json::array())) {
    RAGD_ASSIGN_OR_RETURN(EtcdKeyValue got, decode_kv(kv));
    return std::optional<EtcdKeyValue>(std::move(got));
  }
  return std::optional<EtcdKeyValue>();
}

Result<EtcdRange> Etcd::range_prefix(const std::string& prefix) {
  // range_end: the prefix with its last byte incremented (etcd's rule for
  // "every key with this prefix").
  std::string end = prefix;
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(end.back() + 1);
  Json req{{"key", b64(prefix)}, {"range_end", end.empty() ? b64(std::string(1, '\0')) : b64(end)}};
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/range", req.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "range"));
  EtcdRange out;
  out.revision = j.contains("header") ? int_field(j["header"], "revision") : 0;
  for (const auto& kv : j.value("kvs", Json::array())) {
    RAGD_ASSIGN_OR_RETURN(EtcdKeyValue got, decode_kv(kv));
    out.kvs.push_back(std::move(got));
  }
  return out;
}

Result<int64_t> Etcd::count_range(const std::string& from, const std::string& to) {
  Json req{{"key", b64(from)}, {"range_end", b64(to)}, {"count_only", true}};
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/range", req.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "range"));
  return int_field(j, "count");
}

Result<EtcdMemberStatus> Etcd::member_status(const std::string& endpoint) {
  auto http = clients_.take();
  auto r = http->post_json(endpoint + "/v3/maintenance/status", "{}");
  if (!r.is_ok()) return Status::unavailable("etcd member " + endpoint + ": " + r.status().message());
  RAGD_ASSIGN_OR_RETURN(Json j, parse(r->body, "status"));
  // Member ids are unsigned 64-bit: kept as the gateway's decimal strings.
  auto text = [](const Json& o, const char* name) {
    auto it = o.find(name);
    if (it == o.end()) return std::string();
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  EtcdMemberStatus out;
  if (auto h = j.find("header"); h != j.end() && h->is_object()) out.member_id = text(*h, "member_id");
  out.leader_id = text(j, "leader");
  out.version = text(j, "version");
  out.db_size = int_field(j, "dbSize");
  out.raft_term = int_field(j, "raftTerm");
  return out;
}

Status Etcd::remove(const std::string& key) {
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/deleterange", Json{{"key", b64(key)}}.dump()));
  return parse(body, "delete").status();
}

Result<bool> Etcd::remove_if_equal(const std::string& key, const std::string& value) {
  Json req{{"compare", Json::array({Json{{"key", b64(key)}, {"result", "EQUAL"}, {"target", "VALUE"},
                                         {"value", b64(value)}}})},
           {"success", Json::array({Json{{"request_delete_range", Json{{"key", b64(key)}}}}})}};
  RAGD_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/txn", req.dump()));
  RAGD_ASSIGN_OR_RETURN(Json j, parse(body, "txn"));
  return j.value("succeeded", false);
}

}  // namespace ragd::cluster
