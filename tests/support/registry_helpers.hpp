// tests/support/registry_helpers.hpp: loading our test plugins as registry PluginVersions and
// calling them, shared by the registry suites.
//
// Ownership: the versions returned are shared, as the registry shares them. Thread safety: the
// helpers keep no state; PluginVersion::call is safe from any thread.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "core/files.hpp"
#include "paths.hpp"
#include "registry/plugin_spec.hpp"
#include "registry/plugin_version.hpp"
#include "sandbox/sandbox.hpp"

namespace wasimancer::test {

// Load options that run plugins in sandbox workers (the wasimancer binary as the worker program:
// test binaries are not it). Owns the Sandbox; `options` points at it, so it is not copyable.
struct Sandboxed {
  Sandboxed() : sandbox(config()) { options.sandbox = &sandbox; }
  Sandboxed(const Sandboxed&) = delete;
  Sandboxed& operator=(const Sandboxed&) = delete;
  static sandbox::SandboxConfig config() {
    sandbox::SandboxConfig c;
    c.worker_program = binary();
    return c;
  }
  sandbox::Sandbox sandbox;
  registry::LoadOptions options;
};

// A plugins.yml entry given as JSON; throws if it is not a valid one.
inline registry::PluginSpec spec_of(std::string_view spec_json) {
  auto r = registry::parse_plugin_spec(boost::json::parse(spec_json));
  if (!r) throw std::runtime_error(r.error().message);
  return *r;
}

// Loads build/plugins/<plugin>.wasm as the version `spec_json` describes (the load's own result:
// for tests of refused loads).
inline Result<std::shared_ptr<const registry::PluginVersion>> try_load_version(const std::string& plugin, std::string_view spec_json,
                                                                               const registry::LoadOptions& options = {}) {
  auto bytes = read_file(test_plugin(plugin));
  if (!bytes) throw std::runtime_error("cannot read test plugin " + plugin + ": " + bytes.error().message);
  std::span<const uint8_t> wasm(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
  return registry::load_plugin_version(spec_of(spec_json), wasm, test_plugin(plugin), options);
}

// The same, for a load that must succeed (throws otherwise).
inline std::shared_ptr<const registry::PluginVersion> load_version(const std::string& plugin, std::string_view spec_json,
                                                                   const registry::LoadOptions& options = {}) {
  auto v = try_load_version(plugin, spec_json, options);
  if (!v) throw std::runtime_error(plugin + ": " + v.error().message);
  return *v;
}

// Calls `fn` on a pooled instance; a failed call is a test failure. Returns the output.
inline std::string call_ok(const registry::PluginVersion& v, std::string_view fn, std::string_view input = "") {
  auto out = v.call(fn, input, {});
  EXPECT_TRUE(out.ok()) << fn << ": " << (out.error ? out.error->message : "");
  return out.output;
}

}  // namespace wasimancer::test
