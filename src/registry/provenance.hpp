// registry/provenance.hpp: where a module comes from and whether to believe it — the sha256 pin,
// minisign signatures (WASIMANCER_TRUSTED_KEYS) and OCI pulls, applied to a plugins.yml entry
// (or an upload's pluginData) and its module bytes.
//
// Entry keys (README "Distribution and signatures"):
//   sha256     the module's SHA-256 (64 hex digits, "sha256:" prefix allowed): a module with any
//              other digest is refused (InvalidArgument → 400) and nothing changes
//   oci        "registry/repo:tag" or "...@sha256:...": the module is pulled from there
//   ociDigest  written by the server: the manifest digest the reference resolved to
//   signature  a minisign signature (the .minisig text) of the module; written by the server for
//              signed uploads and pulls
//   signedBy   written by the server: the trusted key id that verified the signature
// With trusted keys configured, a module without a signature by one of them is refused with
// PermissionDenied (403), the message naming the key ids expected. Without trusted keys a
// signature is kept but not checked, and signedBy is not written.
//
// Thread safety: Provenance is immutable once built; its functions are safe from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "core/signature.hpp"
#include "registry/oci.hpp"

namespace wasimancer::registry {

struct Provenance {
  std::vector<MinisignPublicKey> trusted_keys;  // empty: signatures not required
  std::shared_ptr<const OciClient> oci;         // null: OCI references refused
};

// Checks `wasm` against the entry's sha256 pin and (with trusted keys) against `signature`, or
// the entry's own "signature" when `signature` is unset. On success the entry records the
// signature and signedBy (a client-supplied signedBy is dropped first).
Result<void> check_module(const Provenance& p, boost::json::object& entry, std::string_view wasm,
                          const std::optional<std::string>& signature);

struct PulledModule {
  std::string wasm;
  std::optional<std::string> signature;
  std::string file_name;  // "<last repository part>.wasm", a plain file name
};

// Pulls the module the entry's "oci" names and records ociDigest and (unless pinned) sha256 in
// the entry. The pin and signature are not checked here (check_module does).
Result<PulledModule> pull_entry(const Provenance& p, boost::json::object& entry);

// The entry's "oci" text, if it has one (a non-string is an InvalidArgument error).
Result<std::optional<std::string>> entry_oci(const boost::json::object& entry);

}  // namespace wasimancer::registry
