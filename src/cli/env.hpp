// cli/env.hpp: reading settings from the environment, shared by the commands (serve, the admin
// client, the distribution settings). Plain values, no ownership. Thread safety: getenv is read
// at start-up, on the main thread, before other threads could change the environment.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wasimancer::cli {

// The variable's value; nullopt when it is unset or empty.
std::optional<std::string> env(const char* name);

// A comma-separated list: items trimmed of spaces, empty items dropped ("a, b,,c" -> a b c).
std::vector<std::string> split_list(std::string_view s);

}  // namespace wasimancer::cli
