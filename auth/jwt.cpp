#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "auth/crypto.h"
#include "ragd/clock.h"

namespace ragd::auth {

namespace {

using Json = nlohmann::json;

constexpr size_t kMaxJwksBytes = 1 << 20;
constexpr size_t kMaxClaimChars = 256;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

enum class Kty { kRsa, kEc };

struct Jwk {
  std::string kid;
  Kty kty = Kty::kRsa;
  PkeyPtr pkey;
};

std::string_view alg_of(Kty kty) { return kty == Kty::kRsa ? "RS256" : "ES256"; }

// Reads an optional string member; a member of another type is an error.
Result<std::optional<std::string>> optional_string(const Json& j, const char* name, const char* where) {
  auto it = j.find(name);
  if (it == j.end()) return std::optional<std::string>{};
  if (!it->is_string()) return Status::invalid_argument(std::string(where) + ": '" + name + "' is not a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> required_b64(const Json& j, const char* name, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return Status::invalid_argument(where + ": missing string '" + name + "'");
  }
  auto raw = base64url_decode(it->get<std::string>());
  if (!raw || raw->empty()) return Status::invalid_argument(where + ": '" + name + "' is not base64url");
  return std::move(raw).value();
}

// Builds a public key from OSSL_PARAMs with EVP_PKEY_fromdata.
Result<PkeyPtr> pkey_from_params(const char* type, OSSL_PARAM_BLD* bld, const std::string& where) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx) return Status::internal(where + ": OpenSSL could not allocate a key");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || raw == nullptr) {
    return Status::invalid_argument(where + ": not a valid public key");
  }
  PkeyPtr pkey(raw);
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return Status::invalid_argument(where + ": the public key fails OpenSSL's check");
  }
  return pkey;
}

Result<PkeyPtr> rsa_key(const Json& j, const std::string& where, int min_bits) {
  RAGD_ASSIGN_OR_RETURN(std::string n, required_b64(j, "n", where));
  RAGD_ASSIGN_OR_RETURN(std::string e, required_b64(j, "e", where));
  auto as_bn = [](const std::string& s) {
    return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()), nullptr));
  };
  if (n.size() > 2048 || e.size() > 8) return Status::invalid_argument(where + ": RSA n or e too large");
  BnPtr bn_n = as_bn(n), bn_e = as_bn(e);
  if (!bn_n || !bn_e) return Status::internal(where + ": OpenSSL could not allocate a number");
  if (BN_num_bits(bn_n.get()) < min_bits) {
    return Status::invalid_argument(where + ": RSA modulus shorter than " + std::to_string(min_bits) + " bits");
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return Status::internal(where + ": OpenSSL could not build the key parameters");
  }
  return pkey_from_params("RSA", bld.get(), where);
}

Result<PkeyPtr> ec_key(const Json& j, const std::string& where) {
  auto crv = j.find("crv");
  if (crv == j.end() || !crv->is_string() || crv->get<std::string>() != "P-256") {
    return Status::invalid_argument(where + ": only EC keys on crv P-256 are supported");
  }
  RAGD_ASSIGN_OR_RETURN(std::string x, required_b64(j, "x", where));
  RAGD_ASSIGN_OR_RETURN(std::string y, required_b64(j, "y", where));
  if (x.size() != 32 || y.size() != 32) return Status::invalid_argument(where + ": P-256 x and y are 32 bytes");
  std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return Status::internal(where + ": OpenSSL could not build the key parameters");
  }
  return pkey_from_params("EC", bld.get(), where);
}

// JOSE carries an ES256 signature as r || s, 32 bytes each; OpenSSL wants
// the DER SEQUENCE { INTEGER r, INTEGER s }.
Result<std::string> es256_to_der(std::string_view raw) {
  if (raw.size() != 64) return unauthenticated("ES256 signature is not 64 bytes");
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {  // set0 owns r and s on success
    BN_free(r);
    BN_free(s);
    return Status::internal("OpenSSL could not allocate a signature");
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return Status::internal("OpenSSL could not encode a signature");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

Result<Json> parse_part(std::string_view b64, const char* what) {
  auto raw = base64url_decode(b64);
  if (!raw) return unauthenticated(std::string("token ") + what + " is not base64url");
  Json j = Json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return unauthenticated(std::string("token ") + what + " is not a JSON object");
  return j;
}

// A NumericDate claim as whole seconds; kNotFound when absent.
Result<int64_t> numeric_date(const Json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return Status::not_found(name);
  if (!it->is_number()) return unauthenticated(std::string("claim '") + name + "' is not a number");
  double v = it->get<double>();
  if (!std::isfinite(v) || v < -1e15 || v > 1e15) return unauthenticated(std::string("claim '") + name + "' is out of range");
  return static_cast<int64_t>(std::floor(v));
}

// A claim that is a string or an array of strings, as a list.
Result<std::vector<std::string>> string_list(const Json& claims, const std::string& name, size_t max) {
  std::vector<std::string> out;
  auto it = claims.find(name);
  if (it == claims.end() || it->is_null()) return out;
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    if (it->size() > max) return unauthenticated("claim '" + name + "' has more than " + std::to_string(max) + " values");
    for (const auto& v : *it) {
      if (!v.is_string()) return unauthenticated("claim '" + name + "' holds a value that is not a string");
      out.push_back(v.get<std::string>());
    }
  } else {
    return unauthenticated("claim '" + name + "' is neither a string nor an array of strings");
  }
  for (const auto& v : out) {
    if (v.size() > kMaxClaimChars) return unauthenticated("claim '" + name + "' holds an over-long value");
  }
  return out;
}

}  // namespace

struct JwtVerifier::Impl {
  JwtOptions options;
  std::vector<Jwk> keys;

  Status verify_signature(const Jwk& key, std::string_view signing_input, std::string_view sig) const {
    std::string der;
    if (key.kty == Kty::kEc) {
      RAGD_ASSIGN_OR_RETURN(der, es256_to_der(sig));
      sig = der;
    }
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) != 1) {
      return Status::internal("OpenSSL could not start a signature check");
    }
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                              reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
    if (rc != 1) return unauthenticated("bad token signature");
    return Status::ok();
  }
};

JwtVerifier::JwtVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JwtVerifier::~JwtVerifier() = default;

size_t JwtVerifier::key_count() const { return impl_->keys.size(); }

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::from_jwks(std::string_view jwks_json, JwtOptions options) {
  if (options.issuer.empty()) return Status::invalid_argument("JWT: the issuer option is required");
  if (options.audience.empty()) return Status::invalid_argument("JWT: the audience option is required");
  if (options.leeway_seconds < 0) return Status::invalid_argument("JWT: leeway_seconds must not be negative");
  if (options.max_token_bytes == 0) return Status::invalid_argument("JWT: max_token_bytes must be positive");
  if (options.name_claim.empty()) return Status::invalid_argument("JWT: name_claim must not be empty");
  if (jwks_json.size() > kMaxJwksBytes) return Status::invalid_argument("JWKS: larger than 1 MiB");
  Json j = Json::parse(jwks_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::invalid_argument("JWKS: not a JSON object");
  auto keys = j.find("keys");
  if (keys == j.end() || !keys->is_array()) return Status::invalid_argument("JWKS: missing array 'keys'");

  auto impl = std::make_unique<Impl>();
  for (size_t i = 0; i < keys->size(); ++i) {
    const Json& k = (*keys)[i];
    std::string where = "JWKS key " + std::to_string(i);
    if (!k.is_object()) return Status::invalid_argument(where + ": not an object");
    RAGD_ASSIGN_OR_RETURN(auto kty, optional_string(k, "kty", where.c_str()));
    RAGD_ASSIGN_OR_RETURN(auto use, optional_string(k, "use", where.c_str()));
    RAGD_ASSIGN_OR_RETURN(auto alg, optional_string(k, "alg", where.c_str()));
    RAGD_ASSIGN_OR_RETURN(auto kid, optional_string(k, "kid", where.c_str()));
    if (!kty) return Status::invalid_argument(where + ": missing 'kty'");
    if (use && *use != "sig") continue;
    Jwk jwk;
    jwk.kid = kid.value_or("");
    if (!jwk.kid.empty()) where += " (kid " + jwk.kid.substr(0, 64) + ")";
    if (*kty == "RSA") {
      jwk.kty = Kty::kRsa;
    } else if (*kty == "EC") {
      jwk.kty = Kty::kEc;
    } else {
      continue;  // "oct" (shared secrets) and key types we do not verify
    }
    if (alg && *alg != alg_of(jwk.kty)) continue;  // e.g. an RS512 or PS256 key
    if (jwk.kty == Kty::kRsa) {
      RAGD_ASSIGN_OR_RETURN(jwk.pkey, rsa_key(k, where, options.min_rsa_bits));
    } else {
      RAGD_ASSIGN_OR_RETURN(jwk.pkey, ec_key(k, where));
    }
    for (const auto& other : impl->keys) {
      if (other.kid == jwk.kid) return Status::invalid_argument(where + ": duplicate kid");
    }
    impl->keys.push_back(std::move(jwk));
  }
  if (impl->keys.empty()) return Status::invalid_argument("JWKS: no RS256 or ES256 signing key");
  if (impl->keys.size() > 1) {
    for (const auto& k : impl->keys) {
      if (k.kid.empty()) return Status::invalid_argument("JWKS: every key needs a kid when there are several");
    }
  }
  impl->options = std::move(options);
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(impl)));
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::load(const std::string& jwks_path, JwtOptions options) {
  std::ifstream in(jwks_path, std::ios::binary);
  if (!in) return Status::io_error("cannot read the JWKS file named in the configuration");
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxJwksBytes) return Status::invalid_argument("JWKS: larger than 1 MiB");
  }
  return from_jwks(data, std::move(options));
}

Result<JwtClaims> JwtVerifier::verify(std::string_view token) const {
  return verify(token, unix_seconds());
}

Result<JwtClaims> JwtVerifier::verify(std::string_view token, int64_t now) const {
  const JwtOptions& opt = impl_->options;
  if (token.size() > opt.max_token_bytes) return unauthenticated("token longer than max_token_bytes");
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return unauthenticated("token is not a compact JWS (three base64url parts)");
  }
  std::string_view header_b64 = token.substr(0, dot1);
  std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view sig_b64 = token.substr(dot2 + 1);

  RAGD_ASSIGN_OR_RETURN(Json header, parse_part(header_b64, "header"));
  JwtClaims out;
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return unauthenticated("token header has no 'alg'");
  out.alg = alg->get<std::string>();
  if (out.alg == "none" || out.alg == "None" || out.alg == "NONE") {
    return unauthenticated("unsigned tokens (alg none) are not accepted");
  }
  if (out.alg.rfind("HS", 0) == 0) {
    return unauthenticated("shared-secret algorithms (" + out.alg.substr(0, 8) + ") are not accepted");
  }
  if (out.alg != "RS256" && out.alg != "ES256") return unauthenticated("unsupported alg (expected RS256 or ES256)");
  if (header.contains("crit")) return unauthenticated("token header has 'crit' extensions, which are not supported");
  auto kid = header.find("kid");
  if (kid != header.end() && !kid->is_string()) return unauthenticated("token header 'kid' is not a string");

  const Jwk* key = nullptr;
  if (kid != header.end()) {
    out.kid = kid->get<std::string>();
    for (const auto& k : impl_->keys) {
      if (k.kid == out.kid) key = &k;
    }
    if (!key) return unauthenticated("unknown kid: no such key in the JWKS");
  } else {
    if (impl_->keys.size() != 1) return unauthenticated("token has no kid and the JWKS has several keys");
    key = &impl_->keys.front();
  }
  if (alg_of(key->kty) != out.alg) return unauthenticated("token alg does not match its key's type");

  auto sig = base64url_decode(sig_b64);
  if (!sig || sig->empty()) return unauthenticated("token signature is missing or not base64url");
  std::string_view signing_input = token.substr(0, dot2);
  RAGD_RETURN_IF_ERROR(impl_->verify_signature(*key, signing_input, *sig));

  // Only a correctly signed payload reaches the claim checks.
  RAGD_ASSIGN_OR_RETURN(Json claims, parse_part(payload_b64, "payload"));
  auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() || iss->get<std::string>() != opt.issuer) {
    return unauthenticated("token issuer is not the configured one");
  }
  auto aud = claims.find("aud");
  bool aud_ok = false;
  if (aud != claims.end() && aud->is_string()) {
    aud_ok = aud->get<std::string>() == opt.audience;
  } else if (aud != claims.end() && aud->is_array()) {
    aud_ok = std::any_of(aud->begin(), aud->end(),
                         [&](const Json& a) { return a.is_string() && a.get<std::string>() == opt.audience; });
  }
  if (!aud_ok) return unauthenticated("token audience does not include the configured one");
  auto exp = numeric_date(claims, "exp");
  if (!exp) {
    return exp.status().code() == StatusCode::kNotFound ? unauthenticated("token has no 'exp' claim") : exp.status();
  }
  if (now >= *exp + opt.leeway_seconds) return unauthenticated("token has expired");
  out.expires = *exp;
  auto nbf = numeric_date(claims, "nbf");
  if (!nbf && nbf.status().code() != StatusCode::kNotFound) return nbf.status();
  if (nbf && now + opt.leeway_seconds < *nbf) return unauthenticated("token is not valid yet (nbf)");

  auto name = claims.find(opt.name_claim);
  if (name == claims.end() || !name->is_string() || name->get<std::string>().empty() ||
      name->get<std::string>().size() > kMaxClaimChars) {
    return unauthenticated("token has no usable '" + opt.name_claim + "' claim");
  }
  Principal& p = out.principal;
  p.name = name->get<std::string>();
  p.via = Via::kJwt;
  if (!opt.groups_claim.empty()) {
    RAGD_ASSIGN_OR_RETURN(p.groups, string_list(claims, opt.groups_claim, opt.max_groups));
    p.groups.erase(std::remove(p.groups.begin(), p.groups.end(), std::string()), p.groups.end());
    std::sort(p.groups.begin(), p.groups.end());
    p.groups.erase(std::unique(p.groups.begin(), p.groups.end()), p.groups.end());
  }
  p.role = opt.default_role;
  if (!opt.role_claim.empty()) {
    RAGD_ASSIGN_OR_RETURN(auto roles, string_list(claims, opt.role_claim, opt.max_groups));
    bool found = false;
    for (const auto& r : roles) {
      auto parsed = parse_role(r);
      if (!parsed) continue;
      if (!found || static_cast<int>(*parsed) > static_cast<int>(p.role)) p.role = *parsed;
      found = true;
    }
  }
  if (!opt.collection_claim.empty()) {
    auto c = claims.find(opt.collection_claim);
    if (c != claims.end() && !c->is_null()) {
      if (!c->is_string() || c->get<std::string>().size() > kMaxClaimChars) {
        return unauthenticated("claim '" + opt.collection_claim + "' is not a short string");
      }
      p.collection = c->get<std::string>();
    }
  }
  return out;
}

}  // namespace ragd::auth
