// mcp/session.hpp: one client's protocol state, independent of any transport.
//
// Outbound is where messages for the client go; transports implement it (an SSE stream, a JSON
// response being collected, stdout). A Session has at most one standalone stream (the
// Streamable HTTP GET stream, the legacy SSE stream, or stdout) for messages not tied to a
// request; messages for a request go to that request's own Outbound.
//
// Ownership: sessions are shared (shared_ptr) between the Server's session table, transports
// and calls in flight. Thread safety: every Session method is safe from any thread (one mutex);
// Outbound::send must be safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <list>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <boost/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace wasimancer::mcp {

namespace json = boost::json;

class Outbound {
 public:
  virtual ~Outbound() = default;
  // Queues a message for the client; dropped if the stream has closed.
  virtual void send(json::object message) = 0;
  // The server is done with request `id` (its response was sent, or suppressed by cancellation).
  virtual void request_done(const json::value& id) { (void)id; }
  virtual bool is_open() const { return true; }
  // The answer will take a while: end the response now and keep what follows for the client
  // to fetch when it reconnects (SSE polling, SEP-1699). Transports that cannot do that ignore it.
  virtual void release_connection() {}
  // The session ended: nothing more will be sent here. A standalone stream (the GET stream, the
  // legacy transport's stream) ends, so its connection is free again; POST answers finish on
  // their own.
  virtual void session_ended() {}
};

// RFC 5424 levels as MCP names them, lowest first.
inline constexpr const char* kLogLevels[] = {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"};
std::optional<int> parse_mcp_log_level(std::string_view name);

class Session {
 public:
  enum class Kind { Streamable, Legacy, Stdio, Stateless };

  Session(std::string id, Kind kind, std::string protocol_version);
  // For stateless requests: the version named by the MCP-Protocol-Version header.
  void set_protocol_version(std::string version);

  const std::string& id() const { return id_; }
  Kind kind() const { return kind_; }
  // The transport's name for /metrics: "streamable", "legacy" or "stdio". A stateless session
  // is Streamable HTTP's unless its transport says otherwise (set_transport, before the session
  // is shared; `name` must outlive it: a string literal).
  std::string_view transport() const;
  void set_transport(std::string_view name) { transport_ = name; }

  std::string protocol_version() const;
  bool initialize_received() const;
  bool initialized() const;
  json::object client_capabilities() const;
  json::object client_info() const;
  // Records the initialize request; fails if it was already received.
  bool record_initialize(std::string version, json::object capabilities, json::object client_info);
  // notifications/initialized: sends everything queued meanwhile.
  void mark_initialized();

  // logging/setLevel; nullopt until the client sets one.
  std::optional<int> log_level() const;
  void set_log_level(int level);

  void subscribe(const std::string& uri);
  void unsubscribe(const std::string& uri);
  std::set<std::string> subscriptions() const;

  // The standalone stream. Attaching flushes notifications that waited for one.
  // Returns false if one is already attached and open.
  bool attach_stream(std::shared_ptr<Outbound> stream);
  void detach_stream(const Outbound* stream);
  bool has_stream() const;
  std::shared_ptr<Outbound> stream() const;
  // Sends a server-initiated notification on the standalone stream, queued (bounded) until the
  // session is initialized and has a stream.
  void notify(json::object message);

  // Requests in flight, for notifications/cancelled.
  std::shared_ptr<std::atomic<bool>> begin_request(const json::value& id);
  void end_request(const json::value& id);
  bool cancel_request(const json::value& id);

  // Sends a request to the client through `via` (or the standalone stream) and waits for the
  // answer. Errors: Timeout when `deadline` passes or `cancel` is set; HostError when the
  // client answers with an error or there is no way to reach it.
  Result<json::value> request_client(std::string_view method, json::value params, const std::shared_ptr<Outbound>& via,
                                     Deadline deadline, const std::atomic<bool>* cancel);
  // Routes a response from the client to the request waiting for it. False if none waits.
  bool deliver_response(const json::object& response);

  void touch();
  Clock::time_point last_activity() const;
  void close();  // fails every waiting client request and detaches the stream
  bool closed() const;

 private:
  const std::string id_;
  const Kind kind_;
  std::string_view transport_;
  mutable std::mutex mu_;
  std::string version_;
  bool init_received_ = false;
  bool initialized_ = false;
  bool closed_ = false;
  json::object capabilities_;
  json::object client_info_;
  std::optional<int> log_level_;
  std::set<std::string> subscriptions_;
  std::shared_ptr<Outbound> stream_;
  std::list<json::object> queued_;  // a list: a stateless request's session never queues, and an empty deque allocates
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> in_flight_;
  std::map<std::string, std::shared_ptr<std::promise<json::object>>> pending_;
  uint64_t next_request_ = 1;
  Clock::time_point last_activity_;
};

}  // namespace wasimancer::mcp
