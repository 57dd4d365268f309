// TLS for the api tests: a self-signed certificate made with the OpenSSL 3
// API (an EC P-256 key, SAN localhost and 127.0.0.1), and a blocking HTTPS
// client over POSIX sockets that verifies the server against that
// certificate. Used by tls_http_test.cpp and node/make_cert.cpp.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace ragd::test {

inline std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "no OpenSSL error" : out;
}

// The authority that signs a certificate make_cert() writes: its PEM
// certificate and private key.
struct CertIssuer {
  std::filesystem::path cert_file, key_file;
};

// Writes a certificate (valid from a minute ago for a day, SAN localhost
// and 127.0.0.1) and its private key as PEM: signed by `issuer`, or by
// itself when null; an authority (CA:TRUE, may sign certificates) with
// `ca`. `key_usage`: its extended key usage ("serverAuth", "clientAuth",
// both comma-separated, or "" for none). Returns "" on success, else what
// failed.
inline std::string make_cert(const std::filesystem::path& cert_file, const std::filesystem::path& key_file,
                             const std::string& common_name, const std::string& key_usage, const CertIssuer* issuer,
                             bool ca) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return "EVP_EC_gen: " + openssl_errors();
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  if (!x) return "X509_new: " + openssl_errors();
  std::unique_ptr<X509, decltype(&X509_free)> issuer_cert(nullptr, X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> issuer_key(nullptr, EVP_PKEY_free);
  if (issuer != nullptr) {
    FILE* f = std::fopen(issuer->cert_file.c_str(), "rb");
    if (f == nullptr) return "cannot read " + issuer->cert_file.string();
    issuer_cert.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    f = std::fopen(issuer->key_file.c_str(), "rb");
    if (f == nullptr) return "cannot read " + issuer->key_file.string();
    issuer_key.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (!issuer_cert || !issuer_key) return "reading the issuer: " + openssl_errors();
  }
  X509_set_version(x.get(), 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer_cert ? X509_get_subject_name(issuer_cert.get()) : name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer_cert ? issuer_cert.get() : x.get(), x.get(), nullptr, nullptr, 0);
  std::vector<std::pair<const char*, std::string>> exts = {
      {"basicConstraints", ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
      {"subjectKeyIdentifier", "hash"},
      {"authorityKeyIdentifier", "keyid:always"},
      {"keyUsage", ca ? "critical,digitalSignature,keyCertSign" : "critical,digitalSignature"},
      {"subjectAltName", "DNS:localhost,IP:127.0.0.1"},
  };
  if (!key_usage.empty()) exts.emplace_back("extendedKeyUsage", key_usage);
  for (const auto& [n, v] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf(nullptr, &v3, n, v.c_str());
    if (ext == nullptr) return std::string("extension ") + n + ": " + openssl_errors();
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x.get(), issuer_key ? issuer_key.get() : key.get(), EVP_sha256()) == 0) {
    return "X509_sign: " + openssl_errors();
  }
  std::filesystem::create_directories(cert_file.parent_path());
  FILE* cf = std::fopen(cert_file.c_str(), "wb");
  if (cf == nullptr) return "cannot write " + cert_file.string();
  const bool cert_ok = PEM_write_X509(cf, x.get()) == 1;
  std::fclose(cf);
  FILE* kf = std::fopen(key_file.c_str(), "wb");
  if (kf == nullptr) return "cannot write " + key_file.string();
  const bool key_ok = PEM_write_PrivateKey(kf, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(kf);
  if (!cert_ok || !key_ok) return "PEM_write: " + openssl_errors();
  return "";
}

// A self-signed server certificate that is its own authority (CN
// `common_name`, SAN localhost and 127.0.0.1) and its private key.
inline std::string make_self_signed_cert(const std::filesystem::path& cert_file,
                                         const std::filesystem::path& key_file,
                                         const std::string& common_name = "localhost") {
  return make_cert(cert_file, key_file, common_name, "serverAuth", nullptr, true);
}

}  // namespace ragd::test
