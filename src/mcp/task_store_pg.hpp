// mcp/task_store_pg.hpp: tasks kept in the shared PostgreSQL store, so any replica behind a load
// balancer answers tasks/get, tasks/result and tasks/cancel for a task another replica started.
// Tasks are stored as their JSON (Task::to_json) and expire at updated + ttl. The replica that
// started a task runs it and writes its progress; a cancel through another replica marks it
// cancelled in the table (the runner's later writes do not undo a terminal state: Tasks checks).
//
// When the database cannot be reached: create() fails (the request gets an error), get() and
// update() answer "unknown" (logged). Ownership: borrows the PgStore, which must outlive it.
// Thread safety: every method is safe from any thread.
#pragma once

#include "mcp/task_store.hpp"
#include "registry/store_pg.hpp"

namespace wasimancer::mcp {

class PgTaskStore : public TaskStore {
 public:
  explicit PgTaskStore(registry::PgStore& db) : db_(db) {}
  Result<void> create(const Task& task) override;
  std::optional<Task> get(const std::string& id) override;
  std::optional<Task> update(const std::string& id, const std::function<bool(Task&)>& change) override;
  size_t remove_expired(int64_t now_ms) override;

 private:
  registry::PgStore& db_;
};

}  // namespace wasimancer::mcp
