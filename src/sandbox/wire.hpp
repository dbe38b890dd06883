// sandbox/wire.hpp: the framing and encoding of the server <-> worker channel.
//
// A frame is: u32 length (little-endian; of what follows), u8 type, payload. The channel is a
// SOCK_SEQPACKET socketpair read as a byte stream: a frame is sent in messages of at most
// kMaxMessage bytes, and the reader always reads with room for a whole message, so the messages
// put end to end are the frames (a message longer than that is an error, never a silent cut).
// Not SOCK_STREAM: there, a reader blocked on its socket is woken each time the other side
// consumes what it sent (af_unix's write-space wake-up does not look at what a waiter waits for),
// a wasted context switch per call on each side of a sandboxed call.
// Payloads are built with Writer and read with Reader: fixed-width little-endian integers and
// length-prefixed byte strings. The server treats every frame from a worker as
// hostile: Reader never reads past its input (a short or malformed payload just fails ok()), and
// a frame longer than the reader's cap is refused before it is read.
//
// Ownership: Writer and Reader are values; Reader views bytes it does not own; FrameReader reads a
// descriptor it does not own (its owner closes it). Thread safety: none needed (one channel per
// instance, used by one thread at a time).
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace wasimancer::sandbox {

class Writer {
 public:
  void clear() { buf_.clear(); }
  Writer& u8(uint8_t v) { buf_.push_back(static_cast<char>(v)); return *this; }
  Writer& u32(uint32_t v) { return raw(&v, 4); }
  Writer& u64(uint64_t v) { return raw(&v, 8); }
  Writer& i32(int32_t v) { return raw(&v, 4); }
  Writer& str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    buf_.append(s);
    return *this;
  }
  Writer& map(const std::map<std::string, std::string>& m) {
    u32(static_cast<uint32_t>(m.size()));
    for (const auto& [k, v] : m) str(k).str(v);
    return *this;
  }
  const std::string& bytes() const { return buf_; }

 private:
  Writer& raw(const void* p, size_t n) {
    buf_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string buf_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  uint8_t u8() {
    uint8_t v = 0;
    raw(&v, 1);
    return v;
  }
  uint32_t u32() {
    uint32_t v = 0;
    raw(&v, 4);
    return v;
  }
  uint64_t u64() {
    uint64_t v = 0;
    raw(&v, 8);
    return v;
  }
  int32_t i32() {
    int32_t v = 0;
    raw(&v, 4);
    return v;
  }
  // A view into the input (valid as long as it is).
  std::string_view str() {
    uint32_t n = u32();
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::map<std::string, std::string> map() {
    std::map<std::string, std::string> m;
    uint32_t n = u32();
    for (uint32_t i = 0; ok_ && i < n; ++i) {
      std::string k(str());
      std::string v(str());
      if (ok_) m.emplace(std::move(k), std::move(v));
    }
    return m;
  }
  // A count of items that each take at least `min_bytes`: refused if the input cannot hold them.
  uint32_t count(size_t min_bytes) {
    uint32_t n = u32();
    if (ok_ && min_bytes && n > (in_.size() - pos_) / min_bytes) ok_ = false;
    return ok_ ? n : 0;
  }

 private:
  void raw(void* p, size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return;
    }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// The largest message send_frame writes, and the least room FrameReader reads with.
constexpr size_t kMaxMessage = 64u << 10;

// Creates a channel: a SOCK_SEQPACKET socketpair, close-on-exec. Returns socketpair's result
// (0, or -1 with errno set).
int open_channel(int fds[2]);

struct Frame {
  uint8_t type = 0;
  std::string payload;
};

// Sends one frame in messages of at most kMaxMessage bytes (fewer when the socket's send buffer
// is smaller), waiting for room in the socket at most until `deadline` (unset: forever; Timeout
// then). Io if the other end is gone. Works on stream sockets too.
Result<void> send_frame(int fd, uint8_t type, std::string_view payload, const Deadline& deadline = Deadline());

// Reads frames from one end of a channel, buffering what arrives so a small frame usually costs
// one read(2). The descriptor may be blocking or not.
class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd) {}
  // Receives one frame into `out` (its buffer is reused). Io: the other end closed or the stream
  // broke (a zero-length message reads as the end); InvalidArgument: a frame longer than
  // `max_bytes`, or a message longer than kMaxMessage; Timeout: `deadline` passed first (the
  // channel is then out of step and must be dropped). An unset deadline waits forever.
  Result<void> next(size_t max_bytes, const Deadline& deadline, Frame& out);
  // Whether a whole frame header is already buffered (no need to wait for the descriptor).
  bool buffered() const { return end_ - head_ >= 5; }
  // One read into the buffer: true when bytes came, false when none did (a non-blocking
  // descriptor with nothing there, or the receive timeout of a blocking one passed: the caller
  // checks its cancel flag and tries again). Io when the other end closed or the read failed.
  Result<bool> read_some();
  // The buffer's size (for tests: it grows with what arrives, not with what a header announces).
  size_t buffer_size() const { return buf_.size(); }

 private:
  Result<void> fill(size_t want, const Deadline& deadline);
  void compact();                       // drops consumed bytes (and a large frame's memory)
  Result<bool> read_once(size_t room);  // one read of up to `room` more bytes (as read_some)
  int fd_;
  std::string buf_;   // kept at its capacity; bytes [head_, end_) are unread
  size_t head_ = 0;
  size_t end_ = 0;
};

}  // namespace wasimancer::sandbox
