#include "cli/dist_settings.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/signature.hpp"

namespace wasimancer::cli {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

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
