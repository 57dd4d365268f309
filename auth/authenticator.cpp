#include "auth/authenticator.h"

#include <chrono>

#include "auth/crypto.h"

namespace ragd::auth {

namespace {

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return std::nullopt;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

Result<std::unique_ptr<Authenticator>> Authenticator::make(std::unique_ptr<KeyStore> keys,
                                                           std::unique_ptr<JwtVerifier> jwt,
                                                           AuthenticatorOptions options) {
  if (!keys) return Status::invalid_argument("authenticator: no key store");
  std::unique_ptr<RateLimiter> limiter;
  if (options.rate_limit) {
    auto made = RateLimiter::make(*options.rate_limit);
    if (!made) return made.status();
    limiter = std::move(made).value();
  }
  return std::unique_ptr<Authenticator>(
      new Authenticator(std::move(keys), std::move(jwt), std::move(options), std::move(limiter)));
}

Authenticator::Authenticator(std::unique_ptr<KeyStore> keys, std::unique_ptr<JwtVerifier> jwt,
                             AuthenticatorOptions options, std::unique_ptr<RateLimiter> limiter)
    : keys_(std::move(keys)), jwt_(std::move(jwt)), options_(std::move(options)), limiter_(std::move(limiter)) {}

void Authenticator::maybe_reload() const {
  const double now = monotonic_seconds();
  double due = next_reload_.load(std::memory_order_relaxed);
  if (now < due) return;
  // One thread per interval does the stat; the others go on with the table
  // they have.
  if (!next_reload_.compare_exchange_strong(due, now + options_.reload_interval_seconds)) return;
  // A file that vanished or no longer parses keeps the loaded keys in force
  // (KeyStore::reload); the error is not the request's.
  (void)keys_->reload();
}

bool Authenticator::required() const {
  maybe_reload();
  if (required_.load(std::memory_order_relaxed)) return true;
  if (jwt_ == nullptr && keys_->empty()) return false;
  // Once on, it stays on: revoking the last key must not open the server.
  required_.store(true, std::memory_order_relaxed);
  return true;
}

Result<std::optional<Principal>> Authenticator::authenticate(std::string_view authorization) const {
  // With authentication off, a credential is not looked at: OpenAI clients
  // send one whether or not the server wants it.
  if (!required()) return std::optional<Principal>();
  if (authorization.empty()) {
    return unauthenticated("this server requires an API key or token (Authorization: Bearer ...)");
  }
  auto token = bearer_token(authorization);
  if (!token) return unauthenticated("the Authorization header must be 'Bearer <key or token>'");
  if (token->substr(0, kKeyPrefix.size()) == kKeyPrefix) {
    auto record = keys_->verify(*token);
    if (!record) return record.status();
    return std::optional<Principal>(record->principal());
  }
  if (!jwt_) return unauthenticated("not an API key, and no token issuer is configured");
  auto claims = jwt_->verify(*token);
  if (!claims) return claims.status();
  return std::optional<Principal>(claims->principal);
}

Admission Authenticator::admit(std::string_view authorization, Action action) const {
  Admission out;
  auto who = authenticate(authorization);
  if (!who) {
    out.status = who.status();
    return out;
  }
  if (!who->has_value()) return out;  // authentication is off
  const Principal& p = **who;
  if (!role_allows(p.role, action)) {
    out.status = Status::permission_denied(std::string("role ") + role_name(p.role) + " may not " +
                                           action_name(action) + " (needs " +
                                           role_name(required_role(action)) + ")");
    return out;
  }
  if (limiter_) {
    // Keys and token subjects are separate namespaces.
    RateDecision d = limiter_->acquire((p.via == Via::kKey ? "key:" : "jwt:") + p.name);
    if (!d.allowed) {
      out.status = Status::resource_exhausted("rate limit exceeded for '" + p.name + "'");
      out.retry_after_seconds = d.retry_after_header();
      return out;
    }
  }
  out.principal = std::move(*who);
  return out;
}

bool Authenticator::is_metrics_token(std::string_view authorization) const {
  if (options_.metrics_token.empty()) return false;
  auto token = bearer_token(authorization);
  return token && constant_time_equal(*token, options_.metrics_token);
}

}  // namespace ragd::auth
