// cli/serve_command.hpp: `wasimancer serve` (also the default with no subcommand).
#pragma once

#include <CLI/CLI.hpp>

namespace wasimancer::cli {

// Registers `serve` on `app` and returns it (main parses it with no arguments when no subcommand
// is given); its callback runs the server until SIGINT/SIGTERM or, with --stdio, until stdin
// ends, and stores the exit code in *exit_code. Main thread only.
CLI::App* add_serve_command(CLI::App& app, int* exit_code);

}  // namespace wasimancer::cli
