// OAuth 2.1 protected resource (mcp/auth.hpp, mcp/auth_jwt.hpp): JWT access tokens signed with
// real keys made here by OpenSSL (RS256, PS256, ES256, ES384, EdDSA), every claim rule, refused
// algorithms and keys, the JWK set parser, key discovery and rotation through an injected fetch,
// RFC 9728 metadata, WWW-Authenticate, and the hooks in mcp::HttpHandler (401/403, the
// well-known route, the static token beside JWTs). The end-to-end flow against a real
// authorization server is tests/integration/oauth.test.mjs.
#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <atomic>
#include <ctime>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "mcp/auth.hpp"
#include "mcp/auth_jwt.hpp"
#include "mcp/http_handler.hpp"
#include "registry/catalog.hpp"
#include "registry/registry.hpp"

using namespace wasimancer;
using namespace wasimancer::mcp;
using namespace std::chrono_literals;

namespace {

const std::string kIssuer = "https://as.example.test";
const std::string kResource = "https://mcp.example.test/mcp";

std::string bn_bytes(const BIGNUM* bn) {
  std::string s(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(s.data()));
  return s;
}

// A signing key made by OpenSSL, its public JWK, and JWS signing as an authorization server does.
struct SigningKey {
  std::string alg, kid;
  EVP_PKEY* pkey = nullptr;
  json::object jwk;

  SigningKey(std::string a, std::string k, int rsa_bits = 2048) : alg(std::move(a)), kid(std::move(k)) {
    if (alg[0] == 'R' || alg[0] == 'P') {
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsa_bits));
      BIGNUM *n = nullptr, *e = nullptr;
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n);
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e);
      jwk = {{"kty", "RSA"}, {"n", base64url_encode(bn_bytes(n))}, {"e", base64url_encode(bn_bytes(e))}};
      BN_free(n);
      BN_free(e);
    } else if (alg == "ES256" || alg == "ES384") {
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", alg == "ES256" ? "P-256" : "P-384");
      unsigned char buf[200];
      size_t len = 0;
      EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len);
      size_t half = (len - 1) / 2;
      std::string pt(reinterpret_cast<char*>(buf) + 1, len - 1);
      jwk = {{"kty", "EC"}, {"crv", alg == "ES256" ? "P-256" : "P-384"}, {"x", base64url_encode(pt.substr(0, half))},
             {"y", base64url_encode(pt.substr(half))}};
    } else {
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      unsigned char raw[32];
      size_t len = sizeof raw;
      EVP_PKEY_get_raw_public_key(pkey, raw, &len);
      jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(std::string(reinterpret_cast<char*>(raw), len))}};
    }
    jwk["kid"] = kid;
    jwk["use"] = "sig";
  }
  ~SigningKey() { EVP_PKEY_free(pkey); }
  SigningKey(const SigningKey&) = delete;

  std::string sign(std::string_view data) const {
    const EVP_MD* md = alg == "EdDSA" ? nullptr : alg.ends_with("384") ? EVP_sha384() : EVP_sha256();
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, md, nullptr, pkey);
    if (alg[0] == 'P') {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (alg[0] == 'E' && alg[1] == 'S') {  // DER -> r || s
      size_t size = alg == "ES256" ? 32 : 48;
      const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      std::string raw(2 * size, '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(size));
      BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data() + size), static_cast<int>(size));
      ECDSA_SIG_free(es);
      return raw;
    }
    return sig;
  }

  std::string token(const json::object& claims, json::object header = {}) const {
    if (!header.contains("alg")) header["alg"] = alg;
    if (!header.contains("kid")) header["kid"] = kid;
    if (!header.contains("typ")) header["typ"] = "at+jwt";
    std::string signing = base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(claims));
    return signing + "." + base64url_encode(sign(signing));
  }
};

int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

json::object claims(json::object extra = {}) {
  json::object c{{"iss", kIssuer}, {"sub", "alice"}, {"aud", kResource}, {"exp", now() + 300}, {"iat", now()},
                 {"scope", "openid mcp:tools"}, {"client_id", "c1"}};
  for (auto& kv : extra) c[kv.key()] = kv.value();
  return c;
}

std::string jwks_of(std::initializer_list<const SigningKey*> keys) {
  json::array a;
  for (const auto* k : keys) a.push_back(k->jwk);
  return json::serialize(json::object{{"keys", a}});
}

JwtExpectations expect() {
  JwtExpectations e;
  e.issuer = kIssuer;
  e.audiences = {kResource};
  e.now = now();
  return e;
}

JwkSet set_of(std::initializer_list<const SigningKey*> keys) {
  auto s = JwkSet::parse(jwks_of(keys));
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

std::string tamper_payload(const std::string& token) {
  auto d1 = token.find('.'), d2 = token.rfind('.');
  std::string payload;
  base64url_decode(token.substr(d1 + 1, d2 - d1 - 1), payload);
  auto pos = payload.find("alice");
  payload.replace(pos, 5, "mallo");
  return token.substr(0, d1 + 1) + base64url_encode(payload) + token.substr(d2);
}

// An authorization server as seen through OAuthResource's fetch: metadata and a JWKS that
// tests change; counts the fetches.
struct FakeIssuer {
  std::mutex mu;
  std::map<std::string, std::string> docs;
  std::map<std::string, int> fetches;
  FetchFn fn() {
    return [this](const std::string& url) -> Result<std::string> {
      std::lock_guard lock(mu);
      ++fetches[url];
      auto it = docs.find(url);
      if (it == docs.end()) return Error(ErrorKind::Io, fmt::format("GET {} answered 404", url));
      return it->second;
    };
  }
  void set(const std::string& url, std::string body) {
    std::lock_guard lock(mu);
    docs[url] = std::move(body);
  }
  int count(const std::string& url) {
    std::lock_guard lock(mu);
    return fetches[url];
  }
};

const std::string kAsMetadata = kIssuer + "/.well-known/oauth-authorization-server";
const std::string kJwksUri = kIssuer + "/jwks";

void publish(FakeIssuer& as, std::initializer_list<const SigningKey*> keys) {
  as.set(kAsMetadata, json::serialize(json::object{{"issuer", kIssuer}, {"jwks_uri", kJwksUri}}));
  as.set(kJwksUri, jwks_of(keys));
}

OAuthSettings settings(std::string resource = kResource) {
  OAuthSettings s;
  s.issuer = kIssuer;
  s.resource = std::move(resource);
  return s;
}

}  // namespace

// ---- tokens ------------------------------------------------------------------------------------

TEST(Jwt, ValidTokensOfEveryAcceptedAlgorithm) {
  for (const char* alg : {"RS256", "PS256", "ES256", "ES384", "EdDSA"}) {
    SigningKey k(alg, std::string("k-") + alg);
    auto c = check_access_token(k.token(claims()), set_of({&k}), expect());
    ASSERT_TRUE(c.valid()) << alg << ": " << c.reason;
    EXPECT_EQ(c.claims.at("sub"), "alice");
    EXPECT_EQ(c.scopes, (std::vector<std::string>{"openid", "mcp:tools"})) << alg;
  }
}

TEST(Jwt, TamperedOrForeignSignaturesAreRefused) {
  SigningKey k("RS256", "a"), other("RS256", "a");  // same kid, another key
  std::string t = k.token(claims());
  EXPECT_EQ(check_access_token(tamper_payload(t), set_of({&k}), expect()).status, JwtCheck::Status::BadSignature);
  EXPECT_EQ(check_access_token(other.token(claims()), set_of({&k}), expect()).status, JwtCheck::Status::BadSignature);
  SigningKey ec("ES256", "e");
  std::string te = ec.token(claims());
  std::string truncated = te.substr(0, te.size() - 4);
  EXPECT_NE(check_access_token(truncated, set_of({&ec}), expect()).status, JwtCheck::Status::Valid);
}

TEST(Jwt, RefusedAlgorithmsAndMismatchedKeys) {
  SigningKey k("RS256", "a");
  std::string t = k.token(claims());
  auto parts = [&](json::object header) {
    std::string signing = base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(claims()));
    return signing + "." + base64url_encode("sig");
  };
  EXPECT_EQ(check_access_token(parts({{"alg", "none"}, {"kid", "a"}}), set_of({&k}), expect()).status, JwtCheck::Status::BadSignature);
  std::string unsigned_token = parts({{"alg", "none"}}).substr(0, parts({{"alg", "none"}}).rfind('.') + 1);
  EXPECT_NE(check_access_token(unsigned_token, set_of({&k}), expect()).status, JwtCheck::Status::Valid);
  EXPECT_EQ(check_access_token(parts({{"alg", "HS256"}, {"kid", "a"}}), set_of({&k}), expect()).status, JwtCheck::Status::BadSignature);
  // An RSA key asked to verify ES256 (algorithm confusion): no key fits.
  EXPECT_EQ(check_access_token(parts({{"alg", "ES256"}, {"kid", "a"}}), set_of({&k}), expect()).status, JwtCheck::Status::UnknownKey);
  EXPECT_EQ(check_access_token(k.token(claims(), {{"crit", json::array{"exp"}}}), set_of({&k}), expect()).status,
            JwtCheck::Status::BadSignature);
  // A key published for RS256 only does not verify PS256.
  json::object jwk = k.jwk;
  jwk["alg"] = "RS256";
  auto only_rs = JwkSet::parse(json::serialize(json::object{{"keys", json::array{jwk}}}));
  ASSERT_TRUE(only_rs.ok());
  SigningKey ps("PS256", "a");
  EXPECT_EQ(check_access_token(ps.token(claims()), *only_rs, expect()).status, JwtCheck::Status::UnknownKey);
}

TEST(Jwt, UnknownKidIsReportedAsUnknownKey) {
  SigningKey a("RS256", "a"), b("RS256", "b");
  EXPECT_EQ(check_access_token(b.token(claims()), set_of({&a}), expect()).status, JwtCheck::Status::UnknownKey);
  // Without a kid, the only key fitting the algorithm is used.
  EXPECT_TRUE(check_access_token(a.token(claims(), {{"kid", ""}}), set_of({&a}), expect()).valid());
}

TEST(Jwt, ClaimRules) {
  SigningKey k("ES256", "a");
  JwkSet keys = set_of({&k});
  auto status = [&](json::object extra, json::object header = {}) { return check_access_token(k.token(claims(extra), header), keys, expect()); };
  EXPECT_EQ(status({{"iss", "https://other.example.test"}}).status, JwtCheck::Status::Invalid);
  EXPECT_EQ(status({{"aud", "https://other.example.test/mcp"}}).status, JwtCheck::Status::Invalid);
  EXPECT_EQ(status({{"aud", "c1"}}).status, JwtCheck::Status::Invalid) << "an ID token (aud = the client) is not an access token here";
  EXPECT_TRUE(status({{"aud", json::array{"https://x.test", kResource}}}).valid());
  EXPECT_EQ(status({{"exp", now() - 120}}).status, JwtCheck::Status::Invalid);
  EXPECT_TRUE(status({{"exp", now() - 30}}).valid()) << "within the 60 s leeway";
  EXPECT_EQ(status({{"exp", "tomorrow"}}).status, JwtCheck::Status::Invalid);
  EXPECT_EQ(status({{"nbf", now() + 600}}).status, JwtCheck::Status::Invalid);
  EXPECT_TRUE(status({{"nbf", now() - 5}}).valid());
  EXPECT_EQ(status({}, {{"typ", "logout+jwt"}}).status, JwtCheck::Status::Invalid);
  EXPECT_TRUE(status({}, {{"typ", "JWT"}}).valid());
  json::object no_exp = claims();
  no_exp.erase("exp");
  EXPECT_EQ(check_access_token(k.token(no_exp), keys, expect()).status, JwtCheck::Status::Invalid);
  auto scp = status({{"scope", nullptr}, {"scp", json::array{"mcp:admin", "x"}}});
  ASSERT_TRUE(scp.valid());
  EXPECT_EQ(scp.scopes, (std::vector<std::string>{"mcp:admin", "x"}));
}

TEST(Jwt, MalformedTokens) {
  SigningKey k("RS256", "a");
  for (std::string t : {"", "abc", "a.b", "a.b.c.d", "!!.e30.sig", "e30.e30.", "bnVsbA.bnVsbA.c2ln"}) {
    auto c = check_access_token(t, set_of({&k}), expect());
    EXPECT_FALSE(c.valid()) << t;
    EXPECT_FALSE(c.reason.empty());
  }
}

TEST(Jwt, KeySetParserSkipsKeysItCannotUse) {
  SigningKey rsa("RS256", "r"), ec("ES256", "e"), small("RS256", "s", 1024);
  json::object off_curve = ec.jwk;
  std::string y;
  base64url_decode(off_curve.at("y").as_string(), y);
  y[5] ^= 1;
  off_curve["y"] = base64url_encode(y);
  off_curve["kid"] = "bad";
  json::object enc = rsa.jwk;
  enc["use"] = "enc";
  enc["kid"] = "enc";
  json::array keys{rsa.jwk, ec.jwk, small.jwk, off_curve, enc, json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}},
                   json::object{{"kty", "RSA"}, {"n", "!!"}, {"e", "AQAB"}}, json::object{{"kty", "EC"}, {"crv", "P-999"}}};
  auto set = JwkSet::parse(json::serialize(json::object{{"keys", keys}}));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->size(), 2u) << "the RSA and EC keys; not the 1024-bit, off-curve, encryption, symmetric or broken ones";
  EXPECT_FALSE(JwkSet::parse("{}").ok());
  EXPECT_FALSE(JwkSet::parse("not json").ok());
  EXPECT_FALSE(JwkSet::parse(R"({"keys":{}})").ok());
}

TEST(Jwt, Base64Url) {
  std::string out;
  EXPECT_TRUE(base64url_decode("_-8", out));
  EXPECT_EQ(out, "\xff\xef");
  EXPECT_FALSE(base64url_decode("a+b/", out));
  EXPECT_FALSE(base64url_decode("ab==", out));
  EXPECT_FALSE(base64url_decode("a", out));
  EXPECT_EQ(base64url_encode("\xff\xef"), "_-8");
}

// ---- the protected resource ----------------------------------------------------------------------

TEST(OAuthResource, DiscoversKeysAndChecksScopes) {
  SigningKey k("RS256", "a");
  FakeIssuer as;
  publish(as, {&k});
  OAuthResource r(settings(), as.fn());
  ASSERT_TRUE(r.wait_for_keys(10s));
  auto ok = r.check("Bearer " + k.token(claims()), kToolsScope, "ignored:1");
  EXPECT_TRUE(ok.allowed()) << ok.description;
  EXPECT_EQ(ok.subject, "alice");
  auto admin = r.check("Bearer " + k.token(claims()), kAdminScope, "");
  EXPECT_EQ(admin.kind, OAuthResource::Decision::Kind::InsufficientScope);
  EXPECT_TRUE(r.check("bearer " + k.token(claims({{"scope", "mcp:admin"}})), kAdminScope, "").allowed());
  EXPECT_EQ(r.check("", kToolsScope, "").kind, OAuthResource::Decision::Kind::NoToken);
  EXPECT_EQ(r.check("Basic YTpi", kToolsScope, "").kind, OAuthResource::Decision::Kind::InvalidToken);
  EXPECT_EQ(r.check("Bearer " + k.token(claims({{"aud", "https://elsewhere.test/mcp"}})), kToolsScope, "").kind,
            OAuthResource::Decision::Kind::InvalidToken);
}

TEST(OAuthResource, FallsBackToOpenIdConfigurationAndChecksTheIssuer) {
  SigningKey k("ES256", "a");
  FakeIssuer as;
  as.set(kIssuer + "/.well-known/openid-configuration", json::serialize(json::object{{"issuer", kIssuer}, {"jwks_uri", kJwksUri}}));
  as.set(kJwksUri, jwks_of({&k}));
  OAuthResource r(settings(), as.fn());
  ASSERT_TRUE(r.wait_for_keys(10s));
  EXPECT_TRUE(r.check("Bearer " + k.token(claims()), kToolsScope, "").allowed());

  // Metadata naming another issuer (a mix-up): no keys are taken from it.
  FakeIssuer liar;
  liar.set(kAsMetadata, json::serialize(json::object{{"issuer", "https://evil.test"}, {"jwks_uri", kJwksUri}}));
  liar.set(kJwksUri, jwks_of({&k}));
  OAuthResource r2(settings(), liar.fn());
  EXPECT_FALSE(r2.wait_for_keys(300ms));
  auto d = r2.check("Bearer " + k.token(claims()), kToolsScope, "");
  EXPECT_EQ(d.kind, OAuthResource::Decision::Kind::InvalidToken);
  EXPECT_NE(d.description.find("not available"), std::string::npos) << d.description;
}

TEST(OAuthResource, RotatedKeysAreFetchedOnceForAnUnknownKid) {
  SigningKey old_key("RS256", "old"), new_key("EdDSA", "new"), forged("RS256", "forged");
  FakeIssuer as;
  publish(as, {&old_key});
  OAuthSettings s = settings();
  s.min_refetch = 3600s;  // one refetch at most in this test
  OAuthResource r(s, as.fn());
  ASSERT_TRUE(r.wait_for_keys(10s));
  EXPECT_EQ(as.count(kJwksUri), 1);
  publish(as, {&old_key, &new_key});
  // The last fetch (at start) is less than min_refetch old: an unknown kid does not refetch.
  EXPECT_FALSE(r.check("Bearer " + new_key.token(claims()), kToolsScope, "").allowed());
  EXPECT_EQ(as.count(kJwksUri), 1) << "min_refetch bounds how often tokens can make the server fetch";

  OAuthSettings fast = settings();
  fast.min_refetch = 0s;
  FakeIssuer as2;
  publish(as2, {&old_key});
  OAuthResource r2(fast, as2.fn());
  ASSERT_TRUE(r2.wait_for_keys(10s));
  publish(as2, {&old_key, &new_key});
  auto d = r2.check("Bearer " + new_key.token(claims()), kToolsScope, "");
  EXPECT_TRUE(d.allowed()) << d.description;
  EXPECT_EQ(as2.count(kJwksUri), 2);
  // A kid the issuer never published: refetched, still refused.
  EXPECT_FALSE(r2.check("Bearer " + forged.token(claims()), kToolsScope, "").allowed());
  // Garbage never triggers a fetch.
  int before = as2.count(kJwksUri);
  EXPECT_FALSE(r2.check("Bearer not-a-jwt", kToolsScope, "").allowed());
  EXPECT_EQ(as2.count(kJwksUri), before);
}

TEST(OAuthResource, MetadataDocumentAndWwwAuthenticate) {
  FakeIssuer as;
  OAuthResource fixed(settings(), as.fn());
  EXPECT_EQ(fixed.metadata_url("ignored"), "https://mcp.example.test/.well-known/oauth-protected-resource/mcp");
  for (const char* path : {"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"}) {
    auto doc = fixed.metadata_document(path, "");
    ASSERT_TRUE(doc) << path;
    auto v = json::parse(*doc).as_object();
    EXPECT_EQ(v.at("resource"), json::value(kResource));
    EXPECT_EQ(v.at("authorization_servers").as_array().at(0), json::value(kIssuer));
    EXPECT_EQ(v.at("scopes_supported"), (json::array{"mcp:tools", "mcp:admin"}));
    EXPECT_EQ(v.at("bearer_methods_supported"), (json::array{"header"}));
  }
  EXPECT_FALSE(fixed.metadata_document("/.well-known/oauth-protected-resource/other", ""));
  EXPECT_FALSE(fixed.metadata_document("/.well-known/openid-configuration", ""));

  // Without a configured resource: the Host the client used (characters a header could abuse
  // are dropped).
  OAuthResource derived(settings(""), as.fn());
  EXPECT_EQ(derived.resource_for("127.0.0.1:3001"), "http://127.0.0.1:3001/mcp");
  EXPECT_EQ(derived.resource_for("a\"b, x=\"y"), "http://abxy/mcp");
  EXPECT_EQ(derived.metadata_url("localhost:8080"), "http://localhost:8080/.well-known/oauth-protected-resource/mcp");

  OAuthResource::Decision none;
  none.kind = OAuthResource::Decision::Kind::NoToken;
  EXPECT_EQ(fixed.www_authenticate(none, kToolsScope, ""),
            "Bearer resource_metadata=\"https://mcp.example.test/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:tools\"");
  OAuthResource::Decision bad;
  bad.kind = OAuthResource::Decision::Kind::InvalidToken;
  bad.description = "the token has \"expired\"";
  EXPECT_NE(fixed.www_authenticate(bad, kToolsScope, "").find(", error=\"invalid_token\", error_description=\"the token has expired\""),
            std::string::npos);
  OAuthResource::Decision scope;
  scope.kind = OAuthResource::Decision::Kind::InsufficientScope;
  EXPECT_NE(fixed.www_authenticate(scope, kAdminScope, "").find("scope=\"mcp:admin\", error=\"insufficient_scope\""), std::string::npos);
}

TEST(OAuthResource, SettingsAreValidated) {
  EXPECT_TRUE(validate_oauth_settings(settings()).ok());
  OAuthSettings http_loopback = settings("");
  http_loopback.issuer = "http://127.0.0.1:9000";
  EXPECT_TRUE(validate_oauth_settings(http_loopback).ok());
  OAuthSettings http_remote = settings();
  http_remote.issuer = "http://as.example.test";
  EXPECT_FALSE(validate_oauth_settings(http_remote).ok()) << "plain http only on loopback";
  OAuthSettings bad_resource = settings("mcp.example.test/mcp");
  EXPECT_FALSE(validate_oauth_settings(bad_resource).ok());
  OAuthSettings fragment = settings("https://mcp.example.test/mcp#x");
  EXPECT_FALSE(validate_oauth_settings(fragment).ok());
}

// ---- the hooks in the MCP-over-HTTP handler ---------------------------------------------------

namespace {

struct HandlerFixture {
  registry::Registry plugins;
  registry::ResourceCatalog resources{std::nullopt};
  registry::PromptCatalog prompts{std::nullopt};
  WorkerPool workers{1};
  Server server{Catalogs{plugins, resources, prompts}, workers, ServerConfig{}};
  FakeIssuer as;
  SigningKey key{"ES256", "k"};
  std::unique_ptr<HttpHandler> handler;

  explicit HandlerFixture(std::optional<std::string> token) {
    publish(as, {&key});
    auto oauth = std::make_shared<OAuthResource>(settings(""), as.fn());
    EXPECT_TRUE(oauth->wait_for_keys(10s));
    HttpRules rules;
    rules.mcp_token = std::move(token);
    rules.oauth = oauth;
    handler = std::make_unique<HttpHandler>(server, rules);
  }
  ~HandlerFixture() {
    handler.reset();
    server.shutdown();
  }
  HttpAnswer send(std::string method, std::string target, std::vector<std::pair<std::string, std::string>> headers,
                  std::string body = "") {
    HttpRequestHead head{std::move(method), std::move(target), std::move(headers), ""};
    auto early = handler->on_header(head);
    if (auto* a = std::get_if<HttpAnswer>(&early)) return std::move(*a);
    return handler->on_body(head, std::move(body));
  }
  std::string token(json::object extra = {}) {
    json::object c = claims({{"aud", "http://localhost:3001/mcp"}});
    for (auto& kv : extra) c[kv.key()] = kv.value();
    return key.token(c);
  }
};

std::string header_of(const HttpAnswer& a, std::string_view name) {
  for (const auto& [k, v] : a.head.headers) {
    if (k == name) return v;
  }
  return "";
}

const std::string kInit =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";

}  // namespace

TEST(OAuthHttp, UnauthenticatedRequestsPointToTheMetadata) {
  HandlerFixture f("static-secret");
  std::vector<std::pair<std::string, std::string>> h = {{"Host", "localhost:3001"}, {"Content-Type", "application/json"}, {"Accept", "application/json"}};
  auto none = f.send("POST", "/mcp", h, kInit);
  EXPECT_EQ(none.head.status, 401);
  EXPECT_EQ(header_of(none, "WWW-Authenticate"),
            "Bearer resource_metadata=\"http://localhost:3001/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:tools\"");

  auto meta = f.send("GET", "/.well-known/oauth-protected-resource/mcp", {{"Host", "localhost:3001"}});
  EXPECT_EQ(meta.head.status, 200);
  EXPECT_EQ(header_of(meta, "Access-Control-Allow-Origin"), "*");
  auto doc = json::parse(meta.body).as_object();
  EXPECT_EQ(doc.at("resource"), "http://localhost:3001/mcp");
  EXPECT_EQ(doc.at("authorization_servers").as_array().at(0), json::value(kIssuer));

  auto jwt = h;
  jwt.emplace_back("Authorization", "Bearer " + f.token());
  EXPECT_EQ(f.send("POST", "/mcp", jwt, kInit).head.status, 200);
  auto stat = h;
  stat.emplace_back("Authorization", "Bearer static-secret");
  EXPECT_EQ(f.send("POST", "/mcp", stat, kInit).head.status, 200) << "the static token keeps working";

  auto admin_only = h;
  admin_only.emplace_back("Authorization", "Bearer " + f.token({{"scope", "mcp:admin"}}));
  auto scope = f.send("POST", "/mcp", admin_only, kInit);
  EXPECT_EQ(scope.head.status, 403);
  EXPECT_NE(header_of(scope, "WWW-Authenticate").find("error=\"insufficient_scope\""), std::string::npos);

  auto expired = h;
  expired.emplace_back("Authorization", "Bearer " + f.token({{"exp", now() - 3600}}));
  auto ex = f.send("POST", "/mcp", expired, kInit);
  EXPECT_EQ(ex.head.status, 401);
  EXPECT_NE(header_of(ex, "WWW-Authenticate").find("error=\"invalid_token\""), std::string::npos);
  EXPECT_NE(ex.body.find("expired"), std::string::npos) << ex.body;

  // A token for the address the client did not use (another Host) is for another resource.
  auto other_host = jwt;
  other_host[0].second = "127.0.0.1:3001";
  EXPECT_EQ(f.send("POST", "/mcp", other_host, kInit).head.status, 401);
  EXPECT_EQ(f.send("GET", "/sse", {{"Host", "localhost:3001"}}).head.status, 401);
}

TEST(OAuthHttp, WithoutOAuthThereIsNoMetadataRoute) {
  registry::Registry plugins;
  registry::ResourceCatalog resources{std::nullopt};
  registry::PromptCatalog prompts{std::nullopt};
  WorkerPool workers{1};
  Server server{Catalogs{plugins, resources, prompts}, workers, ServerConfig{}};
  HttpRules rules;
  rules.mcp_token = "t";
  HttpHandler handler(server, rules);
  HttpRequestHead head{"GET", "/.well-known/oauth-protected-resource", {}, ""};
  auto early = handler.on_header(head);
  ASSERT_TRUE(std::holds_alternative<HttpAnswer>(early));
  EXPECT_EQ(std::get<HttpAnswer>(early).head.status, 404);
  server.shutdown();
}
