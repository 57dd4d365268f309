// etcd v3 through its JSON gRPC gateway (etcd 3.4: /v3/kv/*, /v3/lease/*;
// keys and values base64), over sync/'s HttpClient (libcurl). Debian 12
// ships no C/C++ etcd client; the gateway is etcd's documented API.
//
// Thread safety: every method may be called from many threads. Each call
// takes an idle HTTP client from a pool (http_pool.h) or makes one, so a
// slow call (a range read behind a busy etcd) never holds up another (a
// lease renewal).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/http_pool.h"
#include "cluster/options.h"
#include "ragd/status.h"

namespace ragd::cluster {

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

struct EtcdRange {
  std::vector<EtcdKeyValue> kvs;
  int64_t revision = 0;  // the store's revision the answer was read at
};

// One member's view of the etcd cluster (/v3/maintenance/status).
struct EtcdMemberStatus {
  std::string member_id;  // its own id (decimal, as the gateway writes it)
  std::string leader_id;  // the leader it follows; "" or "0" when it has none
  std::string version;
  int64_t db_size = 0;
  int64_t raft_term = 0;
};

class Etcd {
 public:
  // `endpoints`: client URLs; a request that fails on one is tried on the
  // next. `timeout_seconds` bounds each HTTP request. https:// endpoints
  // are verified against `tls.ca_file` (else the system's store), and
  // `tls.cert_file` is presented when set. With `auth.user`, each request
  // carries a token from /v3/auth/authenticate (asked at the first call,
  // and again when etcd says it expired); a refused password is
  // kUnauthenticated, a key the user's role may not touch kPermissionDenied.
  Etcd(std::vector<std::string> endpoints, long timeout_seconds, const TlsFiles& tls = {},
       EtcdCredentials auth = {});
  ~Etcd();
  Etcd(const Etcd&) = delete;
  Etcd& operator=(const Etcd&) = delete;

  // A lease of `ttl_seconds`; returns its id.
  Result<int64_t> lease_grant(int ttl_seconds);
  // Renews the lease once; returns the TTL left, 0 when it had expired.
  Result<int64_t> lease_keepalive(int64_t lease);
  // The seconds the lease has left, as the etcd leader counts them; -1 when
  // it expired (or never existed).
  Result<int64_t> lease_time_to_live(int64_t lease);
  // Ends the lease now: the keys under it are deleted. An expired lease is
  // no error.
  Status lease_revoke(int64_t lease);
  // Puts `key` (bound to `lease` unless 0).
  Status put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Puts `key` (bound to `lease` unless 0) only when it does not exist (one
  // transaction). Returns the value now stored: `value`, or what another
  // writer put first.
  Result<std::string> put_if_absent(const std::string& key, const std::string& value, int64_t lease = 0);
  // Puts `key` only when its mod_revision is still `mod_revision` (one
  // transaction): a compare-and-swap on a key read before. False when
  // another writer changed it first.
  Result<bool> put_if_revision(const std::string& key, const std::string& value, int64_t mod_revision);
  // Puts `key` only while `guard_key` holds `guard_value` (one
  // transaction): a write fenced by a claim. False when it does not.
  Result<bool> put_if_equal(const std::string& key, const std::string& value, const std::string& guard_key,
                            const std::string& guard_value);
  // Which of `keys` exist, in order (one transaction per 100 keys, keys
  // only).
  Result<std::vector<bool>> exist(const std::vector<std::string>& keys);
  // The key itself; nullopt when it does not exist.
  Result<std::optional<EtcdKeyValue>> get(const std::string& key);
  // Every key starting with `prefix`, in key order.
  Result<EtcdRange> range_prefix(const std::string& prefix);
  // How many keys there are from `from` (included) to `to` (excluded), in
  // key order; no key or value is sent back.
  Result<int64_t> count_range(const std::string& from, const std::string& to);
  // Deletes `key` (absent is fine).
  Status remove(const std::string& key);
  // Deletes `key` only while it holds `value` (one transaction): a lock
  // released by its holder alone. False when it holds something else.
  Result<bool> remove_if_equal(const std::string& key, const std::string& value);
  // The status of the member at `endpoint` itself (one of the endpoints,
  // no failover: `ragd cluster status` asks each).
  Result<EtcdMemberStatus> member_status(const std::string& endpoint);

 private:
  // POSTs `body` to `path` on the first endpoint that answers, with the
  // auth token (authenticating again once when etcd calls it invalid).
  Result<std::string> call(const std::string& path, const std::string& body);
  // One try over the endpoints with `token` ("" for none). kUnauthenticated
  // when etcd answers 401 (the token expired).
  Result<std::string> call_with(const std::string& path, const std::string& body, const std::string& token);
  // The token to send: the one held, or a new one when none is held or the
  // held one is `stale`.
  Result<std::string> auth_token(const std::string& stale);
  std::vector<std::string> endpoints_;
  HttpClientPool clients_;
  EtcdCredentials auth_;
  std::mutex token_mu_;
  std::string token_;  // guarded by token_mu_; "" until the first call
};

}  // namespace ragd::cluster
