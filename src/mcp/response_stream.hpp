// mcp/response_stream.hpp: an HTTP response produced bit by bit, without sockets: the MCP HTTP
// handler's Outbounds produce it (from any thread), the transport consumes it and writes it
// to the connection (or a test reads it in-process).
//
// A stream is either one Complete part (head and whole body, decided late: e.g. a stateless
// request answered with a JSON error status), or a StreamHead (SSE) followed by Chunks and an
// End. The consumer calls finish() when it stops reading (done, or the client went away); the
// producers then see open() == false and the on_finish callbacks run (cleanup such as ending a
// legacy session). Queued bytes are counted, so per-stream budgets can be added here.
//
// Ownership: shared by producers and the consumer. Thread safety: every method is safe from any
// thread; callbacks (waker, on_finish) run on the thread that triggers them, outside the lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace wasimancer::mcp {

struct HttpHead {
  int status = 200;
  std::string content_type;  // empty: none (no body)
  std::vector<std::pair<std::string, std::string>> headers;
  bool close_connection = false;  // e.g. the legacy SSE stream
};

class ResponseStream {
 public:
  struct Part {
    enum Kind { Complete, StreamHead, Chunk, End } kind = End;
    HttpHead head;     // Complete, StreamHead
    std::string data;  // Complete (the body), Chunk
  };

  // ---- producer side ----
  void complete(HttpHead head, std::string body) {
    push({Part::Complete, std::move(head), std::move(body)}, true);
  }
  void start(HttpHead head) { push({Part::StreamHead, std::move(head), {}}, false); }
  bool chunk(std::string data) { return push({Part::Chunk, {}, std::move(data)}, false); }
  void end() { push({Part::End, {}, {}}, true); }
  // False once the response is complete/ended or the consumer has finished.
  bool open() const {
    std::lock_guard lock(mu_);
    return !ended_ && !finished_;
  }
  bool started() const {
    std::lock_guard lock(mu_);
    return started_;
  }
  // Runs once when the consumer finishes (at once if it already has).
  void on_finish(std::function<void()> f) {
    {
      std::lock_guard lock(mu_);
      if (!finished_) {
        on_finish_.push_back(std::move(f));
        return;
      }
    }
    f();
  }

  // ---- consumer side ----
  void set_waker(std::function<void()> waker) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      waker_ = std::move(waker);
      if (!parts_.empty()) wake = waker_;
    }
    if (wake) wake();
  }
  bool try_pop(Part& out) {
    std::lock_guard lock(mu_);
    if (parts_.empty()) return false;
    out = std::move(parts_.front());
    parts_.pop_front();
    if (out.kind == Part::Chunk) queued_bytes_ -= out.data.size();
    return true;
  }
  // Blocking pop for tests and in-process consumers.
  bool wait_pop(Part& out, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !parts_.empty(); })) return false;
    out = std::move(parts_.front());
    parts_.pop_front();
    if (out.kind == Part::Chunk) queued_bytes_ -= out.data.size();
    return true;
  }
  void finish() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;
      callbacks.swap(on_finish_);
    }
    for (auto& f : callbacks) f();
  }
  size_t queued_bytes() const {
    std::lock_guard lock(mu_);
    return queued_bytes_;
  }

 private:
  bool push(Part p, bool last) {
    std::function<void()> waker;
    {
      std::lock_guard lock(mu_);
      if (ended_ || finished_) return false;
      if (p.kind == Part::StreamHead) {
        if (started_) return false;
        started_ = true;
      } else if (p.kind == Part::Complete) {
        if (started_) return false;
        started_ = true;
      } else if (!started_) {
        return false;  // chunks and End only after a StreamHead
      }
      if (p.kind == Part::Chunk) queued_bytes_ += p.data.size();
      if (last) ended_ = true;
      parts_.push_back(std::move(p));
      waker = waker_;
    }
    cv_.notify_all();
    if (waker) waker();
    return true;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Part> parts_;
  size_t queued_bytes_ = 0;
  bool started_ = false, ended_ = false, finished_ = false;
  std::function<void()> waker_;
  std::vector<std::function<void()>> on_finish_;
};

}  // namespace wasimancer::mcp
