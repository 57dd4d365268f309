// Signs a JWS signing input the way an OIDC issuer would, for the JWT tests,
// the JWT fuzz target and auth_bench: SHA-256 with the key's own algorithm
// (RS256 for RSA, ES256 for P-256), an EC signature turned from OpenSSL's DER
// into JOSE's raw r || s. Returns "" when OpenSSL fails.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace ragd::test {

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

}  // namespace ragd::test
