// mcp/server.hpp: the MCP server proper: sessions, a table of methods, and the features that
// fill it (tools.cpp, resources.cpp, prompts.cpp, notifications.cpp, lifecycle.cpp).
//
// Independent of sockets: transports hand it messages (classified once, by inspect()) together
// with the Outbound where the answers go. Fast methods answer on the calling (network) thread;
// tools/call runs the plugin on the worker pool and answers from there.
//
// Both protocol eras go through the same table: each method says in which era it exists
// (initialize, ping, logging/setLevel and resources/(un)subscribe only in the stateful one;
// server/discover and subscriptions/listen only in the stateless one). The era of a request is
// its session's protocol version; stateless requests get a short-lived Session built from their
// _meta (stateless_session()).
//
// Ownership: the Server borrows the catalogs and the worker pool (the composition root owns
// them and keeps them alive longer) and owns its features. Thread safety: every public method is
// safe from any thread; add_method() only from the features' constructors.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/json.hpp>

#include "core/metrics.hpp"
#include "core/trace.hpp"
#include "core/worker_pool.hpp"
#include "mcp/task_store.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/protocol.hpp"
#include "mcp/session.hpp"
#include "registry/catalog.hpp"
#include "registry/registry.hpp"

namespace wasimancer::mcp {

class RequestStateCodec;

struct ServerConfig {
  std::string name = "wasimancer";
  std::string version = "0.1.0";
  std::string instructions;
  size_t page_size = 100;                                     // items per list page
  // Sessions at most, and per client (the transport's client address): a client at its own
  // limit loses its own least recently used session; a full table loses the least recently used
  // session of the client holding the most, so one client cannot push the others out.
  size_t max_sessions = 1000;
  size_t max_sessions_per_client = 100;                       // 0: no per-client limit
  // The largest output of one tool call, in bytes (a larger one becomes an isError result).
  size_t max_output_bytes = 4u << 20;
  std::chrono::seconds session_idle_timeout{3600};            // sessions idle longer are ended
  std::chrono::milliseconds list_changed_debounce{100};       // bursts of changes -> one notification
  std::chrono::seconds client_request_timeout{600};           // sampling/elicitation answers
  // 2026-07-28: default cache hints of list results (ttlMs, cacheScope); plugins.yml and
  // resources.yml entries may set their own.
  int64_t list_ttl_ms = 60000;
  int64_t read_ttl_ms = 0;
  // 2026-07-28 multi-round-trip: the HMAC key of requestState (empty: random per process; set
  // the same key on every replica behind a balancer), its lifetime and size limit.
  std::string request_state_key;
  std::chrono::seconds request_state_ttl{600};
  size_t max_request_state_bytes = 256 * 1024;
  // Tasks extension: how long a finished task's result is kept.
  std::chrono::seconds task_result_ttl{3600};
  size_t max_tasks = 10000;
  // Where tasks are kept (null: in memory, this process only). Several replicas share a
  // PgTaskStore (mcp/task_store_pg.hpp) so any of them answers tasks/get.
  std::function<std::unique_ptr<TaskStore>()> task_store;
  // Prepended to session ids ("<replica name>."; WASIMANCER_REPLICA_NAME) so a balancer can send
  // a session's requests to the replica that holds it. Empty: plain random ids.
  std::string session_id_prefix;
};

struct Catalogs {
  registry::Registry& plugins;
  registry::ResourceCatalog& resources;
  registry::PromptCatalog& prompts;
};

// One request as every feature's handler sees it.
struct Request {
  std::shared_ptr<Session> session;
  json::value id;
  std::string method;
  json::object params;  // a copy: handlers that answer later keep it
  std::shared_ptr<Outbound> reply;
  std::string version;  // the protocol version the request is served with
  VersionFeatures features{};
  std::string traceparent;  // W3C trace context from _meta or the HTTP header; may be empty
  // The request's span (mcp/observe.hpp): its context is the request's trace (the caller's
  // trace id, or a new one), on every log line written for it. Null for a task's run.
  std::shared_ptr<trace::Span> span;
  // wasimancer_mcp_requests_in_flight: held while the request lives.
  metrics::GaugeHold in_flight;
  bool stateless() const { return features.stateless; }
};
using RequestPtr = std::shared_ptr<const Request>;

class Tools;
class Resources;
class Prompts;
class Notifier;
class Tasks;

class Server {
 public:
  Server(Catalogs catalogs, WorkerPool& workers, ServerConfig config);
  // Cancels the calls still running and waits for them (see shutdown()).
  ~Server();

  // Graceful shutdown, first half: waits until every tool call in flight (queued ones included)
  // has finished, or `deadline` has passed; then shutdown(). Calls still running are answered
  // with a JSON-RPC error ("the server is shutting down").
  void drain(Clock::time_point deadline);
  // Cancels every tool call in flight (stateless ones too; their requests are answered with a
  // JSON-RPC error) and waits until their tasks have finished, then ends every session and
  // listen stream. Idempotent.
  void shutdown();
  bool shutting_down() const;
  size_t calls_in_flight() const;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // ---- sessions (lifecycle.cpp) ----
  // A new session registered in the session table, owned by `client` (the client's address,
  // or "" when unknown). Never nullptr: when `client` is at its own limit its least recently used
  // session is ended; when the table is full, the least recently used session of the client
  // holding the most sessions is. Stateless sessions are not registered.
  std::shared_ptr<Session> create_session(Session::Kind kind, const std::string& client = "");
  std::shared_ptr<Session> find_session(const std::string& id) const;
  void end_session(const std::string& id);
  size_t session_count() const;
  std::vector<std::shared_ptr<Session>> all_sessions() const;
  // For /metrics: sessions by transport (streamable, legacy, stdio) and protocol revision, and
  // their open streams (a session's standalone stream; 2026-07-28 subscriptions/listen streams,
  // which belong to no session, count as streams of sessions = 0).
  struct SessionCount {
    std::string transport, protocol;
    size_t sessions = 0, streams = 0;
  };
  std::vector<SessionCount> session_counts() const;

  // Which session a Streamable HTTP POST belongs to (the one place that decides it): an
  // initialize without a session id (or with a stale one) starts a session; a known id is that
  // session; an unknown id is 404; no id is a stateless request in the stateful era.
  struct SessionRoute {
    std::shared_ptr<Session> session;
    bool created = false;
    int http_status = 200;  // != 200: refuse with this status and error
    RpcError error;
  };
  SessionRoute route_post(const std::string& session_id, bool has_initialize, size_t message_count,
                          const std::string& version_header, const std::string& client = "");

  // A stateless-era request's _meta (io.modelcontextprotocol/protocolVersion and
  // clientCapabilities required; clientInfo, logLevel optional) -> a short-lived session.
  // Errors: -32602 for missing or malformed fields, -32022 (with data.supported/requested) for a
  // version we do not speak.
  std::variant<std::shared_ptr<Session>, RpcError> stateless_session(const json::object& params) const;
  // The protocol version a message's _meta names, if any (the mark of a stateless request).
  static std::optional<std::string> meta_protocol_version(const json::object& params);

  // ---- messages ----
  // Handles one message from the client. Requests are answered on `reply` (possibly later, from
  // a worker), followed by reply->request_done(id). Responses to our own requests are routed to
  // the call waiting for them.
  void handle(const std::shared_ptr<Session>& session, const json::value& message, const std::shared_ptr<Outbound>& reply);
  void dispatch(const std::shared_ptr<Session>& session, const Message& message, const std::shared_ptr<Outbound>& reply,
                std::string traceparent = "");

  // Whether `method` exists in the given era (for transports that must answer 404 early).
  bool has_method(std::string_view method, bool stateless) const;

  // ---- the method table (features register here) ----
  enum Era : unsigned { kStateful = 1, kStateless = 2, kAnyEra = 3 };
  using Handler = std::function<void(const RequestPtr&)>;
  struct Method {
    Handler handler;
    unsigned eras = kAnyEra;
    bool before_initialize = false;  // allowed before initialize on sessions that require it
  };
  void add_method(std::string name, Method method);

  // Answers a request: the result gets resultType (and our serverInfo in _meta) in the
  // stateless era. Then reply->request_done(id).
  void answer(const Request& request, json::value result) const;
  void answer(const Request& request, const RpcError& error) const;
  void answer(const Request& request, std::variant<json::value, RpcError> outcome) const;

  // ---- shared with the features ----
  const ServerConfig& config() const { return config_; }
  Catalogs& catalogs() { return catalogs_; }
  WorkerPool& workers() { return workers_; }
  Notifier& notifier() { return *notifier_; }
  RequestStateCodec& request_states() { return *request_states_; }
  Tools& tools() { return *tools_; }
  Tasks& tasks() { return *tasks_; }
  // Calls in flight (their cancel flags), so shutdown() can stop and wait for them. begin_call
  // sets the flag at once when the server is shutting down.
  void begin_call(const std::shared_ptr<std::atomic<bool>>& cancel);
  void end_call(const std::shared_ptr<std::atomic<bool>>& cancel);
  json::object server_info() const;
  json::object capabilities(const VersionFeatures& f) const;

 private:
  void handle_request(const std::shared_ptr<Session>& session, const Message& m, const std::shared_ptr<Outbound>& reply,
                      std::string traceparent);
  void handle_notification(const std::shared_ptr<Session>& session, const Message& m);
  void add_lifecycle_methods();

  Catalogs catalogs_;
  WorkerPool& workers_;
  ServerConfig config_;
  std::map<std::string, Method, std::less<>> methods_;

  mutable std::mutex sessions_mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
  std::map<std::string, std::string> session_client_;  // session id -> its client
  std::map<std::string, size_t> client_sessions_;      // client -> sessions it holds
  void forget_session_locked(const std::string& id);

  mutable std::mutex calls_mu_;
  std::condition_variable calls_cv_;
  std::set<std::shared_ptr<std::atomic<bool>>> calls_;
  bool shut_down_ = false;

  std::unique_ptr<RequestStateCodec> request_states_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<Tools> tools_;
  std::unique_ptr<Resources> resources_;
  std::unique_ptr<Prompts> prompts_;
  std::unique_ptr<Tasks> tasks_;
};

}  // namespace wasimancer::mcp
