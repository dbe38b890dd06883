// tests/support/paths.hpp: where the tests find the binary and the plugins (paths CMake compiles
// in; see tests/support/CMakeLists.txt).
//
// Ownership: plain string values. Thread safety: pure functions, safe from any thread.
#pragma once

#include <cstdlib>
#include <string>

namespace wasimancer::test {

// The wasimancer binary under test.
inline std::string binary() { return WASIMANCER_BINARY; }
// Plugins built from tests/plugins (C and wat sources).
inline std::string test_plugin(const std::string& name) { return std::string(WASIMANCER_TEST_PLUGIN_DIR) + "/" + name + ".wasm"; }
// The third-party plugins in ../shared/plugins (override with WASIMANCER_SHARED_PLUGINS).
inline std::string shared_plugins_dir() {
  if (const char* e = std::getenv("WASIMANCER_SHARED_PLUGINS")) return e;
  return WASIMANCER_SHARED_PLUGINS_DIR;
}
inline std::string shared_plugin(const std::string& rel) { return shared_plugins_dir() + "/" + rel; }

}  // namespace wasimancer::test
