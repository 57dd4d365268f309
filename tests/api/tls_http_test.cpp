// `ragd serve --tls-cert --tls-key` over real loopback sockets, with a
// certificate the test makes (tls_test_support.h) and an OpenSSL client that
// verifies it: ingest and search over HTTPS, API keys over HTTPS (401 without
// one), a plain-HTTP client and a TLS 1.1 client refused without harming the
// server, a client that trusts another certificate refused by its own check,
// clear start-up errors for bad certificate and key files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/api/test_support.h"
#include "tests/api/tls_test_support.h"

namespace ragd::test {
namespace {

using Json = nlohmann::json;

struct HttpsOptions {
  fs::path ca;           // the only trusted certificate
  int max_version = 0;   // e.g. TLS1_1_VERSION to offer an old protocol; 0 = OpenSSL's default
  std::vector<std::string> headers;
  std::string content_type = "application/json";
};

HttpsOptions trusting(const fs::path& ca) {
  HttpsOptions o;
  o.ca = ca;
  return o;
}

struct HttpsResult {
  HttpResult http;
  std::string handshake_error;  // set when the TLS handshake failed
  std::string version;          // the negotiated protocol ("TLSv1.3")
};

// One request over TLS (Connection: close), verifying the server's
// certificate chain against `o.ca` and its address against 127.0.0.1.
HttpsResult https_request(uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body, const HttpsOptions& o) {
  HttpsResult r;
  int fd = connect_loopback(port, 30);
  if (fd < 0) {
    r.handshake_error = std::string("connect: ") + std::strerror(errno);
    return r;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr) != 1) {
    r.handshake_error = "cannot load " + o.ca.string() + ": " + openssl_errors();
  }
  if (o.max_version != 0) {
    // OpenSSL 3's default security level forbids TLS < 1.2 on the client
    // too; level 0 lets this client offer it, so the refusal is the server's.
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, o.max_version);
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  if (r.handshake_error.empty() && SSL_connect(ssl) != 1) {
    long verify = SSL_get_verify_result(ssl);
    r.handshake_error = openssl_errors();
    if (verify != X509_V_OK) r.handshake_error += std::string(" (verify: ") + X509_verify_cert_error_string(verify) + ")";
  }
  if (r.handshake_error.empty()) {
    r.version = SSL_get_version(ssl);
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    if (!body.empty() || method == "POST") {
      req += "Content-Type: " + o.content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    for (const auto& h : o.headers) req += h + "\r\n";
    req += "\r\n" + body;
    size_t off = 0;
    while (off < req.size()) {
      int n = SSL_write(ssl, req.data() + off, static_cast<int>(std::min<size_t>(req.size() - off, 1 << 20)));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    std::string raw;
    char buf[65536];
    for (;;) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      raw.append(buf, static_cast<size_t>(n));
    }
    r.http = parse_response(raw);
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return r;
}

class TlsHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("tls");
    data_ = dir_->path / "data";
    fs::create_directories(data_);
    cert_ = dir_->path / "tls" / "cert.pem";
    key_ = dir_->path / "tls" / "key.pem";
    ASSERT_EQ(make_self_signed_cert(cert_, key_), "");
    glove_ = dir_->path / "glove.bin";
    make_tiny_glove(glove_, {"printer vpn password restart service fix problem toner jam"});
  }

  std::unique_ptr<ServerProcess> start_tls(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--tls-cert", cert_.string(), "--tls-key", key_.string()});
    auto server = std::make_unique<ServerProcess>(data_, glove_, extra);
    const fs::path ca = cert_;
    server->set_ready_probe([ca](uint16_t port) {
      return https_request(port, "GET", "/healthz", "", trusting(ca)).http.status == 200;
    });
    if (!server->start()) {
      ADD_FAILURE() << "ragd serve with TLS did not start:\n" << server->log();
      return nullptr;
    }
    return server;
  }

  std::unique_ptr<TempDir> dir_;
  fs::path data_, cert_, key_, glove_;
};

TEST_F(TlsHttp, IngestAndSearchOverVerifiedTls) {
  auto server = start_tls();
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  HttpsOptions o = trusting(cert_);
  Json docs = {{"documents",
                {{{"id", "kb/printer.md"}, {"title", "Printer"}, {"text", "Fix the printer toner jam: restart the printer service."}},
                 {{"id", "kb/vpn.md"}, {"title", "VPN"}, {"text", "Reset the VPN password and restart the client."}}}}};
  HttpsResult ing = https_request(port, "POST", "/v1/documents", docs.dump(), o);
  ASSERT_EQ(ing.handshake_error, "");
  ASSERT_EQ(ing.http.status, 200) << ing.http.body;
  // TLS 1.3 when both ends can, never below 1.2.
  EXPECT_TRUE(ing.version == "TLSv1.3" || ing.version == "TLSv1.2") << ing.version;

  HttpsResult s = https_request(port, "POST", "/v1/search", R"({"query":"printer toner jam","k":2,"mode":"lexical"})", o);
  ASSERT_EQ(s.http.status, 200) << s.handshake_error << s.http.body;
  Json hits = Json::parse(s.http.body)["hits"];
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["doc_id"], "kb/printer.md");

  // The response carries the request id over TLS too.
  EXPECT_FALSE(s.http.headers["x-request-id"].empty());

  // A client that trusts another certificate refuses this server: the
  // certificate really is checked.
  fs::path other_cert = dir_->path / "other" / "cert.pem";
  ASSERT_EQ(make_self_signed_cert(other_cert, dir_->path / "other" / "key.pem"), "");
  HttpsResult wrong = https_request(port, "GET", "/healthz", "", trusting(other_cert));
  EXPECT_NE(wrong.handshake_error, "");
  EXPECT_NE(wrong.handshake_error.find("certificate"), std::string::npos) << wrong.handshake_error;
  EXPECT_EQ(wrong.http.status, 0);

  EXPECT_EQ(server->stop(), 0) << server->log();
}

TEST_F(TlsHttp, PlainHttpAndOldTlsAreRefusedCleanly) {
  auto server = start_tls();
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  // Plain HTTP on the TLS port: no HTTP answer, the connection ends (it
  // must not hang until the client's timeout).
  const auto t0 = std::chrono::steady_clock::now();
  int fd = connect_loopback(port, 20);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::string raw = read_all(fd);
  ::close(fd);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(raw.find("HTTP/1.1 200"), std::string::npos) << raw;

  // TLS 1.1 offered by the client: the handshake fails.
  HttpsOptions old = trusting(cert_);
  old.max_version = TLS1_1_VERSION;
  HttpsResult r11 = https_request(port, "GET", "/healthz", "", old);
  EXPECT_NE(r11.handshake_error, "");
  EXPECT_EQ(r11.http.status, 0);

  // Garbage and an immediate close: nothing either.
  fd = connect_loopback(port, 20);
  ASSERT_GE(fd, 0);
  send_all(fd, std::string(300, '\x16'));
  ::close(fd);
  fd = connect_loopback(port, 20);
  ::close(fd);

  // The server is unharmed: a good client still gets answers, repeatedly.
  for (int i = 0; i < 5; ++i) {
    HttpsResult ok = https_request(port, "GET", "/healthz", "", trusting(cert_));
    ASSERT_EQ(ok.handshake_error, "");
    EXPECT_EQ(ok.http.status, 200);
  }
  EXPECT_EQ(server->stop(), 0) << server->log();
}

TEST_F(TlsHttp, ApiKeysOverTls) {
  std::string out;
  ASSERT_EQ(run_ragd({"keys", "create", "--data", data_.string(), "--name", "r1", "--role", "reader"}, &out), 0) << out;
  const std::string secret = out.substr(0, out.find('\n'));
  auto server = start_tls();
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  const std::string query = R"({"query":"printer","k":1})";
  HttpsResult none = https_request(port, "POST", "/v1/search", query, trusting(cert_));
  EXPECT_EQ(none.http.status, 401) << none.handshake_error << none.http.body;
  HttpsOptions bad = trusting(cert_);
  bad.headers = {"Authorization: Bearer ragd_not_a_real_key_0000000000000000000000000"};
  EXPECT_EQ(https_request(port, "POST", "/v1/search", query, bad).http.status, 401);
  HttpsOptions good = trusting(cert_);
  good.headers = {"Authorization: Bearer " + secret};
  HttpsResult ok = https_request(port, "POST", "/v1/search", query, good);
  EXPECT_EQ(ok.http.status, 200) << ok.http.body;
  EXPECT_EQ(server->stop(), 0) << server->log();
}

TEST_F(TlsHttp, BadCertificateOrKeyStopsStartWithAClearError) {
  auto serve = [&](const fs::path& cert, const fs::path& key, std::string* out) {
    return run_ragd({"serve", "--listen", "127.0.0.1:0", "--data", data_.string(), "--glove", glove_.string(),
                     "--tls-cert", cert.string(), "--tls-key", key.string()},
                    out);
  };
  std::string out;
  EXPECT_NE(serve(dir_->path / "missing.pem", key_, &out), 0);
  EXPECT_NE(out.find("--tls-cert"), std::string::npos) << out;
  EXPECT_NE(out.find("missing.pem"), std::string::npos) << out;

  fs::path garbage = dir_->path / "garbage.pem";
  write_file(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  EXPECT_NE(serve(garbage, key_, &out), 0);
  EXPECT_NE(out.find("--tls-cert"), std::string::npos) << out;

  EXPECT_NE(serve(cert_, garbage, &out), 0);
  EXPECT_NE(out.find("--tls-key"), std::string::npos) << out;

  // A valid key that belongs to another certificate.
  fs::path other_key = dir_->path / "other" / "key.pem";
  ASSERT_EQ(make_self_signed_cert(dir_->path / "other" / "cert.pem", other_key), "");
  EXPECT_NE(serve(cert_, other_key, &out), 0);
  EXPECT_NE(out.find("does not match"), std::string::npos) << out;

  // Only one of the two.
  EXPECT_NE(run_ragd({"serve", "--listen", "127.0.0.1:0", "--data", data_.string(), "--glove", glove_.string(),
                      "--tls-cert", cert_.string()},
                     &out),
            0);
  EXPECT_NE(out.find("both --tls-cert and --tls-key"), std::string::npos) << out;
}

TEST_F(TlsHttp, NonLoopbackWithoutTlsWarns) {
  const fs::path port_file = dir_->path / "any.port", log = dir_->path / "any.log";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<std::string> all{ragd_binary(), "serve", "--listen", "0.0.0.0:0", "--port-file", port_file.string(),
                                 "--data", data_.string(), "--glove", glove_.string(), "--insecure-no-auth"};
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  for (int i = 0; i < 3000 && !fs::exists(port_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(fs::exists(port_file)) << read_file(log);
  ::kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_NE(read_file(log).find("without TLS"), std::string::npos) << read_file(log);
}

}  // namespace
}  // namespace ragd::test
