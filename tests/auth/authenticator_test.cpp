// The one call the HTTP layer makes per request, over a real key file and a
// JWKS made here.
#include "auth/authenticator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "tests/auth/jws_sign.h"

namespace ragd::auth {
namespace {

namespace fs = std::filesystem;

class Authn : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ragd-authn-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<KeyStore> key_store() {
    auto ks = KeyStore::open(dir_.string());
    EXPECT_TRUE(ks) << ks.status().to_string();
    return ks ? std::move(ks).value() : nullptr;
  }
  std::unique_ptr<Authenticator> authenticator(std::unique_ptr<JwtVerifier> jwt = nullptr,
                                               AuthenticatorOptions o = {}) {
    auto a = Authenticator::make(key_store(), std::move(jwt), std::move(o));
    EXPECT_TRUE(a) << a.status().to_string();
    return a ? std::move(a).value() : nullptr;
  }
  fs::path dir_;
};

TEST_F(Authn, WithoutKeysEverythingIsAdmittedWithoutAPrincipal) {
  auto a = authenticator();
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->required());
  Admission in = a->admit("", Action::kDeleteDocument);
  EXPECT_TRUE(in.status.is_ok());
  EXPECT_FALSE(in.principal.has_value());
  // Nor is a credential looked at then: OpenAI clients always send one.
  Admission openai = a->admit("Bearer sk-anything", Action::kChat);
  EXPECT_TRUE(openai.status.is_ok());
  EXPECT_FALSE(openai.principal.has_value());
}

TEST_F(Authn, KeysAreRequiredOnceOneExistsAndRolesAreEnforced) {
  AuthenticatorOptions o;
  o.reload_interval_seconds = 0;
  auto a = authenticator(nullptr, o);
  ASSERT_TRUE(a);
  auto reader = a->keys().create("reader1", Role::kReader, {"ops"}, "", 0);
  auto writer = a->keys().create("writer1", Role::kWriter, {}, "", 0);
  ASSERT_TRUE(reader && writer);
  EXPECT_TRUE(a->required());

  EXPECT_EQ(a->admit("", Action::kSearch).status.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(a->admit("Basic dXNlcjpwYXNz", Action::kSearch).status.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(a->admit("Bearer ", Action::kSearch).status.code(), StatusCode::kUnauthenticated);
  std::string forged = reader->secret;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(a->admit("Bearer " + forged, Action::kSearch).status.code(), StatusCode::kUnauthenticated);

  Admission r = a->admit("Bearer " + reader->secret, Action::kSearch);
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  ASSERT_TRUE(r.principal);
  EXPECT_EQ(r.principal->name, "reader1");
  EXPECT_EQ(r.principal->groups, std::vector<std::string>{"ops"});
  // The scheme is case-insensitive (RFC 7235).
  EXPECT_TRUE(a->admit("bearer " + reader->secret, Action::kAnswer).status.is_ok());

  Admission denied = a->admit("Bearer " + reader->secret, Action::kPostDocument);
  EXPECT_EQ(denied.status.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(denied.status.message().find("writer"), std::string::npos) << denied.status.to_string();
  EXPECT_TRUE(a->admit("Bearer " + writer->secret, Action::kPostDocument).status.is_ok());
  EXPECT_EQ(a->admit("Bearer " + writer->secret, Action::kReindex).status.code(), StatusCode::kPermissionDenied);
}

TEST_F(Authn, ARevocationByAnotherProcessTakesEffect) {
  AuthenticatorOptions o;
  o.reload_interval_seconds = 0;
  auto a = authenticator(nullptr, o);
  ASSERT_TRUE(a);
  auto key = a->keys().create("k", Role::kAdmin, {}, "", 0);
  ASSERT_TRUE(key);
  ASSERT_TRUE(a->admit("Bearer " + key->secret, Action::kStats).status.is_ok());
  // `ragd keys revoke` opens the file on its own.
  auto cli = key_store();
  ASSERT_TRUE(cli);
  ASSERT_TRUE(cli->revoke("k").is_ok());
  EXPECT_EQ(a->admit("Bearer " + key->secret, Action::kStats).status.code(), StatusCode::kUnauthenticated);
  // That was the last key; the server stays closed all the same.
  EXPECT_TRUE(a->required());
  EXPECT_EQ(a->admit("", Action::kSearch).status.code(), StatusCode::kUnauthenticated);
}

TEST_F(Authn, RateLimitRefusesWithRetryAfter) {
  AuthenticatorOptions o;
  RateLimiterOptions rl;
  rl.rate_per_second = 0.001;
  rl.burst = 2;
  o.rate_limit = rl;
  auto a = authenticator(nullptr, o);
  ASSERT_TRUE(a);
  auto key = a->keys().create("k", Role::kReader, {}, "", 0);
  auto other = a->keys().create("other", Role::kReader, {}, "", 0);
  ASSERT_TRUE(key && other);
  const std::string h = "Bearer " + key->secret;
  EXPECT_TRUE(a->admit(h, Action::kSearch).status.is_ok());
  EXPECT_TRUE(a->admit(h, Action::kSearch).status.is_ok());
  Admission third = a->admit(h, Action::kSearch);
  EXPECT_EQ(third.status.code(), StatusCode::kResourceExhausted);
  EXPECT_GE(third.retry_after_seconds, 1);
  // Buckets are per caller.
  EXPECT_TRUE(a->admit("Bearer " + other->secret, Action::kSearch).status.is_ok());
  // A bad credential is refused before it can spend anyone's tokens.
  EXPECT_EQ(a->admit("Bearer ragd_x", Action::kSearch).status.code(), StatusCode::kUnauthenticated);
}

TEST_F(Authn, MetricsToken) {
  AuthenticatorOptions o;
  o.metrics_token = "scrape-me-0123456789";
  auto a = authenticator(nullptr, o);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_metrics_token("Bearer scrape-me-0123456789"));
  EXPECT_FALSE(a->is_metrics_token("Bearer scrape-me-0123456788"));
  EXPECT_FALSE(a->is_metrics_token("scrape-me-0123456789"));
  EXPECT_FALSE(a->is_metrics_token(""));
  auto none = authenticator();
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->is_metrics_token("Bearer "));
}

TEST_F(Authn, JwtBearerTokensFromTheConfiguredIssuer) {
  test::Pkey ec = test::ec_key();
  nlohmann::json jwks{{"keys", {test::ec_jwk(ec, "ec-1")}}};
  JwtOptions jo;
  jo.issuer = "https://idp.example.com/";
  jo.audience = "ragd";
  jo.role_claim = "ragd_role";
  auto v = JwtVerifier::from_jwks(jwks.dump(), jo);
  ASSERT_TRUE(v) << v.status().to_string();
  auto a = authenticator(std::move(v).value());
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->required());  // a JWKS alone requires credentials
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json claims{{"iss", "https://idp.example.com/"}, {"aud", "ragd"}, {"sub", "bob"},
                        {"exp", now + 300}, {"groups", {"hr"}}, {"ragd_role", "writer"}};
  std::string token = test::make_token({{"alg", "ES256"}, {"kid", "ec-1"}}, claims, &ec);
  Admission in = a->admit("Bearer " + token, Action::kPostDocument);
  ASSERT_TRUE(in.status.is_ok()) << in.status.to_string();
  EXPECT_EQ(in.principal->name, "bob");
  EXPECT_EQ(in.principal->via, Via::kJwt);
  EXPECT_EQ(in.principal->groups, std::vector<std::string>{"hr"});
  EXPECT_EQ(a->admit("Bearer " + token, Action::kManageKeys).status.code(), StatusCode::kPermissionDenied);
  claims["exp"] = now - 3600;
  std::string expired = test::make_token({{"alg", "ES256"}, {"kid", "ec-1"}}, claims, &ec);
  EXPECT_EQ(a->admit("Bearer " + expired, Action::kSearch).status.code(), StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace ragd::auth
