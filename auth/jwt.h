// OIDC / JWT bearer tokens (issue 11, item 3): a compact JWS signed with
// RS256 or ES256 by a key from a JWKS file, checked for iss, aud, exp and nbf,
// and turned into a Principal whose groups come from a configurable claim.
//
// What is refused, each with its own message: tokens over max_token_bytes,
// anything but three base64url parts, headers or payloads that are not JSON
// objects, alg "none", HS256/384/512 (no shared secrets: anyone holding one
// could mint tokens), any other alg, a "crit" header, an unknown kid, a key
// whose kty or alg does not match the token's alg, a bad signature, a wrong
// issuer or audience, an expired or not-yet-valid token, and claims of the
// wrong type. Authentication failures are unauthenticated() Statuses
// (principal.h); none of them echo the token.
//
// Thread safety: a JwtVerifier is immutable once made; verify() may run on
// any number of threads at once. To rotate keys, load a new verifier and
// swap a shared_ptr to it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/principal.h"
#include "ragd/status.h"

namespace ragd::auth {

struct JwtOptions {
  // Required "iss" value. Must not be empty.
  std::string issuer;
  // Required member of "aud" (a string or an array of strings). Must not be empty.
  std::string audience;
  // Seconds of clock skew allowed on exp and nbf. Default: 60.
  int64_t leeway_seconds = 60;
  // Tokens longer than this are refused before any parsing. Default: 16384 bytes.
  size_t max_token_bytes = 16384;
  // Claim naming the caller. Default: "sub".
  std::string name_claim = "sub";
  // Claim holding ACL groups, a string or an array of strings; a token
  // without it has no groups. Default: "groups".
  std::string groups_claim = "groups";
  // At most this many groups are accepted from a token. Default: 256.
  size_t max_groups = 256;
  // Claim holding the role ("reader", "writer", "admin", or an array of
  // strings among which the highest of those names counts; other values are
  // ignored). Empty: every token gets default_role. Default: "".
  std::string role_claim;
  // Role of a token whose role claim is absent or names no role. Default: reader.
  Role default_role = Role::kReader;
  // Claim naming the one collection the caller may use; absent or "" means
  // every collection. Empty: no collection claim. Default: "".
  std::string collection_claim;
  // Smallest RSA modulus accepted in the JWKS. Default: 2048 bits.
  int min_rsa_bits = 2048;
};

// The parts of a token that verify() looked at, for logs and tests.
struct JwtClaims {
  std::string alg;
  std::string kid;
  Principal principal;
  int64_t expires = 0;  // exp, Unix seconds
};

class JwtVerifier {
 public:
  // Parses a JWKS document ({"keys": [...]}). RSA keys need n and e, EC keys
  // crv "P-256", x and y; kid is needed when there is more than one key.
  // Keys with "use" other than "sig", and other key types (such as "oct",
  // shared secrets), are skipped. No usable key, a duplicate kid, a short
  // RSA modulus or a point off the curve is kInvalidArgument.
  static Result<std::unique_ptr<JwtVerifier>> from_jwks(std::string_view jwks_json, JwtOptions options);
  // The same, reading a JWKS file.
  static Result<std::unique_ptr<JwtVerifier>> load(const std::string& jwks_path, JwtOptions options);

  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // Verifies `token` at Unix time `now` (seconds).
  Result<JwtClaims> verify(std::string_view token, int64_t now) const;
  // Verifies `token` at the system clock's time.
  Result<JwtClaims> verify(std::string_view token) const;

  // Number of usable keys loaded.
  size_t key_count() const;

 private:
  struct Impl;
  explicit JwtVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ragd::auth
