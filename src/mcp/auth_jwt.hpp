// mcp/auth_jwt.hpp: JSON Web Tokens signed by an authorization server (RFC 7519, RFC 7515 compact
// form), their keys (JWK sets, RFC 7517), and the checks of an OAuth 2.1 access token for this
// resource server (RFC 9068): signature, issuer, audience, expiry, not-before, token type, scopes.
//
// Accepted algorithms: RS256/384/512, PS256/384/512, ES256/384/512 (P-256/384/521) and EdDSA
// (Ed25519). Refused: "none", HMAC (HS*: a shared secret is not how an issuer's keys are
// published), unknown algorithms, a key whose type does not fit the algorithm, and any `crit`
// header. Signatures are verified with OpenSSL 3 (EVP).
//
// Ownership: JwkSet owns its OpenSSL keys; it is an immutable value once parsed (copies share the
// keys). Thread safety: a JwkSet may be used from any number of threads at once; the functions
// are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "core/error.hpp"

namespace wasimancer::mcp {

namespace json = boost::json;

// Base64url without padding (RFC 7515 §2); false on characters outside the alphabet.
bool base64url_decode(std::string_view text, std::string& out);
std::string base64url_encode(std::string_view data);

class JwkSet {
 public:
  struct Key;
  // Parses {"keys":[...]}. Keys this server cannot use (symmetric "oct" keys, unknown types or
  // curves, keys marked "use":"enc") are skipped, not errors; a set with no usable key is valid
  // but verifies nothing. Errors: the document is not a JWK set.
  static Result<JwkSet> parse(std::string_view document);
  size_t size() const { return keys_.size(); }
  // The key for a token header: by kid when given, else the only key fitting the algorithm.
  const Key* find(std::string_view kid, std::string_view alg) const;

 private:
  std::vector<std::shared_ptr<const Key>> keys_;
};

struct JwtExpectations {
  std::string issuer;                  // the `iss` claim must equal it
  std::vector<std::string> audiences;  // `aud` must contain one of them
  int64_t now = 0;                     // seconds since the epoch
  int64_t leeway = 60;                 // clock skew allowed on exp and nbf, seconds
};

struct JwtCheck {
  enum class Status {
    Valid,
    Malformed,      // not a compact JWS with JSON header and payload
    UnknownKey,     // no key of the set fits (kid unknown: the issuer may have rotated its keys)
    BadSignature,   // refused algorithm or a signature that does not verify
    Invalid,        // signed, but a claim is wrong (issuer, audience, expired, type)
  };
  Status status = Status::Malformed;
  std::string reason;     // for logs and error_description; never contains the token
  json::object claims;    // when Valid
  std::vector<std::string> scopes;  // `scope` (space-separated) or `scp` (array), when Valid

  bool valid() const { return status == Status::Valid; }
};

// Verifies the signature with `keys`, then the claims against `expect`.
JwtCheck check_access_token(std::string_view token, const JwkSet& keys, const JwtExpectations& expect);

}  // namespace wasimancer::mcp
