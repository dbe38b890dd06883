// mcp/task_store.hpp: where tasks (the io.modelcontextprotocol/tasks extension) are kept.
//
// A small interface so another store (PostgreSQL, shared by replicas) can replace the
// in-memory one: a Task is plain data and round-trips through JSON (to_json / from_json).
// create() returns only once the task is stored (a tasks/get right after must find it);
// update() is an atomic read-modify-write.
//
// Ownership: the Server owns its store. Thread safety: every method of every implementation is
// safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "core/error.hpp"

namespace wasimancer::mcp {

struct Task {
  std::string id;
  std::string status = "working";  // working | input_required | completed | failed | cancelled
  std::string status_message;
  std::string tool;
  boost::json::object arguments;
  boost::json::object client_capabilities;  // of the request that created it (for re-runs)
  std::string protocol_version;
  boost::json::object answers;         // the client's answers so far
  boost::json::object input_requests;  // pending (status input_required)
  std::optional<boost::json::object> result;  // completed
  std::optional<boost::json::object> error;   // failed: {code, message, data?}
  int64_t created_ms = 0, updated_ms = 0;     // milliseconds since the epoch
  int64_t ttl_ms = 0;                         // kept until updated_ms + ttl_ms
  int64_t poll_interval_ms = 0;

  bool terminal() const { return status == "completed" || status == "failed" || status == "cancelled"; }
  boost::json::object to_json() const;
  static std::optional<Task> from_json(const boost::json::object& o);
};

class TaskStore {
 public:
  virtual ~TaskStore() = default;
  virtual Result<void> create(const Task& task) = 0;
  virtual std::optional<Task> get(const std::string& id) = 0;
  // Applies `change` atomically and returns the task as stored after it; nullopt if unknown.
  // `change` returns false to leave the task as it was.
  virtual std::optional<Task> update(const std::string& id, const std::function<bool(Task&)>& change) = 0;
  // Forgets tasks whose time is up; returns how many.
  virtual size_t remove_expired(int64_t now_ms) = 0;
};

class MemoryTaskStore : public TaskStore {
 public:
  explicit MemoryTaskStore(size_t max_tasks) : max_(max_tasks) {}
  Result<void> create(const Task& task) override;
  std::optional<Task> get(const std::string& id) override;
  std::optional<Task> update(const std::string& id, const std::function<bool(Task&)>& change) override;
  size_t remove_expired(int64_t now_ms) override;

 private:
  size_t max_;
  std::mutex mu_;
  std::map<std::string, Task> tasks_;
};

}  // namespace wasimancer::mcp
