// libFuzzer target for auth/'s JWT parser and JWKS loader. Built only with
// -DRAGD_FUZZ=ON and clang (see tests/fuzz/CMakeLists.txt); run with the seeds in
// tests/fuzz/jwt_corpus/:
//   build-fuzz/fuzz/jwt_fuzz -max_total_time=600 tests/fuzz/jwt_corpus
//
// The first input byte picks what the rest is:
//   0: a whole token, verified as it comes (header, kid, alg, signature paths);
//   1: a payload, signed here with the verifier's own ES256 key, so random
//      claims get past the signature to the claim checks;
//   2: a JWKS document.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "auth/crypto.h"
#include "auth/jwt.h"
#include "tests/auth/jws_sign.h"

namespace {

using namespace ragd::auth;

JwtOptions fuzz_options() {
  JwtOptions o;
  o.issuer = "https://idp.example.com/";
  o.audience = "ragd";
  o.role_claim = "roles";
  o.collection_claim = "collection";
  return o;
}

struct Fixture {
  EVP_PKEY* key = nullptr;
  std::unique_ptr<JwtVerifier> verifier;
  std::string header_b64;

  Fixture() {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    BIGNUM *x = nullptr, *y = nullptr;
    if (!key || EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
      std::abort();
    }
    std::string xs(32, '\0'), ys(32, '\0');
    BN_bn2binpad(x, reinterpret_cast<unsigned char*>(xs.data()), 32);
    BN_bn2binpad(y, reinterpret_cast<unsigned char*>(ys.data()), 32);
    BN_free(x);
    BN_free(y);
    std::string jwks = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","x":")" +
                       base64url_encode(xs) + R"(","y":")" + base64url_encode(ys) + R"("}]})";
    auto v = JwtVerifier::from_jwks(jwks, fuzz_options());
    if (!v) std::abort();
    verifier = std::move(v).value();
    header_b64 = base64url_encode(R"({"alg":"ES256","kid":"k1"})");
  }

  std::string sign(const std::string& input) const {
    std::string sig = ragd::test::jws_sign(key, input);
    if (sig.empty()) std::abort();
    return sig;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fixture;
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr int64_t kNow = 1'800'000'000;
  switch (data[0] % 3) {
    case 0: {
      auto r = fixture.verifier->verify(rest, kNow);
      (void)r;
      break;
    }
    case 1: {
      std::string input = fixture.header_b64 + "." + base64url_encode(rest);
      auto r = fixture.verifier->verify(input + "." + base64url_encode(fixture.sign(input)), kNow);
      (void)r;
      break;
    }
    default: {
      auto v = JwtVerifier::from_jwks(rest, fuzz_options());
      (void)v;
      break;
    }
  }
  return 0;
}
