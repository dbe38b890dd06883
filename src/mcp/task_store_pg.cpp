#include "mcp/task_store_pg.hpp"

#include "core/log.hpp"

namespace wasimancer::mcp {

namespace json = boost::json;

namespace {

std::optional<Task> parse_task(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return Task::from_json(v.as_object());
}

}  // namespace

Result<void> PgTaskStore::create(const Task& task) {
  return db_.create_task(task.id, json::serialize(task.to_json()), task.updated_ms + task.ttl_ms);
}

std::optional<Task> PgTaskStore::get(const std::string& id) {
  auto body = db_.get_task(id);
  if (!body) {
    log().warn("task {}: {}", id, body.error().message);
    return std::nullopt;
  }
  if (!*body) return std::nullopt;
  return parse_task(**body);
}

std::optional<Task> PgTaskStore::update(const std::string& id, const std::function<bool(Task&)>& change) {
  auto body = db_.update_task(id, [&](std::string& text, int64_t& expires_ms) {
    auto t = parse_task(text);
    if (!t || !change(*t)) return false;
    text = json::serialize(t->to_json());
    expires_ms = t->updated_ms + t->ttl_ms;
    return true;
  });
  if (!body) {
    log().warn("task {}: {}", id, body.error().message);
    return std::nullopt;
  }
  if (!*body) return std::nullopt;
  return parse_task(**body);
}

size_t PgTaskStore::remove_expired(int64_t) {
  auto n = db_.remove_expired_tasks();
  return n ? *n : 0;
}

}  // namespace wasimancer::mcp
