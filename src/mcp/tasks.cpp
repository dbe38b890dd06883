#include "mcp/tasks.hpp"

#include <ctime>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "mcp/notifications.hpp"
#include "mcp/input_sink.hpp"
#include "mcp/results.hpp"
#include "mcp/tools.hpp"

namespace wasimancer::mcp {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string iso8601(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms % 1000));
}

RpcError missing_extension() {
  return RpcError{kMissingRequiredClientCapability,
                  fmt::format("Missing required client capability: the {} extension", kTasksExtension),
                  json::value(json::object{{"requiredCapabilities", json::object{{"extensions", json::object{{kTasksExtension, json::object{}}}}}}})};
}

// A task's run reports its requests nowhere: the task itself carries the outcome.
class TaskOutbound : public Outbound {
 public:
  void send(json::object) override {}
  bool is_open() const override { return false; }
};

}  // namespace

bool has_tasks_extension(const json::object& caps) {
  auto* ext = caps.if_contains("extensions");
  return ext && ext->is_object() && ext->as_object().contains(kTasksExtension);
}

Tasks::Tasks(Server& server, std::unique_ptr<TaskStore> store) : server_(server), store_(std::move(store)) {
  server_.add_method("tasks/get", {[this](const RequestPtr& r) { get(r); }, Server::kStateless});
  server_.add_method("tasks/update", {[this](const RequestPtr& r) { update(r); }, Server::kStateless});
  server_.add_method("tasks/cancel", {[this](const RequestPtr& r) { cancel(r); }, Server::kStateless});
}

bool Tasks::gate(const RequestPtr& r) {
  if (has_tasks_extension(r->session->client_capabilities())) return true;
  server_.answer(*r, missing_extension());
  return false;
}

json::object Tasks::detailed(const Task& t) const {
  json::object o{{"taskId", t.id},
                 {"status", t.status},
                 {"createdAt", iso8601(t.created_ms)},
                 {"lastUpdatedAt", iso8601(t.updated_ms)},
                 {"ttlMs", t.ttl_ms},
                 {"pollIntervalMs", t.poll_interval_ms}};
  if (!t.status_message.empty()) o["statusMessage"] = t.status_message;
  if (t.status == "input_required") o["inputRequests"] = t.input_requests;
  if (t.result) o["result"] = *t.result;
  if (t.error) o["error"] = *t.error;
  return o;
}

bool Tasks::start(const RequestPtr& r, const registry::ToolRef& ref, const json::object& args, const std::optional<json::object>& answers,
                  const FunctionOptions& options) {
  if (options.task_support == TaskSupport::Forbidden) return false;
  bool ext = has_tasks_extension(r->session->client_capabilities());
  if (!ext) {
    if (options.task_support != TaskSupport::Required) return false;  // runs synchronously
    server_.answer(*r, missing_extension());
    return true;
  }
  // A tool that gathers its inputs first runs synchronously (multi-round-trip) until the client
  // sends answers; then it becomes a task.
  bool resumed = answers && (!answers->empty() || r->params.contains("requestState"));
  if (options.inputs_before_task && !resumed) return false;

  Task t;
  t.id = random_token(16);
  t.tool = ref.function->tool_name;
  t.arguments = args;
  t.client_capabilities = r->session->client_capabilities();
  t.protocol_version = r->version;
  if (answers) t.answers = *answers;
  t.created_ms = t.updated_ms = now_ms();
  t.ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(server_.config().task_result_ttl).count();
  t.poll_interval_ms = 500;
  store_->remove_expired(now_ms());
  if (auto ok = store_->create(t); !ok) {
    server_.answer(*r, RpcError{kInternalError, ok.error().message, std::nullopt});
    return true;
  }
  // The task exists before the client hears of it (a tasks/get right after finds it).
  json::object created = detailed(t);
  created["resultType"] = "task";
  // CallToolResult requires content in the core schema: an empty list keeps this answer a
  // valid tools/call result for readers that do not know tasks.
  created["content"] = json::array{};
  server_.answer(*r, json::value(std::move(created)));
  launch(t);
  return true;
}

void Tasks::launch(const Task& task) {
  auto snap = server_.catalogs().plugins.snapshot();
  const registry::ToolRef* ref = snap->find_tool(task.tool);
  if (!ref) {
    auto t = store_->update(task.id, [](Task& x) {
      if (x.terminal()) return false;
      x.status = "failed";
      x.error = json::object{{"code", kInternalError}, {"message", "the tool was removed before the task could run"}};
      x.updated_ms = now_ms();
      return true;
    });
    if (t) changed(*t);
    return;
  }
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mu_);
    running_[task.id] = cancel;
  }
  // The run's request: the task's, with no client to talk to.
  auto r = std::make_shared<Request>();
  auto session = std::make_shared<Session>("", Session::Kind::Stateless, task.protocol_version);
  session->record_initialize(task.protocol_version, task.client_capabilities, {});
  session->mark_initialized();
  r->session = session;
  r->id = json::string(task.id);
  r->method = "tools/call";
  r->params = json::object{{"name", task.tool}, {"arguments", task.arguments}};
  r->reply = std::make_shared<TaskOutbound>();
  r->version = task.protocol_version;
  r->features = features_of(task.protocol_version);
  FunctionOptions options = function_options(ref->plugin->spec, *ref->function);
  std::string id = task.id;
  server_.tools().run(r, *ref, task.arguments, task.answers, options, cancel, [this, id](Tools::RunOutcome out) {
    {
      std::lock_guard lock(mu_);
      running_.erase(id);
    }
    auto t = store_->update(id, [&](Task& x) {
      if (x.terminal()) return false;  // cancelled meanwhile
      x.updated_ms = now_ms();
      if (out.input_required) {
        x.status = "input_required";
        x.input_requests = out.input_requests;
        x.status_message = "waiting for the client's input";
        return true;
      }
      x.input_requests = json::object{};
      const auto& err = out.call.error;
      bool fault = err && (err->kind == ErrorKind::Trap || err->kind == ErrorKind::Timeout || err->kind == ErrorKind::OutOfMemory ||
                           err->kind == ErrorKind::HostError || err->kind == ErrorKind::Crash || err->kind == ErrorKind::Cancelled ||
                           err->kind == ErrorKind::Internal);
      if (fault) {
        // The plugin did not finish (a trap, a limit, a host fault): a protocol-level failure.
        x.status = "failed";
        x.error = json::object{{"code", kInternalError},
                               {"message", fmt::format("the tool did not finish: {}", err->message)},
                               {"data", json::object{{"kind", to_string(err->kind)}}}};
        x.status_message = to_string(err->kind);
      } else {
        // It ran: a tool error is a completed task whose result has isError.
        x.status = "completed";
        x.result = out.result;
        x.status_message.clear();
      }
      return true;
    });
    if (t) changed(*t);
  });
}

void Tasks::changed(const Task& t) {
  json::object params{{"taskId", t.id}, {"status", t.status}};
  if (!t.status_message.empty()) params["statusMessage"] = t.status_message;
  if (t.result) params["result"] = *t.result;
  if (t.error) params["error"] = *t.error;
  server_.notifier().task_status(std::move(params));
}

void Tasks::get(const RequestPtr& r) {
  if (!gate(r)) return;
  auto id = get_string(r->params, "taskId");
  if (!id) return server_.answer(*r, invalid_params("tasks/get: \"taskId\" must be a string"));
  auto t = store_->get(*id);
  if (!t) return server_.answer(*r, invalid_params(fmt::format("Unknown task: {}", *id)));
  server_.answer(*r, json::value(detailed(*t)));
}

void Tasks::update(const RequestPtr& r) {
  if (!gate(r)) return;
  auto id = get_string(r->params, "taskId");
  if (!id) return server_.answer(*r, invalid_params("tasks/update: \"taskId\" must be a string"));
  auto given = InputCollector::parse_input_responses(r->params);
  if (auto* e = std::get_if<RpcError>(&given)) return server_.answer(*r, *e);
  const auto& responses = std::get<json::object>(given);
  bool resume = false;
  auto t = store_->update(*id, [&](Task& x) {
    if (x.status != "input_required") return false;
    for (const auto& kv : responses) {
      if (!x.input_requests.contains(kv.key())) continue;  // unknown keys are ignored
      x.answers[kv.key()] = kv.value();
      x.input_requests.erase(kv.key());
    }
    if (x.input_requests.empty()) {
      x.status = "working";
      x.status_message.clear();
      resume = true;
    }
    x.updated_ms = now_ms();
    return true;
  });
  if (!t) return server_.answer(*r, invalid_params(fmt::format("Unknown task: {}", *id)));
  server_.answer(*r, json::value(json::object{}));
  if (resume) {
    changed(*t);
    launch(*t);
  }
}

void Tasks::cancel(const RequestPtr& r) {
  if (!gate(r)) return;
  auto id = get_string(r->params, "taskId");
  if (!id) return server_.answer(*r, invalid_params("tasks/cancel: \"taskId\" must be a string"));
  bool now_cancelled = false;
  auto t = store_->update(*id, [&](Task& x) {
    if (x.terminal()) return false;  // idempotent on a finished task
    x.status = "cancelled";
    x.status_message = "cancelled by the client";
    x.input_requests = json::object{};
    x.updated_ms = now_ms();
    now_cancelled = true;
    return true;
  });
  if (!t) return server_.answer(*r, invalid_params(fmt::format("Unknown task: {}", *id)));
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(*id); it != running_.end()) it->second->store(true);
  }
  server_.answer(*r, json::value(json::object{}));
  if (now_cancelled) changed(*t);
}

}  // namespace wasimancer::mcp
