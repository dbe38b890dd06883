// cli/serve_command.hpp: `wasimancer serve` (also the default with no subcommand).
#pragma once

#include <CLI/CLI.hpp>

namespace wasimancer::cli {

// Registers `serve` on `app` and returns it; `run_default` is set to a function that runs the
// server with the same options when no subcommand is given.
CLI::App* add_serve_command(CLI::App& app, int* exit_code);

}  // namespace wasimancer::cli
