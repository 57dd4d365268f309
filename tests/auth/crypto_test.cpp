#include "auth/crypto.h"

#include <gtest/gtest.h>

#include <random>

namespace ragd::auth {
namespace {

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

TEST(Crypto, Base64urlMatchesRfc4648Vectors) {
  // RFC 4648 section 10, without padding.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), encoded);
    auto back = base64url_decode(encoded);
    ASSERT_TRUE(back) << encoded;
    EXPECT_EQ(*back, plain);
  }
  // The URL-safe alphabet: 0xfb 0xff -> "-_8".
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(Crypto, Base64urlDecodeIsStrict) {
  for (const char* bad : {"Zg==", "Zm9v+", "Zm9v/", "Zm 9v", "Z", "Zm9vY", "Zh", "Zm9", "\xff\xff"}) {
    auto r = base64url_decode(bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_TRUE(base64url_decode("Zm8"));
}

// 500 random byte strings of 0-69 bytes come back through `encode` and `decode`.
template <class Encode, class Decode>
void expect_round_trips(Encode encode, Decode decode, unsigned seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < 500; ++i) {
    std::string bytes(rng() % 70, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    auto back = decode(encode(bytes));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, bytes);
  }
}

TEST(Crypto, Base64urlRoundTripsRandomBytes) { expect_round_trips(base64url_encode, base64url_decode, 5); }

TEST(Crypto, Base64MatchesRfc4648VectorsAndRoundTrips) {
  // RFC 4648 section 10, with padding (what JetStream's API answers carry).
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    auto back = base64_decode(encoded);
    ASSERT_TRUE(back) << encoded;
    EXPECT_EQ(*back, plain) << encoded;
  }
  expect_round_trips(base64_encode, base64_decode, 7);
  for (const char* bad : {"Zg=", "Zm9", "Zm9v!!!!", "Zm9v\xff\xff\xff\xff", "Zm-_", "QQ==QUJD", "QQ==\n\n\n\n",
                          " Zm9", "Z=g=", "Zm9v\n", "Zg=A"}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

TEST(Crypto, Sha256AndSaltedSha256) {
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(salted_sha256("ab", "c"), sha256("abc"));
  EXPECT_NE(salted_sha256("salt1", "secret"), salted_sha256("salt2", "secret"));
}

TEST(Crypto, RandomBytesAndConstantTimeEqual) {
  auto a = random_bytes(32), b = random_bytes(32);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(constant_time_equal(*a, *a));
  EXPECT_FALSE(constant_time_equal(*a, *b));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
}  // namespace ragd::auth
