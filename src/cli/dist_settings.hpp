// cli/dist_settings.hpp: the distribution settings from the environment (README "Distribution
// and signatures"): WASIMANCER_TRUSTED_KEYS, WASIMANCER_OCI_REGISTRIES, WASIMANCER_OCI_PLAIN_HTTP,
// WASIMANCER_OCI_AUTH_FILE. Thread safety: call from the main thread at start-up.
#pragma once

#include <memory>

#include "core/error.hpp"
#include "registry/provenance.hpp"

namespace wasimancer::cli {

// InvalidArgument names the variable and what is wrong with it (the server refuses to start).
Result<std::shared_ptr<const registry::Provenance>> provenance_from_env(uint64_t max_module_bytes);

// The OCI settings alone (also used by the CLI's push).
Result<registry::OciSettings> oci_settings_from_env(uint64_t max_module_bytes);

}  // namespace wasimancer::cli
