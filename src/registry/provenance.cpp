#include "registry/provenance.hpp"

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/text.hpp"

namespace wasimancer::registry {

namespace json = boost::json;

namespace {

Result<std::optional<std::string>> pinned_sha256(const json::object& entry) {
  auto* v = entry.if_contains("sha256");
  if (!v || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) return Error(ErrorKind::InvalidArgument, "\"sha256\" must be a string of 64 hex digits");
  std::string s = ascii_lower(v->as_string());
  if (s.rfind("sha256:", 0) == 0) s.erase(0, 7);
  bool ok = s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!ok) return Error(ErrorKind::InvalidArgument, "\"sha256\" must be 64 hex digits (optionally after \"sha256:\")");
  return std::optional<std::string>{s};
}

}  // namespace

Result<std::optional<std::string>> entry_oci(const json::object& entry) {
  auto* v = entry.if_contains("oci");
  if (!v || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string() || v->as_string().empty()) return Error(ErrorKind::InvalidArgument, "\"oci\" must be a reference such as registry/repo:tag");
  return std::optional<std::string>{std::string(v->as_string())};
}

Result<void> check_module(const Provenance& p, json::object& entry, std::string_view wasm, const std::optional<std::string>& signature) {
  auto pin = pinned_sha256(entry);
  if (!pin) return pin.take_error();
  if (*pin) {
    std::string actual = sha256_hex(wasm);
    if (actual != **pin) {
      return Error(ErrorKind::InvalidArgument,
                   fmt::format("the module's sha256 is {}, but the entry pins {}: refused (wrong or altered file)", actual, **pin));
    }
    entry["sha256"] = **pin;  // normalised
  }
  entry.erase("signedBy");
  std::optional<std::string> sig = signature;
  if (!sig) {
    if (auto* s = entry.if_contains("signature"); s && !s->is_null()) {
      if (!s->is_string()) return Error(ErrorKind::InvalidArgument, "\"signature\" must be the text of a minisign signature");
      sig = std::string(s->as_string());
    }
  }
  if (sig) entry["signature"] = *sig;
  if (p.trusted_keys.empty()) return {};
  if (!sig) {
    return Error(ErrorKind::PermissionDenied,
                 fmt::format("the module is not signed, and WASIMANCER_TRUSTED_KEYS requires a minisign signature by key {} "
                             "(send it as the \"signature\" part, or push it beside the OCI artifact)",
                             key_ids(p.trusted_keys)));
  }
  auto v = verify_with_any(p.trusted_keys, *sig, wasm);
  if (!v) return v.take_error();
  entry["signedBy"] = v->key.id_hex();
  return {};
}

Result<PulledModule> pull_entry(const Provenance& p, json::object& entry) {
  auto text = entry_oci(entry);
  if (!text) return text.take_error();
  if (!*text) return Error(ErrorKind::InvalidArgument, "the entry has no \"oci\" reference");
  auto ref = parse_oci_reference(**text);
  if (!ref) return ref.take_error();
  if (!p.oci) return Error(ErrorKind::PermissionDenied, "OCI references are off: set WASIMANCER_OCI_REGISTRIES to the registries allowed");
  auto pulled = p.oci->pull(*ref);
  if (!pulled) return pulled.take_error();
  entry["ociDigest"] = pulled->manifest_digest;
  if (!entry.contains("sha256")) entry["sha256"] = sha256_hex(pulled->wasm);
  PulledModule out;
  out.wasm = std::move(pulled->wasm);
  out.signature = std::move(pulled->signature);
  std::string base = ref->repository.substr(ref->repository.rfind('/') == std::string::npos ? 0 : ref->repository.rfind('/') + 1);
  std::string name;
  for (char c : base) name.push_back((std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') ? c : '-');
  if (name.empty() || name[0] == '-') name = "oci" + name;
  out.file_name = name.substr(0, 100) + ".wasm";
  return out;
}

}  // namespace wasimancer::registry
