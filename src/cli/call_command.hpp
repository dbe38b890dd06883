// cli/call_command.hpp: `wasimancer call`, run one plugin function like `extism call`.
#pragma once

#include <CLI/CLI.hpp>

namespace wasimancer::cli {

// Registers the subcommand on `app`; the callback runs it and stores the exit code in *exit_code.
// Main thread only.
void add_call_command(CLI::App& app, int* exit_code);

}  // namespace wasimancer::cli
