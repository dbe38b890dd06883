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

  // How one run of a tool ended.
  struct RunOutcome {
    host::CallOutcome call;         // what the plugin did
    json::object result;            // the tools/call result made from it
    bool input_required = false;    // the plugin asked for input it has no answer for yet
    json::object input_requests;    // key -> {method, params}
    json::object used_answers;      // the answers this run used (what a resumed run needs)
  };
  // Runs a tool on the worker pool and calls `done` from the worker (not when the call was
  // cancelled: then only r->reply->request_done(id)). `answers`: nullopt for the stateful era
  // (the plugin's requests go to the client over the session), else the answers collected so
  // far (multi-round-trip and tasks).
  using Done = std::function<void(RunOutcome)>;
  void run(const RequestPtr& r, const registry::ToolRef& ref, json::object args, std::optional<json::object> answers,
           const FunctionOptions& options, std::shared_ptr<std::atomic<bool>> cancel, Done done);

 private:
  void list(const RequestPtr& r);
  void call(const RequestPtr& r);

  Server& server_;
};

// The result of a tools/call from what the plugin returned (exposed for tests).
json::object tool_result(const host::CallOutcome& out, const registry::FunctionSpec& fn, const std::string& version);

}  // namespace wasimancer::mcp
