// cli/main.cpp: the composition root. The only code that sees every layer.
#include <CLI/CLI.hpp>

#include "cli/admin_client.hpp"
#include "cli/call_command.hpp"
#include "cli/serve_command.hpp"
#include "cli/signals.hpp"
#include "core/log.hpp"
#include "engine/native.hpp"
#include "sandbox/worker.hpp"

#ifndef WASIMANCER_VERSION
#define WASIMANCER_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  // Internal commands the server starts itself (not for people): a sandbox worker, and the
  // native tier's instrumentation pass run as a supervised tool.
  // (`__worker PLUGIN-NAME`: the name is only there for ps.)
  if (argc >= 2 && argc <= 3 && std::string_view(argv[1]) == "__worker") return wasimancer::sandbox::worker_main(3);
  if (argc == 4 && std::string_view(argv[1]) == "__instrument-native") {
    return wasimancer::engine::instrument_native_command(argv[2], argv[3]);
  }

  // Then, before any thread exists: every thread inherits this mask (cli/signals.hpp).
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
  wasimancer::log().flush();  // lines below warn wait for the logger's batch (core/log.hpp)
  return exit_code;
}
