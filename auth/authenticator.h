// One call per request: who is asking, and may they do this? The HTTP layer
// hands admit() the Authorization header and the route's Action; everything
// else about keys, tokens, roles and rate limits stays in auth/.
//
// Authentication is required once a key exists in <data>/keys.json or a JWKS
// is configured. Until then every request is admitted without a principal:
// the single-user, loopback set-up, where a request's `groups` are taken as
// given. `ragd serve` refuses to listen beyond loopback in that state unless
// told --insecure-no-auth.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/jwt.h"
#include "auth/key_store.h"
#include "auth/principal.h"
#include "auth/rate_limiter.h"
#include "ragd/status.h"

namespace ragd::auth {

struct AuthenticatorOptions {
  // Seconds between checks of keys.json for changes made by `ragd keys`
  // (one stat each); a revocation takes effect within this time. Default: 1.
  double reload_interval_seconds = 1.0;
  // A bearer token that /metrics accepts besides an admin credential, so a
  // Prometheus scraper needs no key. Empty: admin only. Default: "".
  std::string metrics_token;
  // Token bucket per caller. Empty: no rate limit. Default: unset.
  std::optional<RateLimiterOptions> rate_limit;
};

// Why a request was turned away, for the HTTP layer's status and headers.
struct Admission {
  // Set when admitted with a credential; unset when admitted because
  // authentication is off (required() is false), or when refused.
  std::optional<Principal> principal;
  // kUnauthenticated (401), kPermissionDenied (403) or kResourceExhausted
  // (429) when refused.
  Status status;
  // With kResourceExhausted: seconds for the Retry-After header.
  int64_t retry_after_seconds = 0;
};

// The token of "Bearer <token>" (scheme case-insensitive, RFC 7235, spaces
// around the token dropped), or nullopt for any other form.
std::optional<std::string_view> bearer_token(std::string_view authorization);

class Authenticator {
 public:
  // `keys` is required; `jwt` may be null (no SSO). kInvalidArgument for bad
  // rate-limit options.
  static Result<std::unique_ptr<Authenticator>> make(std::unique_ptr<KeyStore> keys,
                                                     std::unique_ptr<JwtVerifier> jwt,
                                                     AuthenticatorOptions options = {});

  // True when requests must carry a credential: a key exists or a JWKS is
  // configured, or a key has existed since this authenticator was made
  // (revoking the last key does not open a running server).
  bool required() const;

  // The caller behind an Authorization header value ("" when the request
  // has none): "Bearer ragd_..." is an API key, any other bearer token a JWT.
  // Unset when required() is false, whatever the header holds (OpenAI
  // clients always send one).
  Result<std::optional<Principal>> authenticate(std::string_view authorization) const;

  // authenticate(), then role_allows(action), then the caller's rate limit.
  Admission admit(std::string_view authorization, Action action) const;

  // True when `authorization` is "Bearer <metrics_token>" (constant time).
  bool is_metrics_token(std::string_view authorization) const;

  KeyStore& keys() { return *keys_; }

 private:
  Authenticator(std::unique_ptr<KeyStore> keys, std::unique_ptr<JwtVerifier> jwt, AuthenticatorOptions options,
                std::unique_ptr<RateLimiter> limiter);
  // Picks up `ragd keys` changes at most once per reload interval.
  void maybe_reload() const;

  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<JwtVerifier> jwt_;
  AuthenticatorOptions options_;
  std::unique_ptr<RateLimiter> limiter_;
  mutable std::atomic<double> next_reload_{0};
  mutable std::atomic<bool> required_{false};
};

}  // namespace ragd::auth
