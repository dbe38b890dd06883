// mcp/auth.hpp: the server as an OAuth 2.1 protected resource (MCP authorization spec,
// 2025-06-18 and later): RFC 9728 protected-resource metadata, `WWW-Authenticate: Bearer
// resource_metadata=..., scope=...` on 401/403, and validation of JWT access tokens (RFC 9068)
// issued by an external authorization server: issuer, audience = this resource (RFC 8707),
// expiry, signature with the keys of the issuer's JWKS, scopes `mcp:tools` (the MCP endpoints)
// and `mcp:admin` (the admin API). The static bearer tokens are checked by their routes as before;
// this class is asked only when a request did not carry one of them.
//
// Keys: fetched from `jwks_uri` (configured, or found in the issuer's RFC 8414 / OpenID metadata,
// whose `issuer` must equal the configured one) by a background thread at start, again every
// `refresh`, and when a token names a key the set does not have (at most once per
// `min_refetch`; the request waits up to 5 s for it). Until keys are loaded, tokens are refused
// with a 401 saying so. The issuer must be https, or http on a loopback host.
//
// Ownership: owns its refresher thread (stopped by the destructor) and the key set.
// Thread safety: check() and the metadata functions may run concurrently from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "mcp/auth_jwt.hpp"

namespace wasimancer::mcp {

inline constexpr std::string_view kToolsScope = "mcp:tools";
inline constexpr std::string_view kAdminScope = "mcp:admin";
inline constexpr std::string_view kMetadataPath = "/.well-known/oauth-protected-resource";

struct OAuthSettings {
  std::string issuer;    // the authorization server's issuer identifier (required)
  // This server's canonical URI (the audience tokens must name), e.g. https://mcp.example.com/mcp.
  // Empty: http://<the request's Host>/mcp, so a token is valid for the address it was asked for.
  std::string resource;
  std::string jwks_uri;  // empty: from the issuer's metadata
  std::vector<std::string> scopes_supported{std::string(kToolsScope), std::string(kAdminScope)};
  std::string resource_name = "wasimancer";
  std::chrono::seconds leeway{60};        // clock skew on exp/nbf
  std::chrono::seconds refresh{3600};     // key set refetched this often
  std::chrono::seconds min_refetch{30};   // at most one unknown-key refetch per this interval
  std::chrono::seconds fetch_timeout{10};
};

// GET url; the body of a 2xx answer, else an error. Injected by tests.
using FetchFn = std::function<Result<std::string>(const std::string& url)>;

// Checks an OAuth settings block before the server starts (issuer URL, resource URL).
Result<void> validate_oauth_settings(const OAuthSettings& s);

class OAuthResource {
 public:
  struct Decision {
    enum class Kind { Allowed, NoToken, InvalidToken, InsufficientScope };
    Kind kind = Kind::NoToken;
    std::string description;  // error_description (no token material)
    std::string subject;      // `sub` of an allowed token
    bool allowed() const { return kind == Kind::Allowed; }
  };

  // fetch: empty for the real one (HTTP GET through host::http_fetch, allowed to the URL's host
  // only). Starts the refresher thread, which fetches the keys at once.
  explicit OAuthResource(OAuthSettings settings, FetchFn fetch = {});
  ~OAuthResource();
  OAuthResource(const OAuthResource&) = delete;
  OAuthResource& operator=(const OAuthResource&) = delete;

  // Waits until a key set has been loaded (true) or `timeout` passes (false).
  bool wait_for_keys(std::chrono::milliseconds timeout) const;

  // `authorization`: the Authorization header's value ("" when absent). `scope`: kToolsScope or
  // kAdminScope. `host`: the request's Host header (for the default resource).
  Decision check(std::string_view authorization, std::string_view scope, std::string_view host) const;

  // The WWW-Authenticate value for a refusal (RFC 6750 §3 with RFC 9728's resource_metadata).
  std::string www_authenticate(const Decision& d, std::string_view scope, std::string_view host) const;
  std::string resource_for(std::string_view host) const;
  std::string metadata_url(std::string_view host) const;
  // The metadata document when `path` is where it is served (kMetadataPath, alone or followed by
  // the resource's path), else nullopt.
  std::optional<std::string> metadata_document(std::string_view path, std::string_view host) const;

  const OAuthSettings& settings() const { return settings_; }

 private:
  void refresher();
  Result<std::shared_ptr<const JwkSet>> load_keys();
  std::shared_ptr<const JwkSet> keys() const;
  // Asks the refresher for a new key set (unless one was fetched within min_refetch) and waits
  // for it up to 5 s. Returns the current set afterwards.
  std::shared_ptr<const JwkSet> refetch_keys() const;

  OAuthSettings settings_;
  FetchFn fetch_;
  std::string jwks_uri_;  // refresher thread only

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::shared_ptr<const JwkSet> keys_;
  std::string last_error_;
  uint64_t generation_ = 0;  // completed fetch attempts
  std::chrono::steady_clock::time_point last_attempt_{};
  mutable bool wanted_ = false;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace wasimancer::mcp
