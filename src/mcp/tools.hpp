// mcp/tools.hpp: tools/list and tools/call. A call runs the plugin on the worker pool through
// PluginVersion::call with a CallSink that carries the plugin's side effects (logs, progress,
// sampling, elicitation) to this client.
//
// Ownership: owned by the Server, borrows it. Thread safety: handlers run on any thread.
#pragma once

#include <functional>
#include <optional>

#include "mcp/entry_options.hpp"
#include "mcp/server.hpp"

namespace wasimancer::mcp {

class Tools {
 public:
  explicit Tools(Server& server);

  // Runs a tool on the worker pool and calls `done` with its result (or an InputRequiredResult
  // when `answers` is set and the plugin asked for input it has no answer for yet), or an error.
  // `done` is not called when the call was cancelled (request_done is). `answers`: nullopt for
  // the stateful era (the plugin's requests go to the client over the session).
  using Done = std::function<void(json::value result, std::optional<RpcError> error)>;
  void run(const RequestPtr& r, const registry::ToolRef& ref, json::object args, std::optional<json::object> answers,
           const FunctionOptions& options, Done done, std::shared_ptr<std::atomic<bool>> cancel = nullptr);

 private:
  void list(const RequestPtr& r);
  void call(const RequestPtr& r);

  Server& server_;
};

// The result of a tools/call from what the plugin returned (exposed for tests).
json::object tool_result(const host::CallOutcome& out, const registry::FunctionSpec& fn, const std::string& version);

}  // namespace wasimancer::mcp
