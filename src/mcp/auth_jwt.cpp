#include "mcp/auth_jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <cctype>
#include <climits>
#include <optional>

#include <fmt/format.h>

#include "core/crypto.hpp"

namespace wasimancer::mcp {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

}  // namespace

struct JwkSet::Key {
  std::string kid;
  std::string kty;  // RSA, EC, OKP
  std::string alg;  // the "alg" member when given (the key is then for that algorithm only)
  std::string crv;  // EC / OKP curve
  Pkey pkey;
};

bool base64url_decode(std::string_view text, std::string& out) {
  std::string b64;
  b64.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '-') b64.push_back('+');
    else if (c == '_') b64.push_back('/');
    else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) b64.push_back(c);
    else return false;  // '+', '/', '=' and whitespace are not base64url
  }
  if (b64.size() % 4 == 1) return false;
  while (b64.size() % 4 != 0) b64.push_back('=');
  return base64_decode(b64, out);
}

std::string base64url_encode(std::string_view data) {
  std::string s = base64_encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return s;
}

namespace {

std::string member(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool member_bytes(const json::object& o, std::string_view name, std::string& out) {
  const json::value* v = o.if_contains(name);
  return v && v->is_string() && base64url_decode(v->as_string(), out) && !out.empty();
}

Pkey rsa_key(const json::object& jwk) {
  std::string n, e;
  if (!member_bytes(jwk, "n", n) || !member_bytes(jwk, "e", e)) return nullptr;
  if (n.size() < 256) return nullptr;  // under 2048 bits: refused (RFC 7518 §3.3)
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  EVP_PKEY* key = nullptr;
  if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) && (params = OSSL_PARAM_BLD_to_param(bld)) &&
      (ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)) && EVP_PKEY_fromdata_init(ctx) > 0) {
    if (EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) key = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return Pkey(key);
}

// Field size in bytes and OpenSSL group name of a JOSE curve; 0 when unsupported.
size_t ec_curve(std::string_view crv, const char** group) {
  if (crv == "P-256") { *group = "prime256v1"; return 32; }
  if (crv == "P-384") { *group = "secp384r1"; return 48; }
  if (crv == "P-521") { *group = "secp521r1"; return 66; }
  return 0;
}

Pkey ec_key(const json::object& jwk, const std::string& crv) {
  const char* group = nullptr;
  size_t size = ec_curve(crv, &group);
  std::string x, y;
  if (!size || !member_bytes(jwk, "x", x) || !member_bytes(jwk, "y", y) || x.size() != size || y.size() != size) return nullptr;
  std::string point = "\x04" + x + y;  // uncompressed point
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  if (ctx && EVP_PKEY_fromdata_init(ctx) > 0 && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) key = nullptr;
  EVP_PKEY_CTX_free(ctx);
  if (!key) return nullptr;
  // fromdata does not check that the point is on the curve: do it, or a crafted key could
  // make verification meaningless.
  Pkey owned(key);
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  bool on_curve = check && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  return on_curve ? std::move(owned) : nullptr;
}

Pkey okp_key(const json::object& jwk, const std::string& crv) {
  std::string x;
  if (crv != "Ed25519" || !member_bytes(jwk, "x", x) || x.size() != 32) return nullptr;
  return Pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
}

// The key type, curve and digest an algorithm needs; false for refused algorithms.
struct AlgSpec {
  const char* kty;
  const char* crv;      // EC/OKP only
  const EVP_MD* md;     // null for EdDSA
  bool pss;
  size_t ec_size;       // bytes of r and of s in a JOSE ECDSA signature
};

bool alg_spec(std::string_view alg, AlgSpec& s) {
  if (alg == "RS256") s = {"RSA", "", EVP_sha256(), false, 0};
  else if (alg == "RS384") s = {"RSA", "", EVP_sha384(), false, 0};
  else if (alg == "RS512") s = {"RSA", "", EVP_sha512(), false, 0};
  else if (alg == "PS256") s = {"RSA", "", EVP_sha256(), true, 0};
  else if (alg == "PS384") s = {"RSA", "", EVP_sha384(), true, 0};
  else if (alg == "PS512") s = {"RSA", "", EVP_sha512(), true, 0};
  else if (alg == "ES256") s = {"EC", "P-256", EVP_sha256(), false, 32};
  else if (alg == "ES384") s = {"EC", "P-384", EVP_sha384(), false, 48};
  else if (alg == "ES512") s = {"EC", "P-521", EVP_sha512(), false, 66};
  else if (alg == "EdDSA") s = {"OKP", "Ed25519", nullptr, false, 0};
  else return false;
  return true;
}

bool key_fits(const JwkSet::Key& k, std::string_view alg) {
  AlgSpec s;
  if (!alg_spec(alg, s) || k.kty != s.kty) return false;
  if (!k.alg.empty() && k.alg != alg) return false;
  return k.kty == "RSA" || k.crv == s.crv;
}

// JOSE ECDSA signatures are r || s; OpenSSL wants DER.
bool ecdsa_der(std::string_view raw, size_t size, std::string& der) {
  if (raw.size() != 2 * size) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(size), nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + size), static_cast<int>(size), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* out = nullptr;
  int n = i2d_ECDSA_SIG(sig, &out);
  ECDSA_SIG_free(sig);  // frees r and s
  if (n <= 0) return false;
  der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  return true;
}

bool verify_signature(const JwkSet::Key& key, std::string_view alg, std::string_view signed_part, std::string_view sig) {
  AlgSpec s;
  if (!alg_spec(alg, s)) return false;
  std::string der;
  if (s.ec_size) {
    if (!ecdsa_der(sig, s.ec_size, der)) return false;
    sig = der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, s.md, nullptr, key.pkey.get()) == 1;
  if (ok && s.pss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                              reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

// A NumericDate claim (integer or fractional seconds).
std::optional<int64_t> numeric_date(const json::object& claims, std::string_view name) {
  const json::value* v = claims.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() < (1ull << 62)) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double() && v->as_double() > -1e15 && v->as_double() < 1e15) return static_cast<int64_t>(v->as_double());
  return INT64_MIN;  // present but not a number
}

}  // namespace

Result<JwkSet> JwkSet::parse(std::string_view document) {
  auto doc = parse_object(document);
  const json::value* keys = doc ? doc->if_contains("keys") : nullptr;
  if (!keys || !keys->is_array()) return Error(ErrorKind::InvalidArgument, "not a JWK set (a JSON object with a \"keys\" array)");
  JwkSet set;
  for (const auto& v : keys->as_array()) {
    if (!v.is_object()) continue;
    const auto& jwk = v.as_object();
    auto k = std::make_shared<Key>();
    k->kid = member(jwk, "kid");
    k->kty = member(jwk, "kty");
    k->alg = member(jwk, "alg");
    k->crv = member(jwk, "crv");
    if (member(jwk, "use") == "enc") continue;
    if (k->kty == "RSA") k->pkey = rsa_key(jwk);
    else if (k->kty == "EC") k->pkey = ec_key(jwk, k->crv);
    else if (k->kty == "OKP") k->pkey = okp_key(jwk, k->crv);
    if (k->pkey) set.keys_.push_back(std::move(k));
  }
  return set;
}

const JwkSet::Key* JwkSet::find(std::string_view kid, std::string_view alg) const {
  const Key* only = nullptr;
  size_t fitting = 0;
  for (const auto& k : keys_) {
    if (!key_fits(*k, alg)) continue;
    if (!kid.empty() && k->kid == kid) return k.get();
    ++fitting;
    only = k.get();
  }
  return kid.empty() && fitting == 1 ? only : nullptr;
}

JwtCheck check_access_token(std::string_view token, const JwkSet& keys, const JwtExpectations& expect) {
  JwtCheck r;
  auto fail = [&r](JwtCheck::Status s, std::string why) {
    r.status = s;
    r.reason = std::move(why);
    r.claims.clear();
    return r;
  };
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return fail(JwtCheck::Status::Malformed, "the token is not a JWT (three base64url parts)");
  }
  std::string header_text, payload_text, sig;
  if (!base64url_decode(token.substr(0, d1), header_text) || !base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), payload_text) ||
      !base64url_decode(token.substr(d2 + 1), sig)) {
    return fail(JwtCheck::Status::Malformed, "the token is not a JWT (bad base64url)");
  }
  auto header = parse_object(header_text);
  auto claims = parse_object(payload_text);
  if (!header || !claims) return fail(JwtCheck::Status::Malformed, "the token is not a JWT (header or payload is not a JSON object)");

  std::string alg = member(*header, "alg");
  AlgSpec spec;
  if (!alg_spec(alg, spec)) return fail(JwtCheck::Status::BadSignature, fmt::format("the token's algorithm \"{}\" is not accepted", alg.substr(0, 20)));
  if (header->contains("crit")) return fail(JwtCheck::Status::BadSignature, "the token has critical header extensions this server does not implement");
  const JwkSet::Key* key = keys.find(member(*header, "kid"), alg);
  if (!key) return fail(JwtCheck::Status::UnknownKey, "no key of the authorization server's JWK set matches the token (kid and algorithm)");
  if (!verify_signature(*key, alg, token.substr(0, d2), sig)) return fail(JwtCheck::Status::BadSignature, "the token's signature does not verify");

  // RFC 9068 §4: access tokens are typed at+jwt; plain "JWT" (or none) is accepted from issuers
  // that do not type them. The audience check below keeps ID tokens (aud = a client) out.
  std::string typ = member(*header, "typ");
  std::string typ_lower;
  for (char c : typ) typ_lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (!typ.empty() && typ_lower != "at+jwt" && typ_lower != "application/at+jwt" && typ_lower != "jwt") {
    return fail(JwtCheck::Status::Invalid, fmt::format("the token's type \"{}\" is not an access token", typ.substr(0, 40)));
  }
  if (member(*claims, "iss") != expect.issuer) return fail(JwtCheck::Status::Invalid, "the token was issued by another authorization server (iss)");
  bool audience_ok = false;
  auto match = [&](std::string_view aud) {
    for (const auto& a : expect.audiences) audience_ok |= (aud == a);
  };
  if (const json::value* aud = claims->if_contains("aud")) {
    if (aud->is_string()) match(aud->as_string());
    else if (aud->is_array()) {
      for (const auto& a : aud->as_array()) {
        if (a.is_string()) match(a.as_string());
      }
    }
  }
  if (!audience_ok) return fail(JwtCheck::Status::Invalid, "the token is for another resource (aud)");
  auto exp = numeric_date(*claims, "exp");
  if (!exp || *exp == INT64_MIN) return fail(JwtCheck::Status::Invalid, "the token has no expiry (exp)");
  if (expect.now >= *exp + expect.leeway) return fail(JwtCheck::Status::Invalid, "the token has expired");
  if (auto nbf = numeric_date(*claims, "nbf")) {
    if (*nbf == INT64_MIN || expect.now + expect.leeway < *nbf) return fail(JwtCheck::Status::Invalid, "the token is not valid yet (nbf)");
  }

  if (const json::value* scope = claims->if_contains("scope"); scope && scope->is_string()) {
    std::string_view s = scope->as_string();
    size_t i = 0;
    while (i < s.size()) {
      size_t j = s.find(' ', i);
      if (j == std::string_view::npos) j = s.size();
      if (j > i) r.scopes.emplace_back(s.substr(i, j - i));
      i = j + 1;
    }
  } else if (const json::value* scp = claims->if_contains("scp"); scp && scp->is_array()) {
    for (const auto& v : scp->as_array()) {
      if (v.is_string()) r.scopes.emplace_back(v.as_string());
    }
  }
  r.status = JwtCheck::Status::Valid;
  r.claims = std::move(*claims);
  return r;
}

}  // namespace wasimancer::mcp
