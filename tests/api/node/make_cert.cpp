// ragd_api_test_cert DIR: writes DIR/cert.pem and DIR/key.pem, a self-signed
// certificate for localhost and 127.0.0.1 (tls_test_support.h), for the
// node clients' HTTPS run (node_tests.cmake).
#include <cstdio>

#include "tests/api/tls_test_support.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const std::string err = ragd::test::make_self_signed_cert(dir / "cert.pem", dir / "key.pem");
  if (!err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  return 0;
}
