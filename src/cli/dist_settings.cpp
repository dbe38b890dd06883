#include "cli/dist_settings.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "cli/env.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/signature.hpp"

namespace wasimancer::cli {

Result<registry::OciSettings> oci_settings_from_env(uint64_t max_module_bytes) {
  registry::OciSettings s;
  s.max_bytes = max_module_bytes;
  if (auto v = env("WASIMANCER_OCI_REGISTRIES")) s.allowed_registries = split_list(*v);
  if (auto v = env("WASIMANCER_OCI_PLAIN_HTTP")) s.plain_http = split_list(*v);
  if (auto v = env("WASIMANCER_OCI_AUTH_FILE")) {
    auto text = read_file(*v, 1 << 20);
    if (!text) return Error(ErrorKind::InvalidArgument, fmt::format("WASIMANCER_OCI_AUTH_FILE={}: {}", *v, text.error().message));
    auto creds = registry::parse_oci_credentials(*text);
    if (!creds) return Error(ErrorKind::InvalidArgument, fmt::format("WASIMANCER_OCI_AUTH_FILE={}: {}", *v, creds.error().message));
    s.credentials = std::move(*creds);
  }
  return s;
}

Result<std::shared_ptr<const registry::Provenance>> provenance_from_env(uint64_t max_module_bytes) {
  auto p = std::make_shared<registry::Provenance>();
  if (auto v = env("WASIMANCER_TRUSTED_KEYS")) {
    auto text = read_file(*v, 1 << 20);
    if (!text) return Error(ErrorKind::InvalidArgument, fmt::format("WASIMANCER_TRUSTED_KEYS={}: {}", *v, text.error().message));
    auto keys = parse_trusted_keys(*text);
    if (!keys) return Error(ErrorKind::InvalidArgument, fmt::format("WASIMANCER_TRUSTED_KEYS={}: {}", *v, keys.error().message));
    p->trusted_keys = std::move(*keys);
    log().info("signatures required: every module must be signed by one of the trusted keys {}", key_ids(p->trusted_keys));
  }
  auto oci = oci_settings_from_env(max_module_bytes);
  if (!oci) return oci.take_error();
  if (!oci->allowed_registries.empty()) p->oci = std::make_shared<registry::OciClient>(std::move(*oci));
  return std::shared_ptr<const registry::Provenance>(std::move(p));
}

}  // namespace wasimancer::cli
