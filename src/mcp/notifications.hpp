// mcp/notifications.hpp: what the server tells clients without being asked: list changes
// (debounced, to every initialized stateful session and to every 2026-07-28
// subscriptions/listen stream that asked for them), resource updates (to subscribers), and the
// idle-session sweep. Also the subscriptions/listen method itself.
//
// Ownership: owned by the Server, borrows it; its thread is joined by the destructor. Thread
// safety: every method is safe from any thread.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "mcp/server.hpp"

namespace wasimancer::mcp {

class Notifier {
 public:
  explicit Notifier(Server& server);
  ~Notifier();

  // Stops listening to the catalogs (shutdown: no more notifications).
  void stop_listening();
  // Ends every subscriptions/listen stream (with its closing result).
  void close_streams();
  size_t listener_count() const;
  // For /metrics: each open listen stream's (transport, protocol revision); drops closed ones.
  std::vector<std::pair<std::string, std::string>> listener_labels();
  // notifications/tasks to the listen streams of clients with the tasks extension.
  void task_status(json::object params);

 private:
  struct Listener {
    RequestPtr request;  // the subscriptions/listen request (its reply is the stream)
    bool tools = false, prompts = false, resources = false;
    std::vector<std::string> resource_uris;
  };

  void listen(const RequestPtr& r);
  void mark_changed(int which);
  void plugins_changed(const registry::PluginSnapshot& s);
  void resource_changed(const registry::CatalogChange& change);
  void loop();
  std::vector<std::shared_ptr<Listener>> live_listeners();
  void send_to_listener(const Listener& l, json::object notification);

  Server& server_;
  uint64_t tokens_[3] = {0, 0, 0};
  bool listening_ = true;

  mutable std::mutex listeners_mu_;
  std::vector<std::shared_ptr<Listener>> listeners_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool changed_[3] = {false, false, false};  // tools, resources, prompts
  std::string plugin_prompts_, plugin_resources_;  // what plugins served at the last change
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace wasimancer::mcp
