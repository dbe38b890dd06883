// tests/support/paths.hpp: where the tests find the binary and the plugins (paths CMake compiles
// in; see tests/support/CMakeLists.txt), and the third-party plugin corpus.
//
// The corpus (../shared/plugins next to the repository: CATALOG.md and ~82 Extism plugins) is not
// part of the repository. WASIMANCER_FIXTURES points at it when it lives elsewhere
// (WASIMANCER_SHARED_PLUGINS, its older name, still works). A test that needs it is written
// FIXTURE_TEST(Suite, Name) (or a fixture class derived from NeedsFixtures): without the corpus
// it is reported as skipped, saying where it looked.
//
// Ownership: plain string values. Thread safety: pure functions, safe from any thread.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace wasimancer::test {

// The wasimancer binary under test.
inline std::string binary() { return WASIMANCER_BINARY; }
// Plugins built from tests/plugins (C and wat sources).
inline std::string test_plugin(const std::string& name) { return std::string(WASIMANCER_TEST_PLUGIN_DIR) + "/" + name + ".wasm"; }

// The third-party plugin corpus: WASIMANCER_FIXTURES, WASIMANCER_SHARED_PLUGINS, or the
// ../shared/plugins that CMake was configured with (-DWASIMANCER_SHARED_DIR).
inline std::string fixtures_dir() {
  for (const char* name : {"WASIMANCER_FIXTURES", "WASIMANCER_SHARED_PLUGINS"}) {
    if (const char* e = std::getenv(name); e && *e) return e;
  }
  return WASIMANCER_SHARED_PLUGINS_DIR;
}
// Whether the corpus is there (its index, CATALOG.md, marks it).
inline bool fixtures_present() {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path(fixtures_dir()) / "CATALOG.md", ec);
}
inline std::string shared_plugins_dir() { return fixtures_dir(); }
inline std::string shared_plugin(const std::string& rel) { return fixtures_dir() + "/" + rel; }

// Base of every test that needs the corpus: skipped (not failed) without it.
class NeedsFixtures : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fixtures_present()) {
      GTEST_SKIP() << "the third-party plugin corpus is not at " << fixtures_dir()
                   << " (set WASIMANCER_FIXTURES to the folder holding CATALOG.md)";
    }
  }
};

}  // namespace wasimancer::test

// TEST(Suite, Name) for a test that needs the corpus.
#define FIXTURE_TEST(test_suite_name, test_name)                                    \
  GTEST_TEST_(test_suite_name, test_name, ::wasimancer::test::NeedsFixtures, \
              ::testing::internal::GetTypeId<::wasimancer::test::NeedsFixtures>())
