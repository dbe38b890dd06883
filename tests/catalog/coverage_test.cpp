// Every .wasm file of the corpus (../shared/plugins or WASIMANCER_FIXTURES) must have a catalog test: a test source in this folder
// must name it as a string literal "owner-repo/file.wasm" (that is how catalog_cli.hpp's Cli
// takes a plugin). A new fixture without a test fails here instead of being skipped silently.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "paths.hpp"

namespace wasimancer::test {
namespace {

namespace fs = std::filesystem;

std::set<std::string> fixtures() {
  std::set<std::string> out;
  fs::path root = shared_plugins_dir();
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file() && e.path().extension() == ".wasm") out.insert(fs::relative(e.path(), root).generic_string());
  }
  return out;
}

// The plugin paths named in the catalog test sources, with the file that names each.
std::map<std::string, std::set<std::string>> named_in_tests() {
  std::map<std::string, std::set<std::string>> out;
  fs::path dir = fs::path(__FILE__).parent_path();
  static const std::regex literal(R"re("([A-Za-z0-9._-]+/[A-Za-z0-9._-]+\.wasm)")re");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name == "coverage_test.cpp") continue;
    if (e.path().extension() != ".cpp") continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), literal), end; it != end; ++it) out[(*it)[1].str()].insert(name);
  }
  return out;
}

FIXTURE_TEST(CatalogCoverage, FixturesFolderIsThere) {
  ASSERT_TRUE(fs::is_directory(shared_plugins_dir())) << shared_plugins_dir();
  EXPECT_GE(fixtures().size(), 80u) << "expected the ~82 fixtures of CATALOG.md";
}

FIXTURE_TEST(CatalogCoverage, EveryFixtureHasATest) {
  auto named = named_in_tests();
  std::vector<std::string> missing;
  for (const auto& f : fixtures())
    if (!named.count(f)) missing.push_back(f);
  std::string list;
  for (const auto& m : missing) list += "\n  " + m;
  EXPECT_TRUE(missing.empty()) << missing.size() << " fixture(s) under " << shared_plugins_dir()
                               << " have no test in tests/catalog/:" << list;
}

FIXTURE_TEST(CatalogCoverage, EveryNamedFixtureExists) {
  auto all = fixtures();
  for (const auto& [path, files] : named_in_tests()) {
    EXPECT_TRUE(all.count(path)) << path << " is named in " << *files.begin() << " but is not under "
                                 << shared_plugins_dir();
  }
}

}  // namespace
}  // namespace wasimancer::test
