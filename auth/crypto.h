// Small OpenSSL helpers shared by the key store and the JWT verifier. Only
// auth/ sees OpenSSL; these functions take and return plain bytes.
// All of them are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ragd/status.h"

namespace ragd::auth {

// RFC 4648 section 5 without padding.
std::string base64url_encode(std::string_view bytes);
// Strict: rejects '=', '+', '/', whitespace, a length of 4k+1, and non-zero
// unused bits in the last character, so each byte string has one encoding.
Result<std::string> base64url_decode(std::string_view text);

// `n` bytes from OpenSSL's CSPRNG (RAND_bytes); kInternal if it fails.
Result<std::string> random_bytes(size_t n);

// SHA-256 of `data`, 32 raw bytes.
std::string sha256(std::string_view data);

// SHA-256 of a file's bytes as 64 lower-case hex digits, read in 1 MiB
// pieces (model files run to gigabytes). Errors: kNotFound / kIoError.
Result<std::string> sha256_file_hex(const std::string& path);

// SHA-256(salt || secret) without copying the secret.
std::string salted_sha256(std::string_view salt, std::string_view secret);

// HMAC-SHA256(key, data), 32 raw bytes (OpenSSL's HMAC); for webhook
// signatures (sync/webhook.cpp).
std::string hmac_sha256(std::string_view key, std::string_view data);

// Lower-case hex of raw bytes.
std::string hex_encode(std::string_view bytes);

// RFC 4648 section 4 (the standard alphabet, with '=' padding), as Zendesk
// writes its webhook signatures.
std::string base64_encode(std::string_view bytes);
// Its inverse; kInvalidArgument for anything else.
Result<std::string> base64_decode(std::string_view text);

// Constant-time equality for equal-length inputs (CRYPTO_memcmp); false
// when the lengths differ, which leaks only the length.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace ragd::auth
