// mcp/response_stream.hpp: an HTTP response produced bit by bit, without sockets: the MCP HTTP
// handler's Outbounds produce it (from any thread), the transport consumes it and writes it
// to the connection (or a test reads it in-process).
//
// A stream is either one Complete part (head and whole body, decided late: e.g. a stateless
// request answered with a JSON error status), or a StreamHead (SSE) followed by Chunks and an
// End. The consumer calls finish() when it stops reading (done, or the client went away); the
// producers then see open() == false and the on_finish callbacks run (cleanup such as ending a
// legacy session), and whatever was still queued is freed.
//
// Back-pressure: the bytes of chunks queued and not yet taken by the consumer are bounded
// (max_queued_bytes). A chunk that would take the queue past the bound (a client that does not
// read while messages keep coming) drops everything queued and ends the stream with an Abort
// part: the consumer closes the connection (the client sees a truncated stream, never a partial
// message) and finishes the stream. One chunk is always accepted into an empty queue, so a single
// message larger than the bound still goes through (its size is bounded elsewhere: the call
// output cap and the per-request response budget).
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
  // An SSE answer to a POST: the transport may hold the head back (briefly) until the first
  // message is queued, so that head, message and often the end leave in one write.
  bool hold_for_first_message = false;
};

class ResponseStream {
 public:
  struct Part {
    // Abort: the queue overflowed; close the connection without ending the response.
    enum Kind { Complete, StreamHead, Chunk, End, Abort } kind = End;
    HttpHead head;     // Complete, StreamHead
    std::string data;  // Complete (the body), Chunk
  };

  static constexpr size_t kDefaultMaxQueuedBytes = 4u << 20;
  explicit ResponseStream(size_t max_queued_bytes = kDefaultMaxQueuedBytes) : max_queued_bytes_(max_queued_bytes) {}

  // ---- producer side ----
  void complete(HttpHead head, std::string body) {
    push({Part::Complete, std::move(head), std::move(body)}, true);
  }
  void start(HttpHead head) { push({Part::StreamHead, std::move(head), {}}, false); }
  bool chunk(std::string data) { return push({Part::Chunk, {}, std::move(data)}, false); }
  // A last chunk and the end together, with one wake of the consumer (a POST's last answer: the
  // transport can then write the whole answer at once).
  bool last_chunk(std::string data) { return push({Part::Chunk, {}, std::move(data)}, true, true); }
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

  // Whether the stream was ended because its queue overflowed.
  bool overflowed() const {
    std::lock_guard lock(mu_);
    return overflowed_;
  }

  // ---- consumer side ----
  // The waker runs after every part pushed from now on; with `wake_if_queued`, also at once when
  // parts are already queued (a consumer that looks at the queue before it waits passes false).
  void set_waker(std::function<void()> waker, bool wake_if_queued = true) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      waker_ = std::move(waker);
      if (!parts_.empty() && wake_if_queued) wake = waker_;
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
  // Moves every queued part to the end of `out` (in order), for one write of all of them.
  size_t pop_all(std::vector<Part>& out) {
    std::lock_guard lock(mu_);
    size_t n = parts_.size();
    for (auto& p : parts_) out.push_back(std::move(p));
    parts_.clear();
    queued_bytes_ = 0;
    return n;
  }
  // Moves every queued part to `out` if they are the whole rest of a stream that ended normally
  // (chunks, then End); else takes nothing and returns false.
  bool take_if_ended(std::vector<Part>& out) {
    std::lock_guard lock(mu_);
    if (finished_ || overflowed_ || parts_.empty() || parts_.back().kind != Part::End) return false;
    for (const auto& p : parts_) {
      if (p.kind != Part::Chunk && p.kind != Part::End) return false;
    }
    for (auto& p : parts_) out.push_back(std::move(p));
    parts_.clear();
    queued_bytes_ = 0;
    return true;
  }
  // Takes the queued part if it is a whole answer (one Complete part) that leaves the
  // connection open; else takes nothing and returns false.
  bool take_if_complete(Part& out) {
    std::lock_guard lock(mu_);
    if (finished_ || parts_.size() != 1 || parts_.front().kind != Part::Complete || parts_.front().head.close_connection) return false;
    out = std::move(parts_.front());
    parts_.pop_front();
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
      parts_.clear();  // nobody will read them: free the memory now
      queued_bytes_ = 0;
    }
    for (auto& f : callbacks) f();
  }
  bool empty() const {
    std::lock_guard lock(mu_);
    return parts_.empty();
  }
  size_t queued_bytes() const {
    std::lock_guard lock(mu_);
    return queued_bytes_;
  }

 private:
  bool push(Part p, bool last, bool then_end = false) {
    std::function<void()> waker;
    bool accepted = true;
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
      if (p.kind == Part::Chunk && max_queued_bytes_ && queued_bytes_ > 0 && queued_bytes_ + p.data.size() > max_queued_bytes_) {
        // The consumer is not keeping up: drop the backlog, tell it to close the connection.
        parts_.clear();
        queued_bytes_ = 0;
        parts_.push_back({Part::Abort, {}, {}});
        ended_ = true;
        overflowed_ = true;
        accepted = false;
      } else {
        if (p.kind == Part::Chunk) queued_bytes_ += p.data.size();
        if (last) ended_ = true;
        parts_.push_back(std::move(p));
        if (then_end) parts_.push_back({Part::End, {}, {}});
      }
      waker = waker_;
    }
    cv_.notify_all();
    if (waker) waker();
    return accepted;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Part> parts_;
  const size_t max_queued_bytes_;  // 0: unbounded
  size_t queued_bytes_ = 0;
  bool started_ = false, ended_ = false, finished_ = false, overflowed_ = false;
  std::function<void()> waker_;
  std::vector<std::function<void()>> on_finish_;
};

}  // namespace wasimancer::mcp
