// core/event_feed.hpp: the live feed of what happens in the server (tool calls, admin changes)
// that the dashboard shows (GET /ui/events, Server-Sent Events).
//
// Events are JSON objects with a "type" ("call" or "admin"), numbered from 1. The last
// kHistory events are kept so a new subscriber sees what happened just before it came; a
// subscriber then receives every event as it is published, as one SSE chunk
// ("id: N\nevent: TYPE\ndata: JSON\n\n"), through its push function, which returns false once
// the client has gone (the subscriber is then dropped).
//
// Tool-call events are built only while someone subscribes (wants_calls()), so the feed costs
// nothing on the hot path otherwise.
//
// Ownership: the process feed (events::feed()) lives until exit. Thread safety: every method
// is safe from any thread; push functions run on the publishing thread under the feed's lock, so
// they must only queue (never block).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace wasimancer::events {

class Feed {
 public:
  static constexpr size_t kHistory = 200;
  static constexpr size_t kMaxSubscribers = 64;
  using Push = std::function<bool(std::string chunk)>;

  // `json` is the text of a JSON object, sent as the event's data.
  void publish(std::string_view type, std::string json);
  // Sends the kept events with an id above `after`, then every new one. 0 if there are too many
  // subscribers already.
  uint64_t subscribe(Push push, uint64_t after = 0);
  void unsubscribe(uint64_t token);
  bool wants_calls() const { return subscribers_.load(std::memory_order_relaxed) > 0; }
  uint64_t last_id() const;

 private:
  struct Event {
    uint64_t id;
    std::string chunk;
  };
  mutable std::mutex mu_;
  std::deque<Event> history_;
  std::map<uint64_t, Push> subs_;
  uint64_t next_id_ = 1, next_token_ = 1;
  std::atomic<size_t> subscribers_{0};
};

Feed& feed();

}  // namespace wasimancer::events
