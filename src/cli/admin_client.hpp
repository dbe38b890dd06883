// cli/admin_client.hpp: `wasimancer plugin|resource|prompt|observe ...`, a client for the admin API.
//
// Reads the server URL and admin token from flags or WASIMANCER_URL and WASIMANCER_ADMIN_TOKEN
// (or WASIMANCER_TOKEN). Exit code 0 on success with the server's answer on stdout; on failure
// the server's message on stderr and a non-zero code (1 for an HTTP error, 2 for usage errors,
// 3 when the server cannot be reached). Main thread only (one blocking request per command).
#pragma once

#include <CLI/CLI.hpp>

namespace wasimancer::cli {

void add_admin_commands(CLI::App& app, int* exit_code);

}  // namespace wasimancer::cli
