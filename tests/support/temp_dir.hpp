// tests/support/temp_dir.hpp: a fresh directory for one test, and whole-file read/write helpers.
//
// Ownership: a TempDir owns its directory and removes it, with everything in it, when destroyed.
// Thread safety: path() may be read from any thread; the file helpers are safe from any thread
// (concurrent writers to one file are the caller's problem).
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/files.hpp"

namespace wasimancer::test {

class TempDir {
 public:
  // Creates <system temp dir>/wm-test-XXXXXX (mkdtemp: unique, mode 0700); the path is canonical,
  // so it compares equal to paths the code under test resolves.
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wm-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = std::filesystem::canonical(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The whole content of `p` (a test failure, and "", if it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  auto r = read_file(p);
  EXPECT_TRUE(r.ok()) << p << ": " << r.error().message;
  return r.ok() ? *r : std::string();
}

// Writes `text` to `p` (creating its folder), replacing what was there.
inline void spit(const std::filesystem::path& p, std::string_view text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + p.string());
}

}  // namespace wasimancer::test
