#include "mcp/task_store.hpp"

#include <fmt/format.h>

namespace wasimancer::mcp {

namespace json = boost::json;

json::object Task::to_json() const {
  json::object o{{"id", id},
                 {"status", status},
                 {"statusMessage", status_message},
                 {"tool", tool},
                 {"arguments", arguments},
                 {"clientCapabilities", client_capabilities},
                 {"protocolVersion", protocol_version},
                 {"answers", answers},
                 {"inputRequests", input_requests},
                 {"createdMs", created_ms},
                 {"updatedMs", updated_ms},
                 {"ttlMs", ttl_ms},
                 {"pollIntervalMs", poll_interval_ms}};
  if (result) o["result"] = *result;
  if (error) o["error"] = *error;
  return o;
}

std::optional<Task> Task::from_json(const json::object& o) {
  try {
    Task t;
    t.id = std::string(o.at("id").as_string());
    t.status = std::string(o.at("status").as_string());
    t.status_message = std::string(o.at("statusMessage").as_string());
    t.tool = std::string(o.at("tool").as_string());
    t.arguments = o.at("arguments").as_object();
    t.client_capabilities = o.at("clientCapabilities").as_object();
    t.protocol_version = std::string(o.at("protocolVersion").as_string());
    t.answers = o.at("answers").as_object();
    t.input_requests = o.at("inputRequests").as_object();
    t.created_ms = o.at("createdMs").to_number<int64_t>();
    t.updated_ms = o.at("updatedMs").to_number<int64_t>();
    t.ttl_ms = o.at("ttlMs").to_number<int64_t>();
    t.poll_interval_ms = o.at("pollIntervalMs").to_number<int64_t>();
    if (auto* r = o.if_contains("result")) t.result = r->as_object();
    if (auto* e = o.if_contains("error")) t.error = e->as_object();
    return t;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Result<void> MemoryTaskStore::create(const Task& task) {
  std::lock_guard lock(mu_);
  if (tasks_.size() >= max_) {
    return Error(ErrorKind::Internal, fmt::format("too many tasks are kept ({}); try again once some have expired", max_));
  }
  if (!tasks_.emplace(task.id, task).second) return Error(ErrorKind::AlreadyExists, "a task with this id exists");
  return {};
}

std::optional<Task> MemoryTaskStore::get(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  return it->second;
}

std::optional<Task> MemoryTaskStore::update(const std::string& id, const std::function<bool(Task&)>& change) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  Task copy = it->second;
  if (change(copy)) it->second = std::move(copy);
  return it->second;
}

size_t MemoryTaskStore::remove_expired(int64_t now_ms) {
  std::lock_guard lock(mu_);
  return std::erase_if(tasks_, [now_ms](const auto& kv) { return kv.second.updated_ms + kv.second.ttl_ms < now_ms; });
}

}  // namespace wasimancer::mcp
