#include "auth/peer.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <string>

namespace ragd::auth {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-cluster";
const std::string kCluster = "prod";
constexpr int64_t kNow = 1764980000000;  // ms
const std::string kTarget = "/v1/collections/shard-3/search";
const std::string kBody = R"({"query":"vpn","shard_phase":"stats"})";

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += d[p[i] >> 4];
    out += d[p[i] & 15];
  }
  return out;
}

// The header as peer.h documents it, computed with OpenSSL directly.
std::string documented_header(const std::string& secret, const std::string& cluster, const std::string& node,
                              int64_t ms, const std::string& method, const std::string& target,
                              const std::string& body) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest);
  const std::string text = "ragd-peer-v1\n" + cluster + "\n" + node + "\n" + std::to_string(ms) + "\n" + method + "\n" + target +
                           "\n" + hex(digest, sizeof digest);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(text.data()),
       text.size(), mac, &len);
  return "v1 " + node + " " + std::to_string(ms) + " " + hex(mac, len);
}

TEST(PeerSignature, IsTheDocumentedHmacAndVerifies) {
  const std::string h = sign_peer_request(kSecret, kCluster, "n1", kNow, "POST", kTarget, kBody);
  EXPECT_EQ(h, documented_header(kSecret, kCluster, "n1", kNow, "POST", kTarget, kBody));
  auto node = verify_peer_request(kSecret, kCluster, h, kNow + 5000, "POST", kTarget, kBody);
  ASSERT_TRUE(node.is_ok()) << node.status().message();
  EXPECT_EQ(*node, "n1");
  // Within the window both ways of the verifier's clock.
  EXPECT_TRUE(verify_peer_request(kSecret, kCluster, h, kNow - 59000, "POST", kTarget, kBody).is_ok());
  EXPECT_TRUE(verify_peer_request(kSecret, kCluster, h, kNow + 60000, "POST", kTarget, kBody).is_ok());
}

TEST(PeerSignature, DoesNotCoverAnotherRequestSecretOrTime) {
  const std::string h = sign_peer_request(kSecret, kCluster, "n1", kNow, "POST", kTarget, kBody);
  auto refused = [&](const Result<std::string>& r, const std::string& why) {
    ASSERT_FALSE(r.is_ok()) << why;
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << why;
  };
  refused(verify_peer_request(kSecret, kCluster, h, kNow, "GET", kTarget, kBody), "method");
  refused(verify_peer_request(kSecret, kCluster, h, kNow, "POST", "/v1/collections/shard-4/search", kBody), "target");
  refused(verify_peer_request(kSecret, kCluster, h, kNow, "POST", kTarget, kBody + " "), "body");
  refused(verify_peer_request(kSecret + "x", kCluster, h, kNow, "POST", kTarget, kBody), "secret");
  refused(verify_peer_request(kSecret, "staging", h, kNow, "POST", kTarget, kBody), "another cluster, same secret");
  auto late = verify_peer_request(kSecret, kCluster, h, kNow + 60001, "POST", kTarget, kBody);
  refused(late, "expired");
  EXPECT_NE(late.status().message().find("clock"), std::string::npos) << late.status().message();
  refused(verify_peer_request(kSecret, kCluster, h, kNow - 60001, "POST", kTarget, kBody), "from the future");
  // Another node's name or another time under the same MAC.
  std::string other = h;
  other.replace(3, 2, "n2");
  refused(verify_peer_request(kSecret, kCluster, other, kNow, "POST", kTarget, kBody), "node swapped");
  std::string moved = sign_peer_request(kSecret, kCluster, "n1", kNow, "POST", kTarget, kBody);
  moved.replace(6, 13, std::to_string(kNow + 1000));
  refused(verify_peer_request(kSecret, kCluster, moved, kNow, "POST", kTarget, kBody), "time changed");
}

TEST(PeerSignature, MalformedHeadersAreRefused) {
  const std::string mac(64, 'a');
  const std::string ms = std::to_string(kNow);
  for (const std::string& h :
       {std::string(), std::string("v1"), "v2 n1 " + ms + " " + mac, "v1 n1 " + ms, "v1 n1 " + ms + " " + mac + " x",
        "v1 n1 12x " + mac, "v1 n1 -5 " + mac, "v1 n/1 " + ms + " " + mac, "v1  " + ms + " " + mac,
        "v1 n1 " + ms + " " + mac.substr(1), "v1 " + std::string(65, 'n') + " " + ms + " " + mac}) {
    auto r = verify_peer_request(kSecret, kCluster, h, kNow, "POST", kTarget, kBody);
    ASSERT_FALSE(r.is_ok()) << "'" << h << "'";
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << "'" << h << "'";
  }
}

}  // namespace
}  // namespace ragd::auth
