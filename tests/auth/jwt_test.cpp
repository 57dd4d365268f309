// JWT tests with keys and tokens made here: RSA 2048 and P-256 keys are
// generated with OpenSSL when the suite starts, the JWKS is written from
// their public parts, and every token is signed by this file.
#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "auth/crypto.h"
#include "tests/auth/jws_sign.h"

namespace ragd::auth {
namespace {

using test::bn_param;
using test::ec_jwk;
using test::ec_key;
using test::make_token;
using test::Pkey;
using test::rsa_jwk;
using test::rsa_key;

std::string sign(const Pkey& k, std::string_view input) {
  std::string sig = test::jws_sign(k.p, input);
  EXPECT_FALSE(sig.empty()) << "OpenSSL could not sign";
  return sig;
}

using Json = nlohmann::json;
constexpr int64_t kNow = 1'800'000'000;

Json good_claims() {
  return Json{{"iss", "https://idp.example.com/"}, {"aud", "ragd"},      {"sub", "alice@example.com"},
              {"exp", kNow + 300},                {"nbf", kNow - 10},   {"iat", kNow - 10},
              {"groups", {"ops", "security-team"}}};
}

JwtOptions options() {
  JwtOptions o;
  o.issuer = "https://idp.example.com/";
  o.audience = "ragd";
  return o;
}

class Jwt : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new Pkey(rsa_key());
    rsa_other_ = new Pkey(rsa_key());
    ec_ = new Pkey(ec_key());
    ec_other_ = new Pkey(ec_key());
    jwks_ = new Json{{"keys", {rsa_jwk(*rsa_, "rsa-1"), ec_jwk(*ec_, "ec-1"),
                               Json{{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}}}}};
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete rsa_other_;
    delete ec_;
    delete ec_other_;
    delete jwks_;
  }
  std::unique_ptr<JwtVerifier> verifier(JwtOptions o = options()) {
    auto v = JwtVerifier::from_jwks(jwks_->dump(), std::move(o));
    EXPECT_TRUE(v) << v.status().to_string();
    return v ? std::move(v).value() : nullptr;
  }
  // Expects an authentication failure whose message contains `what`.
  static void expect_refused(const Result<JwtClaims>& r, const std::string& what) {
    ASSERT_FALSE(r) << "expected: " << what;
    EXPECT_TRUE(is_unauthenticated(r.status())) << r.status().to_string();
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().to_string();
  }

  static Pkey* rsa_;
  static Pkey* rsa_other_;
  static Pkey* ec_;
  static Pkey* ec_other_;
  static Json* jwks_;
};
Pkey* Jwt::rsa_ = nullptr;
Pkey* Jwt::rsa_other_ = nullptr;
Pkey* Jwt::ec_ = nullptr;
Pkey* Jwt::ec_other_ = nullptr;
Json* Jwt::jwks_ = nullptr;

TEST_F(Jwt, ValidRs256AndEs256Tokens) {
  auto v = verifier();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->key_count(), 2u);  // the "oct" key is skipped
  for (auto [alg, kid, key] : {std::tuple{"RS256", "rsa-1", rsa_}, std::tuple{"ES256", "ec-1", ec_}}) {
    std::string token = make_token({{"alg", alg}, {"kid", kid}, {"typ", "JWT"}}, good_claims(), key);
    auto r = v->verify(token, kNow);
    ASSERT_TRUE(r) << alg << ": " << r.status().to_string();
    EXPECT_EQ(r->alg, alg);
    EXPECT_EQ(r->kid, kid);
    EXPECT_EQ(r->expires, kNow + 300);
    const Principal& p = r->principal;
    EXPECT_EQ(p.name, "alice@example.com");
    EXPECT_EQ(p.via, Via::kJwt);
    EXPECT_EQ(p.role, Role::kReader);
    EXPECT_EQ(p.groups, (std::vector<std::string>{"ops", "security-team"}));
    EXPECT_EQ(p.collection, "");
  }
}

TEST_F(Jwt, WrongSignatureIsRefused) {
  auto v = verifier();
  // Signed by a key that is not in the JWKS but claims its kid.
  expect_refused(v->verify(make_token({{"alg", "RS256"}, {"kid", "rsa-1"}}, good_claims(), rsa_other_), kNow),
                 "bad token signature");
  expect_refused(v->verify(make_token({{"alg", "ES256"}, {"kid", "ec-1"}}, good_claims(), ec_other_), kNow),
                 "bad token signature");
  // A payload changed after signing (groups widened).
  std::string token = make_token({{"alg", "ES256"}, {"kid", "ec-1"}}, good_claims(), ec_);
  Json evil = good_claims();
  evil["groups"] = {"ops", "security-team", "finance"};
  size_t d1 = token.find('.'), d2 = token.rfind('.');
  std::string tampered = token.substr(0, d1 + 1) + base64url_encode(evil.dump()) + token.substr(d2);
  expect_refused(v->verify(tampered, kNow), "bad token signature");
  // A truncated or bit-flipped signature.
  expect_refused(v->verify(token.substr(0, token.size() - 4), kNow), "");
  std::string flipped = token;
  flipped[d2 + 5] = flipped[d2 + 5] == 'A' ? 'B' : 'A';
  expect_refused(v->verify(flipped, kNow), "bad token signature");
  // ES256 with a DER signature instead of r || s.
  std::string input = token.substr(0, d2);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, ec_->p);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string der(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  der.resize(len);
  EVP_MD_CTX_free(ctx);
  expect_refused(v->verify(input + "." + base64url_encode(der), kNow), "ES256 signature is not 64 bytes");
}

TEST_F(Jwt, ExpiryAndNotBeforeWithLeeway) {
  auto v = verifier();  // leeway 60 s
  auto token_with = [&](int64_t exp, std::optional<int64_t> nbf) {
    Json c = good_claims();
    c["exp"] = exp;
    if (nbf) c["nbf"] = *nbf; else c.erase("nbf");
    return make_token({{"alg", "RS256"}, {"kid", "rsa-1"}}, c, rsa_);
  };
  EXPECT_TRUE(v->verify(token_with(kNow - 30, std::nullopt), kNow));   // within leeway
  expect_refused(v->verify(token_with(kNow - 60, std::nullopt), kNow), "expired");
  expect_refused(v->verify(token_with(kNow - 86400, std::nullopt), kNow), "expired");
  EXPECT_TRUE(v->verify(token_with(kNow + 600, kNow + 30), kNow));     // within leeway
  expect_refused(v->verify(token_with(kNow + 600, kNow + 120), kNow), "not valid yet");
  // The same token passes later.
  EXPECT_TRUE(v->verify(token_with(kNow + 600, kNow + 120), kNow + 61));
  JwtOptions strict = options();
  strict.leeway_seconds = 0;
  auto v0 = verifier(strict);
  expect_refused(v0->verify(token_with(kNow - 1, std::nullopt), kNow), "expired");
  // exp is required and must be a number.
  Json c = good_claims();
  c.erase("exp");
  expect_refused(v->verify(make_token({{"alg", "RS256"}, {"kid", "rsa-1"}}, c, rsa_), kNow), "no 'exp'");
  c["exp"] = "tomorrow";
  expect_refused(v->verify(make_token({{"alg", "RS256"}, {"kid", "rsa-1"}}, c, rsa_), kNow), "not a number");
  c["exp"] = 1e300;
  expect_refused(v->verify(make_token({{"alg", "RS256"}, {"kid", "rsa-1"}}, c, rsa_), kNow), "out of range");
}

TEST_F(Jwt, IssuerAndAudience) {
  auto v = verifier();
  auto with = [&](const char* field, Json value) {
    Json c = good_claims();
    if (value.is_null()) c.erase(field); else c[field] = value;
    return v->verify(make_token({{"alg", "ES256"}, {"kid", "ec-1"}}, c, ec_), kNow);
  };
  expect_refused(with("iss", "https://evil.example.com/"), "issuer");
  expect_refused(with("iss", nullptr), "issuer");
  expect_refused(with("iss", Json::array({"https://idp.example.com/"})), "issuer");
  expect_refused(with("aud", "other-app"), "audience");
  expect_refused(with("aud", nullptr), "audience");
  expect_refused(with("aud", Json::array({"a", "b"})), "audience");
  expect_refused(with("aud", Json::array()), "audience");
  EXPECT_TRUE(with("aud", Json::array({"other-app", "ragd"})));
}

TEST_F(Jwt, UnsignedSharedSecretAndUnknownAlgsAreRefused) {
  auto v = verifier();
  expect_refused(v->verify(make_token({{"alg", "none"}}, good_claims(), nullptr), kNow), "alg none");
  expect_refused(v->verify(make_token({{"alg", "none"}, {"kid", "rsa-1"}}, good_claims(), rsa_), kNow), "alg none");
  // The classic confusion attack: HS256 keyed with the RSA public modulus.
  std::string input = base64url_encode(Json{{"alg", "HS256"}, {"kid", "rsa-1"}}.dump()) + "." +
                      base64url_encode(good_claims().dump());
  std::string n = bn_param(*rsa_, OSSL_PKEY_PARAM_RSA_N);
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), n.data(), static_cast<int>(n.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &mac_len);
  std::string hs = input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), mac_len));
  expect_refused(v->verify(hs, kNow), "shared-secret");
  // The "oct" key in the JWKS is never used.
  expect_refused(v->verify(make_token({{"alg", "HS256"}, {"kid", "hmac"}}, good_claims(), rsa_), kNow),
                 "shared-secret");
  expect_refused(v->verify(make_token({{"alg", "RS512"}, {"kid", "rsa-1"}}, good_claims(), rsa_), kNow),
                 "unsupported alg");
  expect_refused(v->verify(make_token({{"alg", "PS256"}, {"kid", "rsa-1"}}, good_claims(), rsa_), kNow),
                 "unsupported alg");
  expect_refused(v->verify(make_token({{"kid", "rsa-1"}}, good_claims(), rsa_), kNow), "no 'alg'");
  expect_refused(v->verify(make_token({{"alg", 256}, {"kid", "rsa-1"}}, good_claims(), rsa_), kNow), "no 'alg'");
  expect_refused(
      v->verify(make_token({{"alg", "RS256"}, {"kid", "rsa-1"}, {"crit", {"exp"}}}, good_claims(), rsa_), kNow),
      "crit");
}

TEST_F(Jwt, KeySelection) {
  auto v = verifier();
  expect_refused(v->verify(make_token({{"alg", "RS256"}, {"kid", "rsa-2"}}, good_claims(), rsa_), kNow),
                 "unknown kid");
  expect_refused(v->verify(make_token({{"alg", "RS256"}, {"kid", 7}}, good_claims(), rsa_), kNow), "kid");
  // Several keys: a token must say which.
  expect_refused(v->verify(make_token({{"alg", "RS256"}}, good_claims(), rsa_), kNow), "no kid");
  // RS256 header naming the EC key.
  expect_refused(v->verify(make_token({{"alg", "RS256"}, {"kid", "ec-1"}}, good_claims(), rsa_), kNow),
                 "does not match");
  // One key without kid: tokens without kid use it.
  Json one{{"keys", {ec_jwk(*ec_, "")}}};
  one["keys"][0].erase("kid");
  auto single = JwtVerifier::from_jwks(one.dump(), options());
  ASSERT_TRUE(single) << single.status().to_string();
  EXPECT_TRUE((*single)->verify(make_token({{"alg", "ES256"}}, good_claims(), ec_), kNow));
}

TEST_F(Jwt, GroupsRoleAndCollectionClaims) {
  JwtOptions o = options();
  o.groups_claim = "ragd_groups";
  o.role_claim = "ragd_roles";
  o.collection_claim = "ragd_collection";
  o.default_role = Role::kReader;
  auto v = verifier(o);
  auto verify_claims = [&](Json c) {
    return v->verify(make_token({{"alg", "RS256"}, {"kid", "rsa-1"}}, c, rsa_), kNow);
  };
  Json c = good_claims();
  c["ragd_groups"] = {"hr", "ops", "hr", ""};
  c["ragd_roles"] = {"viewer", "writer", "reader"};
  c["ragd_collection"] = "hr-kb";
  auto r = verify_claims(c);
  ASSERT_TRUE(r) << r.status().to_string();
  EXPECT_EQ(r->principal.groups, (std::vector<std::string>{"hr", "ops"}));  // "groups" is not the claim now
  EXPECT_EQ(r->principal.role, Role::kWriter);
  EXPECT_EQ(r->principal.collection, "hr-kb");

  c["ragd_groups"] = "solo";
  c["ragd_roles"] = "admin";
  r = verify_claims(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->principal.groups, std::vector<std::string>{"solo"});
  EXPECT_EQ(r->principal.role, Role::kAdmin);

  c.erase("ragd_groups");
  c["ragd_roles"] = {"superuser"};  // no known role: the default
  r = verify_claims(c);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->principal.groups.empty());
  EXPECT_EQ(r->principal.role, Role::kReader);

  c["ragd_groups"] = {"ok", 5};
  expect_refused(verify_claims(c), "not a string");
  c["ragd_groups"] = Json{{"a", 1}};
  expect_refused(verify_claims(c), "neither a string nor an array");
  c["ragd_groups"] = std::vector<std::string>(300, "g");
  expect_refused(verify_claims(c), "more than 256");
  c["ragd_groups"] = "g";
  c["ragd_collection"] = 12;
  expect_refused(verify_claims(c), "ragd_collection");
  c.erase("ragd_collection");
  c.erase("sub");
  expect_refused(verify_claims(c), "'sub'");
}

TEST_F(Jwt, MalformedTokensNeverCrash) {
  auto v = verifier();
  std::string good = make_token({{"alg", "RS256"}, {"kid", "rsa-1"}}, good_claims(), rsa_);
  const std::vector<std::string> bad = {
      "", ".", "..", "...", "a.b", "a.b.c.d", good + ".", "." + good,
      "!!!.e30.AAAA",                                           // header not base64url
      base64url_encode("not json") + ".e30.AAAA",               // header not JSON
      base64url_encode("[1,2]") + ".e30.AAAA",                  // header not an object
      base64url_encode("{\"alg\":\"RS256\"") + ".e30.AAAA",     // truncated JSON
      good.substr(0, good.find('.') + 1) + "%%%." + good.substr(good.rfind('.') + 1),
      std::string(20000, 'a'),                                  // oversize
      std::string("\0.\0.\0", 5),
  };
  for (const auto& t : bad) {
    auto r = v->verify(t, kNow);
    ASSERT_FALSE(r) << t.substr(0, 60);
    EXPECT_TRUE(is_unauthenticated(r.status())) << r.status().to_string();
  }
  expect_refused(v->verify(std::string(20000, 'a'), kNow), "max_token_bytes");
  // A payload that is valid base64url but not JSON, correctly signed.
  std::string input = base64url_encode(Json{{"alg", "ES256"}, {"kid", "ec-1"}}.dump()) + "." + base64url_encode("{oops");
  expect_refused(v->verify(input + "." + base64url_encode(sign(*ec_, input)), kNow), "payload is not a JSON object");
  // Random bytes with dots in them.
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    std::string t(static_cast<size_t>(rng() % 200), '\0');
    for (auto& ch : t) ch = "AZaz09-_.{}\"=+/ \xff"[rng() % 17];
    EXPECT_FALSE(v->verify(t, kNow));
  }
}

TEST_F(Jwt, BadJwksAndOptionsAreRefused) {
  auto refused = [](const std::string& jwks, JwtOptions o, const std::string& what) {
    auto v = JwtVerifier::from_jwks(jwks, std::move(o));
    ASSERT_FALSE(v) << what;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << v.status().to_string();
    EXPECT_NE(v.status().message().find(what), std::string::npos) << v.status().to_string();
  };
  refused("{", options(), "not a JSON object");
  refused("{\"keys\": 5}", options(), "'keys'");
  refused("{\"keys\": []}", options(), "no RS256 or ES256");
  refused(Json{{"keys", {Json{{"kty", "oct"}, {"k", "c2VjcmV0"}}}}}.dump(), options(), "no RS256 or ES256");
  refused(Json{{"keys", {rsa_jwk(*rsa_, "a"), rsa_jwk(*rsa_other_, "a")}}}.dump(), options(), "duplicate kid");
  Json no_kid = rsa_jwk(*rsa_other_, "");
  no_kid.erase("kid");
  refused(Json{{"keys", {rsa_jwk(*rsa_, "a"), no_kid}}}.dump(), options(), "needs a kid");
  Pkey small = rsa_key(1024);
  refused(Json{{"keys", {rsa_jwk(small, "small")}}}.dump(), options(), "shorter than 2048");
  Json off_curve = ec_jwk(*ec_, "ec");
  off_curve["y"] = base64url_encode(std::string(31, '\0') + "\x01");
  refused(Json{{"keys", {off_curve}}}.dump(), options(), "");
  Json p384 = ec_jwk(*ec_, "ec");
  p384["crv"] = "P-384";
  refused(Json{{"keys", {p384}}}.dump(), options(), "P-256");
  Json bad_n = rsa_jwk(*rsa_, "r");
  bad_n["n"] = "not base64!";
  refused(Json{{"keys", {bad_n}}}.dump(), options(), "'n'");
  JwtOptions no_iss = options();
  no_iss.issuer.clear();
  refused(jwks_->dump(), no_iss, "issuer");
  JwtOptions no_aud = options();
  no_aud.audience.clear();
  refused(jwks_->dump(), no_aud, "audience");
  auto missing = JwtVerifier::load("/nonexistent/jwks.json", options());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
}

TEST_F(Jwt, ConcurrentVerifiesShareOneVerifier) {
  auto v = verifier();
  const std::string rs = make_token({{"alg", "RS256"}, {"kid", "rsa-1"}}, good_claims(), rsa_);
  const std::string es = make_token({{"alg", "ES256"}, {"kid", "ec-1"}}, good_claims(), ec_);
  const std::string forged = make_token({{"alg", "ES256"}, {"kid", "ec-1"}}, good_claims(), ec_other_);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (!v->verify(rs, kNow) || !v->verify(es, kNow) || v->verify(forged, kNow)) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(Jwt, LoadsAJwksFile) {
  auto path = std::filesystem::temp_directory_path() / ("ragd-auth-jwks-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << jwks_->dump(2);
  auto v = JwtVerifier::load(path.string(), options());
  std::filesystem::remove(path);
  ASSERT_TRUE(v) << v.status().to_string();
  EXPECT_TRUE((*v)->verify(make_token({{"alg", "ES256"}, {"kid", "ec-1"}}, good_claims(), ec_), kNow));
}

}  // namespace
}  // namespace ragd::auth
