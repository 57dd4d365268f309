// Credentials other than client certificates (cluster/README.md,
// "Credentials"): NATS servers that require a token or a user's password,
// and an etcd with its authentication enabled (a user whose role may touch
// the cluster's keys only, tokens that expire after 2 s). A node with the
// right secret files joins, writes and searches, and `ragd cluster status`
// reads the cluster; a wrong or missing secret stops the node at start with
// an error naming the option, and no secret shows in a log or an answer.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "auth/crypto.h"
#include "cluster/etcd.h"
#include "cluster/options.h"
#include "tests/cluster/cluster_fixture.h"

namespace ragd::test {
namespace {

constexpr const char* kNatsToken = "nats-token-5b1e0c7d9a";
constexpr const char* kNatsPassword = "nats-pass-7f3a2b";
constexpr const char* kEtcdPassword = "etcd-pass-c4d8e1";
constexpr const char* kEtcdRootPassword = "etcd-root-9e2f";

// A secret file as an operator makes one: the secret and a newline, 0600.
fs::path secret_file(const fs::path& dir, const std::string& name, const std::string& secret) {
  const fs::path f = dir / name;
  write_file(f, secret + "\n");
  ::chmod(f.c_str(), 0600);
  return f;
}

// Servers whose NATS clients need `nats_args()` credentials and whose etcd
// has its authentication enabled: root, and user "ragd" with readwrite on
// /ragd/t/ alone.
class ClusterCredentialsTest : public ClusterTest {
 protected:
  virtual std::vector<std::string> nats_args() const { return {"--auth", kNatsToken}; }
  // The cluster file's NATS credentials (the right ones).
  virtual std::string nats_lines() const {
    return "nats_token_file = \"" + (tmp_.path / "nats.token").string() + "\"\n";
  }

  // How etcd makes its tokens: simple ones that expire 2 s after their last
  // use, as etcd's 5 minutes would.
  virtual std::vector<std::string> etcd_args() const { return {"--auth-token-ttl", "2"}; }

  void SetUp() override {
    servers_.nats_extra_args = nats_args();
    servers_.etcd_extra_args = etcd_args();
    ClusterTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    secret_file(tmp_.path, "nats.token", kNatsToken);
    secret_file(tmp_.path, "nats.password", kNatsPassword);
    secret_file(tmp_.path, "etcd.password", kEtcdPassword);
    // etcd's auth through its JSON gateway, as `etcdctl user add`, `role
    // grant-permission` and `auth enable` do.
    const uint16_t e = servers_.etcd_port;
    auto call = [&](const std::string& path, const Json& body) {
      HttpResult r = http_post(e, path, body.dump());
      ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    };
    call("/v3/auth/role/add", {{"name", "root"}});
    call("/v3/auth/user/add", {{"name", "root"}, {"password", kEtcdRootPassword}});
    call("/v3/auth/user/grant", {{"user", "root"}, {"role", "root"}});
    call("/v3/auth/role/add", {{"name", "ragd"}});
    call("/v3/auth/role/grant", {{"name", "ragd"},
                                 {"perm", {{"permType", "READWRITE"},
                                           {"key", auth::base64_encode("/ragd/t/")},
                                           {"range_end", auth::base64_encode("/ragd/t0")}}}});
    call("/v3/auth/user/add", {{"name", "ragd"}, {"password", kEtcdPassword}});
    call("/v3/auth/user/grant", {{"user", "ragd"}, {"role", "ragd"}});
    call("/v3/auth/enable", Json::object());
    servers_.cluster_file_extra = nats_lines() + "etcd_user = \"ragd\"\netcd_password_file = \"" +
                                  (tmp_.path / "etcd.password").string() + "\"\n";
  }

  // A node started with `file_text` as its cluster file: whether it came
  // up, and its log.
  std::pair<bool, std::string> try_node(const std::string& id, const std::string& file_text) {
    const fs::path file = tmp_.path / (id + ".toml");
    write_file(file, file_text);
    ServerProcess p(tmp_.path / ("data-" + id), glove_, {"--cluster", file.string()});
    const bool up = p.start(40);
    return {up, p.log()};
  }

  static std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  }

  // Whether node `id` has registered itself in etcd (read as root).
  bool registered(const std::string& id) {
    cluster::EtcdCredentials root{"root", tmp_.path / "etcd.password", kEtcdRootPassword};
    cluster::Etcd etcd({"http://127.0.0.1:" + std::to_string(servers_.etcd_port)}, 5, {}, root);
    auto kv = etcd.get("/ragd/t/nodes/" + id);
    EXPECT_TRUE(kv.is_ok()) << kv.status().to_string();
    return kv.is_ok() && kv->has_value();
  }

  // No secret of the test in `text`.
  static void expect_no_secret(const std::string& text, const std::string& what) {
    for (const char* s : {kNatsToken, kNatsPassword, kEtcdPassword, kEtcdRootPassword, "wrong-secret-31"}) {
      EXPECT_EQ(text.find(s), std::string::npos) << what << " shows a secret";
    }
  }

  // `secret` is in no node's log.
  void expect_no_secret_in_logs(const std::string& secret) {
    for (const auto& entry : fs::directory_iterator(tmp_.path)) {
      if (entry.path().extension() != ".log") continue;
      EXPECT_EQ(read_file(entry.path()).find(secret), std::string::npos) << entry.path() << " shows a secret";
    }
  }

  // A client idle for longer than the tokens live authenticates again on
  // etcd's "invalid auth token" answer; a key outside its role is refused,
  // a wrong password is kUnauthenticated.
  void expired_tokens_are_renewed() {
    cluster::EtcdCredentials ragd{"ragd", tmp_.path / "etcd.password", kEtcdPassword};
    cluster::Etcd etcd({"http://127.0.0.1:" + std::to_string(servers_.etcd_port)}, 5, {}, ragd);
    ASSERT_TRUE(etcd.put("/ragd/t/x", "1").is_ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    auto got = etcd.get("/ragd/t/x");
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->value, "1");
    // Outside the role's prefix: refused, and said so.
    Status outside = etcd.put("/other", "1");
    EXPECT_EQ(outside.code(), StatusCode::kPermissionDenied) << outside.to_string();
    EXPECT_NE(outside.message().find("grant its role readwrite"), std::string::npos) << outside.to_string();

    cluster::EtcdCredentials wrong{"ragd", tmp_.path / "wrong", "wrong-secret-31"};
    cluster::Etcd refused({"http://127.0.0.1:" + std::to_string(servers_.etcd_port)}, 5, {}, wrong);
    Status no = refused.put("/ragd/t/x", "2");
    EXPECT_EQ(no.code(), StatusCode::kUnauthenticated) << no.to_string();
    expect_no_secret(no.message(), "the error");
  }

  // The checks every way of NATS credentials gets: a node with the right
  // ones joins and works, with wrong NATS or etcd secrets it does not.
  void joins_and_refuses(const std::string& wrong_nats_line, const std::string& nats_refusal) {
    ServerProcess& a = node("a", {"a"}, 1);
    ASSERT_TRUE(a.start(60)) << a.log();
    ASSERT_EQ(post_docs(a.port(), {1, 2, 3}, 0).status, 200);
    EXPECT_TRUE(wait_until([&] { return finds(a.port(), 2); }, 20000)) << a.log();
    // Longer than etcd's token TTL with the node idle between renewals is
    // not needed: the keepalive keeps using it; the token's renewal is
    // ExpiredEtcdTokensAreRenewed's.
    std::string status;
    EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string()}, &status), 0) << status;
    EXPECT_NE(status.find("level"), std::string::npos) << status;
    expect_no_secret(status, "ragd cluster status");
    expect_no_secret(http_get(a.port(), "/v1/stats").body, "/v1/stats");
    EXPECT_TRUE(registered("a"));

    const std::string file_b = servers_.cluster_file("b", {"a", "b"}, kShards, 1, 3, 20000);
    secret_file(tmp_.path, "wrong", "wrong-secret-31");
    auto [up, log] = try_node("b", wrong_nats_line.empty() ? file_b
                                                           : replaced(file_b, nats_lines(), wrong_nats_line));
    EXPECT_FALSE(up) << "wrong NATS credentials";
    EXPECT_NE(log.find(nats_refusal), std::string::npos) << log;
    expect_no_secret(log, "the log");
    EXPECT_FALSE(registered("b"));

    std::tie(up, log) = try_node("c", replaced(file_b, nats_lines(), ""));
    EXPECT_FALSE(up) << "no NATS credentials";
    EXPECT_NE(log.find("the servers require credentials: set nats_token_file"), std::string::npos) << log;

    std::tie(up, log) = try_node("d", replaced(file_b, (tmp_.path / "etcd.password").string(),
                                               (tmp_.path / "wrong").string()));
    EXPECT_FALSE(up) << "a wrong etcd password";
    EXPECT_NE(log.find("etcd refused user 'ragd' with the password in etcd_password_file"), std::string::npos)
        << log;
    expect_no_secret(log, "the log");
    EXPECT_FALSE(registered("d"));

    const std::string etcd_lines = "etcd_user = \"ragd\"\netcd_password_file = \"" +
                                   (tmp_.path / "etcd.password").string() + "\"\n";
    std::tie(up, log) = try_node("e", replaced(file_b, etcd_lines, ""));
    EXPECT_FALSE(up) << "no etcd user";
    EXPECT_NE(log.find("set etcd_user and etcd_password_file"), std::string::npos) << log;

    std::tie(up, log) = try_node("f", replaced(file_b, "etcd_user = \"ragd\"", "etcd_user = \"root\""));
    EXPECT_FALSE(up) << "root's name with ragd's password";
    EXPECT_NE(log.find("etcd refused user 'root'"), std::string::npos) << log;

    // Node a kept working through all of it, and its log shows no secret.
    EXPECT_EQ(post_docs(a.port(), {4}, 0).status, 200);
    EXPECT_TRUE(wait_until([&] { return finds(a.port(), 4); }, 20000));
    expect_no_secret(a.log(), "node a's log");
  }
};

TEST_F(ClusterCredentialsTest, ANodeJoinsWithANatsTokenAndAnEtcdPassword) {
  joins_and_refuses("nats_token_file = \"" + (tmp_.path / "wrong").string() + "\"\n",
                    "the servers refused the token in nats_token_file");
}

// etcd's simple tokens expire (here 2 s after their last use): a client
// idle for longer authenticates again on the "invalid auth token" answer.
TEST_F(ClusterCredentialsTest, ExpiredEtcdTokensAreRenewed) { expired_tokens_are_renewed(); }

// An RSA key pair made with OpenSSL, PEM: the private key (PKCS#8) and the
// public key (SubjectPublicKeyInfo), as etcd's --auth-token jwt reads them.
void make_rsa_key(const fs::path& private_key, const fs::path& public_key) {
  EVP_PKEY* k = EVP_RSA_gen(2048);
  ASSERT_NE(k, nullptr);
  FILE* f = std::fopen(private_key.c_str(), "w");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr), 1);
  std::fclose(f);
  f = std::fopen(public_key.c_str(), "w");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(PEM_write_PUBKEY(f, k), 1);
  std::fclose(f);
  EVP_PKEY_free(k);
}

// etcd signing JWT tokens (`--auth-token jwt`) with an RSA key the test
// makes, each token valid for 2 s from when it was issued, however often
// it is used: a node renews its token every few seconds.
class ClusterJwtTest : public ClusterCredentialsTest {
 protected:
  std::vector<std::string> etcd_args() const override {
    const fs::path private_key = tmp_.path / "jwt.key", public_key = tmp_.path / "jwt.pub";
    make_rsa_key(private_key, public_key);
    return {"--auth-token", "jwt,pub-key=" + public_key.string() + ",priv-key=" + private_key.string() +
                                ",sign-method=RS256,ttl=2s"};
  }
};

TEST_F(ClusterJwtTest, ANodeWorksAgainstAnEtcdWithJwtTokens) {
  // etcd hands out JWTs (header.payload.signature), not simple tokens.
  HttpResult r = http_post(servers_.etcd_port, "/v3/auth/authenticate",
                           Json{{"name", "ragd"}, {"password", kEtcdPassword}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string jwt = Json::parse(r.body).value("token", "");
  EXPECT_EQ(std::count(jwt.begin(), jwt.end(), '.'), 2);
  EXPECT_EQ(jwt.rfind("eyJ", 0), 0u);
  // Valid for 2 s: its expiry ("exp", unix seconds) is that close.
  const size_t dot = jwt.find('.');
  auto claims = auth::base64url_decode(jwt.substr(dot + 1, jwt.rfind('.') - dot - 1));
  ASSERT_TRUE(claims.is_ok()) << claims.status().to_string();
  const int64_t exp = Json::parse(*claims, nullptr, false).value("exp", int64_t{0});
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT(exp, now - 1);
  EXPECT_LE(exp, now + 3);

  ServerProcess& a = node("a", {"a"}, 1);
  ASSERT_TRUE(a.start(60)) << a.log();
  ASSERT_EQ(post_docs(a.port(), {1, 2, 3}, 0).status, 200);
  EXPECT_TRUE(wait_until([&] { return finds(a.port(), 2); }, 20000)) << a.log();
  EXPECT_TRUE(registered("a"));
  // Three tokens' lives later the node still holds its lease and reads etcd.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  EXPECT_TRUE(registered("a"));
  const Json health = Json::parse(http_get(a.port(), "/healthz").body);
  EXPECT_EQ(health["cluster"]["etcd"], "reachable") << health.dump();
  EXPECT_EQ(health["cluster"]["lease"], "held") << health.dump();
  EXPECT_EQ(post_docs(a.port(), {4}, 0).status, 200);
  EXPECT_TRUE(wait_until([&] { return finds(a.port(), 4); }, 20000));
  std::string status;
  EXPECT_EQ(run_ragd({"cluster", "status", "--cluster", (tmp_.path / "a.toml").string()}, &status), 0) << status;
  EXPECT_NE(status.find("level"), std::string::npos) << status;
  expect_no_secret(a.log(), "node a's log");
  expired_tokens_are_renewed();
}

class ClusterUserPasswordTest : public ClusterCredentialsTest {
 protected:
  std::vector<std::string> nats_args() const override { return {"--user", "ragd", "--pass", kNatsPassword}; }
  std::string nats_lines() const override {
    return "nats_user = \"ragd\"\nnats_password_file = \"" + (tmp_.path / "nats.password").string() + "\"\n";
  }
};

TEST_F(ClusterUserPasswordTest, ANodeJoinsWithANatsUsersPassword) {
  joins_and_refuses("nats_user = \"ragd\"\nnats_password_file = \"" + (tmp_.path / "wrong").string() + "\"\n",
                    "the servers refused user 'ragd' with the password in nats_password_file");
}

// A user nkey from a fixed 32-byte seed, encoded as the NATS tools write
// one: base32 of the prefix byte(s), the key and a CRC-16 (XMODEM, little
// endian). The seed "SU...", the public key "U...".
struct Nkey {
  std::string seed, public_key;
};
Nkey make_nkey(uint8_t fill) {
  auto encode = [](std::vector<uint8_t> raw) {
    uint16_t crc = 0;
    for (uint8_t b : raw) {
      crc ^= static_cast<uint16_t>(b << 8);
      for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : crc << 1;
    }
    raw.push_back(static_cast<uint8_t>(crc & 0xff));
    raw.push_back(static_cast<uint8_t>(crc >> 8));
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::string out;
    uint32_t buf = 0;
    int bits = 0;
    for (uint8_t b : raw) {
      buf = (buf << 8) | b;
      bits += 8;
      while (bits >= 5) {
        out += alphabet[(buf >> (bits - 5)) & 31];
        bits -= 5;
      }
    }
    if (bits > 0) out += alphabet[(buf << (5 - bits)) & 31];
    return out;
  };
  std::vector<uint8_t> seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(fill + i * 7);
  std::vector<uint8_t> pub(32);
  EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  size_t len = pub.size();
  if (k == nullptr || EVP_PKEY_get_raw_public_key(k, pub.data(), &len) != 1) ADD_FAILURE() << "ed25519 key";
  EVP_PKEY_free(k);
  constexpr uint8_t kSeedPrefix = 18 << 3, kUserPrefix = 20 << 3;
  std::vector<uint8_t> s{static_cast<uint8_t>(kSeedPrefix | (kUserPrefix >> 5)),
                         static_cast<uint8_t>((kUserPrefix & 31) << 3)};
  s.insert(s.end(), seed.begin(), seed.end());
  std::vector<uint8_t> p{kUserPrefix};
  p.insert(p.end(), pub.begin(), pub.end());
  return {encode(s), encode(p)};
}

// NATS servers whose one user is an nkey (`authorization { users = [{
// nkey }] }`): the node signs the servers' nonce with the seed in
// nats_nkey_seed_file.
class ClusterNkeyTest : public ClusterCredentialsTest {
 protected:
  std::vector<std::string> nats_args() const override {
    const fs::path conf = tmp_.path / "nats-nkey.conf";
    write_file(conf, "authorization {\n  users = [ { nkey: \"" + make_nkey(1).public_key + "\" } ]\n}\n");
    secret_file(tmp_.path, "user.nk", make_nkey(1).seed);
    secret_file(tmp_.path, "other.nk", make_nkey(2).seed);
    return {"-c", conf.string()};
  }
  std::string nats_lines() const override {
    return "nats_nkey = \"" + make_nkey(1).public_key + "\"\nnats_nkey_seed_file = \"" +
           (tmp_.path / "user.nk").string() + "\"\n";
  }
};

TEST_F(ClusterNkeyTest, ANodeJoinsWithAnNkey) {
  ASSERT_EQ(make_nkey(1).seed.substr(0, 2), "SU");
  ASSERT_EQ(make_nkey(1).public_key.size(), 56u);
  // Another key's seed with this key's name: the signature does not verify.
  joins_and_refuses("nats_nkey = \"" + make_nkey(1).public_key + "\"\nnats_nkey_seed_file = \"" +
                        (tmp_.path / "other.nk").string() + "\"\n",
                    "the servers refused nkey " + make_nkey(1).public_key);
  for (uint8_t fill : {1, 2}) expect_no_secret_in_logs(make_nkey(fill).seed);
}

// The cluster file's credentials options, without servers: each bad file
// or combination is a clear error naming the option, never the secret.
TEST(ClusterUnitTest, CredentialFilesAreCheckedWhenTheFileIsRead) {
  TempDir tmp("cluster-credentials");
  const std::string base = "node_id = \"a\"\nnats = [\"nats://127.0.0.1:4222\"]\netcd = [\"http://127.0.0.1:2379\"]\n"
                           "nodes = [\"a\"]\n";
  auto read = [&](const std::string& extra) {
    write_file(tmp.path / "c.toml", base + extra);
    return cluster::read_cluster_options(tmp.path / "c.toml");
  };
  secret_file(tmp.path, "token", "s3cret-token-77");
  secret_file(tmp.path, "pw", "s3cret-pw-77");
  auto ok = read("nats_token_file = \"token\"\netcd_user = \"ragd\"\netcd_password_file = \"pw\"\n");
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(ok->nats_auth.token, "s3cret-token-77");
  EXPECT_EQ(ok->etcd_auth.password, "s3cret-pw-77");
  EXPECT_EQ(ok->nats_auth.token_file, fs::absolute(tmp.path / "token"));

  auto fails = [&](const std::string& extra, const std::string& says) {
    auto r = read(extra);
    EXPECT_FALSE(r.is_ok()) << extra;
    if (r.is_ok()) return;
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().to_string();
    EXPECT_EQ(r.status().message().find("s3cret"), std::string::npos) << r.status().to_string();
  };
  fails("nats_token_file = \"missing\"\n", "nats_token_file " + (tmp.path / "missing").string() + ": no such file");
  write_file(tmp.path / "empty", "\n\n");
  ::chmod((tmp.path / "empty").c_str(), 0600);
  fails("nats_token_file = \"empty\"\n", "nats_token_file " + (tmp.path / "empty").string() + ": the file is empty");
  write_file(tmp.path / "open", "s3cret-open\n");
  ::chmod((tmp.path / "open").c_str(), 0644);
  fails("etcd_user = \"u\"\netcd_password_file = \"open\"\n", "readable by others than its owner (chmod 600 it)");
  secret_file(tmp.path, "two", "s3cret-one\ns3cret-two");
  fails("nats_user = \"u\"\nnats_password_file = \"two\"\n", "more than one line");
  fails("nats_user = \"u\"\n", "nats_user and nats_password_file: both or neither");
  fails("etcd_password_file = \"pw\"\n", "etcd_user and etcd_password_file: both or neither");
  fails("nats_token_file = \"token\"\nnats_user = \"u\"\nnats_password_file = \"pw\"\n", "set one of");
  secret_file(tmp.path, "bad.creds", "s3cret-not-a-creds-file");
  fails("nats_creds_file = \"bad.creds\"\n", "not a NATS credentials file");
  fails("nats_creds_file = \"missing.creds\"\n", "nats_creds_file " + (tmp.path / "missing.creds").string());
  secret_file(tmp.path, "bad.nk", "s3cret-seed");
  const std::string nkey = "U" + std::string(55, 'A');
  fails("nats_nkey = \"" + nkey + "\"\nnats_nkey_seed_file = \"bad.nk\"\n", "not a user nkey seed");
  fails("nats_nkey = \"" + nkey + "\"\n", "nats_nkey and nats_nkey_seed_file: both or neither");
  fails("nats_nkey = \"Ushort\"\nnats_nkey_seed_file = \"bad.nk\"\n", "56 characters starting with U");
  // A well-formed creds file passes (libnats reads it at each connect).
  secret_file(tmp.path, "good.creds",
              "-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n\n"
              "-----BEGIN USER NKEY SEED-----\nSUAM\n------END USER NKEY SEED------");
  auto creds = read("nats_creds_file = \"good.creds\"\n");
  EXPECT_TRUE(creds.is_ok()) << creds.status().to_string();
}

}  // namespace
}  // namespace ragd::test
