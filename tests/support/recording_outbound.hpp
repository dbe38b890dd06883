// tests/support/recording_outbound.hpp: an mcp::Outbound that records what the server or a
// session sends, so the MCP suites can look at it and wait for it.
//
// Ownership: held by shared_ptr, as transports' Outbounds are. Thread safety: every method is
// safe from any thread (one mutex); the wait_* methods block until the condition holds or the
// timeout passes, woken by every send / request_done.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "mcp/session.hpp"

namespace wasimancer::test {

class RecordingOutbound : public mcp::Outbound {
 public:
  void send(boost::json::object message) override {
    std::lock_guard lock(mu_);
    messages_.push_back(std::move(message));
    cv_.notify_all();
  }
  void request_done(const boost::json::value& id) override {
    std::lock_guard lock(mu_);
    done_.push_back(id);
    cv_.notify_all();
  }
  bool is_open() const override { return open_; }
  // A closed Outbound is what a transport whose client went away looks like.
  void set_open(bool open) { open_ = open; }

  std::vector<boost::json::object> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return messages_.size();
  }
  // Waits until at least n messages arrived; returns the n-th (nullopt on timeout).
  std::optional<boost::json::object> wait_for(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; })) return std::nullopt;
    return messages_[n - 1];
  }

  // The messages whose "method" is `method` (requests and notifications), in order.
  std::vector<boost::json::object> with_method(std::string_view method) const {
    std::lock_guard lock(mu_);
    return with_method_locked(method);
  }
  // Waits until at least n messages with `method` arrived.
  bool wait_method(std::string_view method, size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return with_method_locked(method).size() >= n; });
  }

  // Waits until request_done(id) was called.
  bool wait_done(const boost::json::value& id, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return std::find(done_.begin(), done_.end(), id) != done_.end(); });
  }
  size_t done_count(const boost::json::value& id) const {
    std::lock_guard lock(mu_);
    return std::count(done_.begin(), done_.end(), id);
  }
  // The response to request `id` (nullopt if none was sent; two responses are a test failure).
  std::optional<boost::json::object> response(const boost::json::value& id) const {
    std::lock_guard lock(mu_);
    std::optional<boost::json::object> found;
    for (const auto& m : messages_) {
      auto* i = m.if_contains("id");
      if (i && *i == id && !m.contains("method")) {
        EXPECT_FALSE(found.has_value()) << "two responses to " << boost::json::serialize(id);
        found = m;
      }
    }
    return found;
  }

 private:
  std::vector<boost::json::object> with_method_locked(std::string_view method) const {
    std::vector<boost::json::object> out;
    for (const auto& m : messages_) {
      auto* x = m.if_contains("method");
      if (x && x->is_string() && x->as_string() == method) out.push_back(m);
    }
    return out;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<boost::json::object> messages_;
  std::vector<boost::json::value> done_;
  std::atomic<bool> open_{true};
};

}  // namespace wasimancer::test
