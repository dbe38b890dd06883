// cli/main.cpp: the composition root. The only code that sees every layer.
#include <CLI/CLI.hpp>

#include "cli/admin_client.hpp"
#include "cli/call_command.hpp"
#include "cli/serve_command.hpp"
#include "cli/signals.hpp"

#ifndef WASIMANCER_VERSION
#define WASIMANCER_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  // First, before any thread exists: every thread inherits this mask (cli/signals.hpp).
  wasimancer::cli::block_stop_signals();

  CLI::App app{"wasimancer: an MCP server for Extism WebAssembly plugins.\n"
               "With no command, runs `serve`. `wasimancer COMMAND --help` describes each command; "
               "`man wasimancer` is the reference."};
  app.set_version_flag("--version", "wasimancer " WASIMANCER_VERSION, "Print the version and exit");
  app.require_subcommand(0, 1);
  int exit_code = 0;
  wasimancer::cli::add_call_command(app, &exit_code);
  CLI::App* serve = wasimancer::cli::add_serve_command(app, &exit_code);
  wasimancer::cli::add_admin_commands(app, &exit_code);
  try {
    app.parse(argc, argv);
    if (app.get_subcommands().empty()) serve->parse(std::vector<std::string>{});  // `wasimancer` = `wasimancer serve`
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
