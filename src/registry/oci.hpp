// registry/oci.hpp: a small client of the OCI distribution API, for plugins published by
// reference ("registry/repo:tag" or "registry/repo@sha256:...").
//
// Pull: GET /v2/<repo>/manifests/<ref> (an OCI or Docker image manifest, or an index whose
// single or wasm/wasip1 entry is followed), then the module's blob. The module is the layer of
// media type application/wasm (the CNCF wasm artifact layout; config
// application/vnd.wasm.config.v0+json) or application/vnd.wasm.content.layer.v1+wasm, or else a
// (gzip) tar layer holding plugin.wasm (hyper-mcp's image layout: `COPY plugin.wasm /`) or a
// single .wasm file. Every blob's sha256 and size are checked against its descriptor, and a
// manifest named by digest against that digest. A minisign signature travels as a layer of
// media type application/vnd.wasimancer.minisign.signature.v1 (kMinisignMediaType).
// Push (the CLI): blobs by monolithic upload (POST then PUT ?digest=), then the manifest.
//
// Policy: a registry is contacted only if its host matches `allowed_registries` (globs; empty:
// none). Plain HTTP is used for loopback hosts (localhost, 127.0.0.0/8, [::1]) and the hosts in
// `plain_http`; HTTPS otherwise. Token authentication (WWW-Authenticate: Bearer realm=...) is
// followed when the realm's host is allowed too; credentials (Basic) per registry come from
// `credentials` ("host[:port]" → "user:password"). The plugins' allowedHosts do not apply here.
//
// Thread safety: OciClient is immutable after construction; pull/push are safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace wasimancer::registry {

inline constexpr std::string_view kWasmLayerMediaType = "application/wasm";
inline constexpr std::string_view kWasmConfigMediaType = "application/vnd.wasm.config.v0+json";
inline constexpr std::string_view kMinisignMediaType = "application/vnd.wasimancer.minisign.signature.v1";

struct OciReference {
  std::string registry;    // host[:port]
  std::string repository;  // "org/plugin"
  std::string tag;         // empty when digest is set and no tag was given
  std::string digest;      // "sha256:<hex>" or empty
  std::string host() const;  // registry without the port
  std::string to_string() const;
};

// "[oci://]host[:port]/repo[:tag][@sha256:hex]"; the tag defaults to "latest". The registry
// part must be a host (it has a '.' or ':' or is "localhost"). InvalidArgument otherwise.
Result<OciReference> parse_oci_reference(std::string_view text);

struct OciSettings {
  std::vector<std::string> allowed_registries;  // WASIMANCER_OCI_REGISTRIES
  std::vector<std::string> plain_http;          // WASIMANCER_OCI_PLAIN_HTTP
  std::map<std::string, std::string> credentials;  // WASIMANCER_OCI_AUTH_FILE
  uint64_t max_bytes = 64ull << 20;
  uint32_t timeout_ms = 60'000;
};

// Reads a Docker-style credentials file: {"auths": {"host:port": {"auth": base64("user:pw")} or
// {"username": .., "password": ..}}}.
Result<std::map<std::string, std::string>> parse_oci_credentials(std::string_view json_text);

struct OciPulled {
  std::string wasm;
  std::string manifest_digest;  // what the reference resolved to
  std::string wasm_digest;      // the module layer's digest ("sha256:...")
  std::optional<std::string> signature;  // a minisign signature layer, if any
  std::string resolved;         // registry/repo@manifest-digest
};

struct OciPushed {
  std::string manifest_digest;
  std::string reference;  // registry/repo@digest
};

class OciClient {
 public:
  explicit OciClient(OciSettings settings) : settings_(std::move(settings)) {}

  // Errors: PermissionDenied (registry not allowed), NotFound (no such manifest), InvalidModule
  // (no wasm layer, digest or size mismatch), HostError (the registry answered with an error:
  // registries answer some bad references with a 500, so its status is reported, not trusted),
  // Unavailable (not reached, or timed out).
  Result<OciPulled> pull(const OciReference& ref) const;
  Result<OciPushed> push(const OciReference& ref, const std::string& wasm, const std::optional<std::string>& signature,
                         const std::string& title = "plugin.wasm") const;

  const OciSettings& settings() const { return settings_; }

 private:
  struct Session;  // one operation's registry, scheme and bearer token (oci.cpp)
  Result<std::string> blob(const OciReference& ref, const std::string& digest, uint64_t size) const;
  OciSettings settings_;
};

}  // namespace wasimancer::registry
