// mcp/tasks.hpp: the io.modelcontextprotocol/tasks extension (2026-07-28 requests that declare
// it in their client capabilities): a tools/call of a task-supporting tool (plugins.yml
// `taskSupport: optional|required`) returns a task at once and runs in the background;
// tasks/get, tasks/update (answers to the task's input requests) and tasks/cancel; status
// notifications (notifications/tasks) on subscriptions/listen streams of clients with the
// extension. A task waiting for input re-runs the plugin with the answers, as multi-round-trip
// requests do (input_sink.hpp). Results are kept for ServerConfig::task_result_ttl after the
// task's last change, in a TaskStore.
//
// Ownership: owned by the Server, borrows it and owns the store. Thread safety: every method is
// safe from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "mcp/entry_options.hpp"
#include "mcp/server.hpp"
#include "mcp/task_store.hpp"

namespace wasimancer::mcp {

bool has_tasks_extension(const json::object& client_capabilities);

class Tasks {
 public:
  Tasks(Server& server, std::unique_ptr<TaskStore> store);

  // Called by tools/call in the stateless era: true when the call was answered here (a task
  // was created, or the tool requires tasks and the client lacks the extension).
  bool start(const RequestPtr& r, const registry::ToolRef& ref, const json::object& args,
             const std::optional<json::object>& answers, const FunctionOptions& options);

  TaskStore& store() { return *store_; }

 private:
  void get(const RequestPtr& r);
  void update(const RequestPtr& r);
  void cancel(const RequestPtr& r);
  bool gate(const RequestPtr& r);  // -32021 without the extension
  void launch(const Task& task);   // runs (or re-runs) the task's tool in the background
  void changed(const Task& task);  // status notification
  json::object detailed(const Task& task) const;

  Server& server_;
  std::unique_ptr<TaskStore> store_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> running_;  // task id -> cancel flag
};

}  // namespace wasimancer::mcp
