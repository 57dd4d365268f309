// A test OIDC issuer, for the JWT and authentication tests, the JWT fuzz
// target and auth_bench: keys generated with OpenSSL, their public parts as
// JWKS entries, and tokens signed with them.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "auth/crypto.h"

namespace ragd::test {

// Owns an EVP_PKEY.
struct Pkey {
  EVP_PKEY* p = nullptr;
  Pkey() = default;
  explicit Pkey(EVP_PKEY* k) : p(k) {}
  Pkey(Pkey&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  Pkey& operator=(Pkey&& o) noexcept {
    std::swap(p, o.p);
    return *this;
  }
  ~Pkey() { EVP_PKEY_free(p); }
};

inline Pkey rsa_key(size_t bits = 2048) { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)); }
inline Pkey ec_key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

// A key's big-number parameter, big-endian, left-padded to `pad` bytes when
// `pad` > 0; "" when the key has no such parameter.
inline std::string bn_param(const Pkey& k, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k.p, name, &bn) != 1) return "";
  std::string out(pad ? static_cast<size_t>(pad) : static_cast<size_t>(BN_num_bytes(bn)), '\0');
  if (pad) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  BN_free(bn);
  return out;
}

// JWKS entries for a key's public part.
inline nlohmann::json rsa_jwk(const Pkey& k, const std::string& kid) {
  using auth::base64url_encode;
  return nlohmann::json{{"kty", "RSA"}, {"kid", kid}, {"alg", "RS256"}, {"use", "sig"},
                        {"n", base64url_encode(bn_param(k, OSSL_PKEY_PARAM_RSA_N))},
                        {"e", base64url_encode(bn_param(k, OSSL_PKEY_PARAM_RSA_E))}};
}

inline nlohmann::json ec_jwk(const Pkey& k, const std::string& kid) {
  using auth::base64url_encode;
  return nlohmann::json{{"kty", "EC"}, {"kid", kid}, {"crv", "P-256"}, {"alg", "ES256"},
                        {"x", base64url_encode(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
                        {"y", base64url_encode(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

// Signs a JWS signing input the way an OIDC issuer would: SHA-256 with the
// key's own algorithm (RS256 for RSA, ES256 for P-256), an EC signature
// turned from OpenSSL's DER into JOSE's raw r || s. Returns "" when OpenSSL
// fails.

inline std::string jws_sign(EVP_PKEY* key, std::string_view input) {
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  if (ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, in, input.size()) == 1) {
    sig.resize(len);
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()) == 1) {
      sig.resize(len);
    } else {
      sig.clear();
    }
  }
  EVP_MD_CTX_free(ctx);
  if (sig.empty() || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return sig;
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  if (!es) return "";
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return raw;
}

// A compact JWS of `header` and `claims` signed by `key`; with no key, the
// signature part is empty.
inline std::string make_token(const nlohmann::json& header, const nlohmann::json& claims, const Pkey* key) {
  using auth::base64url_encode;
  std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  return input + "." + (key ? base64url_encode(jws_sign(key->p, input)) : "");
}

}  // namespace ragd::test
