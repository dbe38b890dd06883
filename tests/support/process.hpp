// tests/support/process.hpp: run a program and capture what it prints.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace wasimancer::test {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal or the timeout
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs argv[0] with argv, feeding `input` on stdin; kills it after `timeout`.
// `env` entries are added to (or replace) the inherited environment.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "",
                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          const std::map<std::string, std::string>& env = {});

}  // namespace wasimancer::test
