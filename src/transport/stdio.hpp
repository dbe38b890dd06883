// transport/stdio.hpp: MCP over stdin/stdout, for clients that launch the server themselves.
//
// One JSON-RPC message per line in each direction. stdout carries protocol messages only (the
// logger writes to stderr). Returns when stdin reaches end of file; requests still running then
// are given a moment to finish.
// Ownership: borrows the server. Thread safety: run_stdio() blocks the calling thread; answers
// come from workers too, and writes to `out` are serialised.
#pragma once

#include <cstdio>

#include "mcp/server.hpp"

namespace wasimancer::transport {

// Serves one stdio session until EOF on `in`. Returns the process exit code.
int run_stdio(mcp::Server& server, std::FILE* in = stdin, std::FILE* out = stdout);

}  // namespace wasimancer::transport
