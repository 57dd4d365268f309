// What authentication costs per request: API key verification against a
// key file of 1 and 10,000 keys, the PBKDF2 a password-style store would pay
// instead (the peer the salted SHA-256 is chosen over), JWT verification for
// RS256 and ES256, and a rate-limiter acquire. One thread; prints p50/p99.
//   build/bench/auth_bench [--iterations N] [--pbkdf2-iterations N]
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "auth/crypto.h"
#include "auth/jwt.h"
#include "auth/key_store.h"
#include "auth/rate_limiter.h"
#include "bench_args.h"
#include "bench_stats.h"
#include "tests/auth/jws_sign.h"

using namespace ragd;
using namespace ragd::auth;
using Clock = std::chrono::steady_clock;

namespace {

// Runs `fn` `n` times and prints p50, p99 and calls per second.
void measure(const char* label, int n, const std::function<bool()>& fn) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  int failures = 0;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    failures += !fn();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  double total = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%-44s p50 %9.2f us  p99 %9.2f us  %10.0f /s%s\n", label, bench::percentile(us, 0.5),
              bench::percentile(us, 0.99), n / total, failures ? "  (FAILURES)" : "");
}

std::string bn_param(EVP_PKEY* k, const char* name, int pad) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) bench::die(Status::internal(name));
  std::string out(pad ? static_cast<size_t>(pad) : static_cast<size_t>(BN_num_bytes(bn)), '\0');
  if (pad) BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
  else BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}


}  // namespace

int main(int argc, char** argv) {
  int iterations = 20000;
  int pbkdf2_iterations = 600000;  // OWASP's 2023 figure for PBKDF2-HMAC-SHA256
  bench::ArgReader args(argc, argv);
  while (args.next()) {
    if (args.flag() == "--iterations") iterations = std::stoi(args.value());
    else if (args.flag() == "--pbkdf2-iterations") pbkdf2_iterations = std::stoi(args.value());
    else args.unknown();
  }

  // API keys. (The secrets here come from a seeded generator, not RAND_bytes:
  // only the lookup and hash cost is measured.)
  auto dir = std::filesystem::temp_directory_path() / ("ragd-auth-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (int keys : {1, 10000}) {
    // The file is written here, in KeyStore's format, because 10,000
    // create() calls would each rewrite and fsync the whole file.
    std::mt19937 rng(7);
    std::string secret;
    nlohmann::json records = nlohmann::json::array();
    for (int i = 0; i < keys; ++i) {
      std::string raw(32, '\0'), salt(16, '\0');
      for (auto& c : raw) c = static_cast<char>(rng());
      for (auto& c : salt) c = static_cast<char>(rng());
      secret = std::string(kKeyPrefix) + base64url_encode(raw);
      records.push_back({{"name", "k" + std::to_string(i)}, {"id", secret.substr(kKeyPrefix.size(), kKeyIdChars)},
                         {"role", "reader"}, {"groups", {"ops"}}, {"collection", ""}, {"expires", 0},
                         {"created", 0}, {"salt", base64url_encode(salt)},
                         {"hash", base64url_encode(salted_sha256(salt, secret))}});
    }
    {
      std::ofstream out(dir / "keys.json", std::ios::trunc);
      out << nlohmann::json{{"version", 1}, {"keys", records}}.dump();
    }
    auto ks = KeyStore::open(dir.string());
    if (!ks) bench::die(ks.status());
    std::string label = "api key verify, " + std::to_string((*ks)->size()) + " keys";
    measure(label.c_str(), iterations, [&] { return static_cast<bool>((*ks)->verify(secret)); });
    std::string wrong = secret;
    wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
    label = "api key verify (wrong secret), " + std::to_string((*ks)->size()) + " keys";
    measure(label.c_str(), iterations, [&] { return !(*ks)->verify(wrong); });
  }
  std::filesystem::remove_all(dir);
  {
    std::string salt(16, 's'), secret(48, 'x'), out(32, '\0');
    std::string label = "peer: PBKDF2-HMAC-SHA256 x" + std::to_string(pbkdf2_iterations);
    measure(label.c_str(), 20, [&] {
      return PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()),
                               reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                               pbkdf2_iterations, EVP_sha256(), 32, reinterpret_cast<unsigned char*>(out.data())) == 1;
    });
  }

  // JWTs.
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  std::string jwks = std::string(R"({"keys":[{"kty":"RSA","kid":"r","alg":"RS256","n":")") +
                     base64url_encode(bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, 0)) + R"(","e":")" +
                     base64url_encode(bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, 0)) +
                     R"("},{"kty":"EC","crv":"P-256","kid":"e","alg":"ES256","x":")" +
                     base64url_encode(bn_param(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
                     base64url_encode(bn_param(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + R"("}]})";
  JwtOptions o;
  o.issuer = "https://idp.example.com/";
  o.audience = "ragd";
  auto v = JwtVerifier::from_jwks(jwks, o);
  if (!v) bench::die(v.status());
  const int64_t now = 1'800'000'000;
  std::string claims = R"({"iss":"https://idp.example.com/","aud":"ragd","sub":"alice","exp":1800000300,)"
                       R"("groups":["ops","security-team","it-staff","emea"]})";
  for (auto [alg, kid, key] : {std::tuple{"RS256", "r", rsa}, std::tuple{"ES256", "e", ec}}) {
    std::string input = base64url_encode(std::string(R"({"alg":")") + alg + R"(","kid":")" + kid + "\"}") + "." +
                        base64url_encode(claims);
    std::string token = input + "." + base64url_encode(ragd::test::jws_sign(key, input));
    std::string label = std::string("jwt verify ") + alg + " (" + std::to_string(token.size()) + " bytes)";
    measure(label.c_str(), iterations / 4, [&] { return static_cast<bool>((*v)->verify(token, now)); });
  }
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);

  // Rate limiter.
  auto rl = RateLimiter::make({});
  if (!rl) bench::die(rl.status());
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("key-" + std::to_string(i));
  int i = 0;
  measure("rate limiter acquire, 1000 keys", iterations * 5, [&] {
    (*rl)->acquire(names[static_cast<size_t>(i++ % 1000)]);
    return true;
  });
  return 0;
}
