// mcp/tools.hpp: tools/list and tools/call. A call runs the plugin on the worker pool through
// PluginVersion::call with a CallSink that carries the plugin's side effects (logs, progress,
// sampling, elicitation) to this client.
//
// Ownership: owned by the Server, borrows it. Thread safety: handlers run on any thread.
#pragma once

#include "mcp/server.hpp"

namespace wasimancer::mcp {

class Tools {
 public:
  explicit Tools(Server& server);

 private:
  void list(const RequestPtr& r);
  void call(const RequestPtr& r);

  Server& server_;
};

// The result of a tools/call from what the plugin returned (exposed for tests).
json::object tool_result(const host::CallOutcome& out, const registry::FunctionSpec& fn, const std::string& version);

}  // namespace wasimancer::mcp
