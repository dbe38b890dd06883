// mcp/server.hpp: the MCP server proper: sessions, method dispatch, change notifications.
//
// Independent of sockets: transports hand it parsed messages together with the Outbound where
// the answers go. Fast methods answer on the calling (network) thread; tools/call runs the
// plugin on the worker pool and answers from there.
//
// Ownership: the Server borrows the catalogs and the worker pool (the composition root owns
// them and keeps them alive longer). Thread safety: every public method is safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "core/trace.hpp"
#include "core/worker_pool.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/session.hpp"
#include "registry/catalog.hpp"
#include "registry/registry.hpp"

namespace wasimancer::mcp {

struct ServerConfig {
  std::string name = "wasimancer";
  std::string version = "0.1.0";
  std::string instructions;
  size_t page_size = 100;                                     // items per list page
  size_t max_sessions = 1000;                                 // oldest idle ones are evicted first
  std::chrono::seconds session_idle_timeout{3600};            // sessions idle longer are ended
  std::chrono::milliseconds list_changed_debounce{100};       // bursts of changes -> one notification
  std::chrono::seconds client_request_timeout{600};           // sampling/elicitation answers
};

struct Catalogs {
  registry::Registry& plugins;
  registry::ResourceCatalog& resources;
  registry::PromptCatalog& prompts;
};

class Server {
 public:
  Server(Catalogs catalogs, WorkerPool& workers, ServerConfig config);
  // Cancels the calls still running and waits for them (see shutdown()).
  ~Server();

  // Ends every session and cancels every tool call in flight (stateless ones too), then waits
  // until their tasks have finished. Idempotent.
  void shutdown();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // A new session registered in the session table (nullptr never: the oldest idle session is
  // evicted when the table is full). Stateless sessions are not registered.
  std::shared_ptr<Session> create_session(Session::Kind kind);
  std::shared_ptr<Session> find_session(const std::string& id) const;
  void end_session(const std::string& id);
  size_t session_count() const;
  // For /metrics: sessions by transport (streamable, legacy, stdio) and protocol revision, and
  // how many of them have a stream open.
  struct SessionCount {
    std::string transport, protocol;
    size_t sessions = 0, streams = 0;
  };
  std::vector<SessionCount> session_counts() const;

  // Handles one message from the client. Requests are answered on `reply` (possibly later, from
  // a worker), followed by reply->request_done(id). Responses to our own requests are routed to
  // the call waiting for them.
  void handle(const std::shared_ptr<Session>& session, const json::value& message, const std::shared_ptr<Outbound>& reply);

  const ServerConfig& config() const { return config_; }

 private:
  using Handled = std::variant<json::value, RpcError>;

  void handle_request(const std::shared_ptr<Session>& session, const json::object& req, const std::shared_ptr<Outbound>& reply);
  void handle_notification(const std::shared_ptr<Session>& session, const json::object& note);
  void answer(const std::shared_ptr<Outbound>& reply, const json::value& id, Handled result);

  Handled initialize(Session& session, const json::object& params);
  Handled tools_list(Session& session, const json::object& params);
  void tools_call(const std::shared_ptr<Session>& session, const json::value& id, const json::object& params,
                  const std::shared_ptr<Outbound>& reply, std::shared_ptr<trace::Span> span);
  Handled resources_list(Session& session, const json::object& params, bool templates);
  Handled resources_read(Session& session, const json::object& params);
  Handled resources_subscribe(Session& session, const json::object& params, bool subscribe);
  Handled prompts_list(Session& session, const json::object& params);
  Handled prompts_get(Session& session, const json::object& params);
  Handled completion_complete(Session& session, const json::object& params);
  Handled logging_set_level(Session& session, const json::object& params);

  std::vector<std::shared_ptr<Session>> all_sessions() const;  // a copy of the session table

  // Change notifications: coalesced, then sent to every session.
  void mark_changed(int which);
  void notifier_loop();
  void resource_changed(const registry::CatalogChange& change);

  Catalogs catalogs_;
  WorkerPool& workers_;
  ServerConfig config_;

  mutable std::mutex sessions_mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;

  // Cancel flags of the tool calls queued or running; shutdown() sets them and waits.
  std::mutex calls_mu_;
  std::condition_variable calls_cv_;
  std::set<std::shared_ptr<std::atomic<bool>>> calls_;
  bool shut_down_ = false;
  uint64_t listener_tokens_[3] = {0, 0, 0};

  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  bool changed_[3] = {false, false, false};  // tools, resources, prompts
  bool stopping_ = false;
  std::thread notifier_;
};

}  // namespace wasimancer::mcp
