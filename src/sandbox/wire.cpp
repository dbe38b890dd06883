#include "sandbox/wire.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace wasimancer::sandbox {

int open_channel(int fds[2]) { return ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

Result<void> send_frame(int fd, uint8_t type, std::string_view payload, const Deadline& deadline) {
  uint32_t len = static_cast<uint32_t>(payload.size() + 1);
  char header[5];
  std::memcpy(header, &len, 4);
  header[4] = static_cast<char>(type);
  const iovec iov[2] = {{header, 5}, {const_cast<char*>(payload.data()), payload.size()}};
  const size_t total = 5 + payload.size();
  size_t sent = 0;
  size_t message = kMaxMessage;  // halved if the socket's send buffer cannot hold it (EMSGSIZE)
  while (sent < total) {
    // The next message: bytes [sent, sent + want) of header + payload.
    const size_t want = std::min(total - sent, message);
    iovec part[2];
    int n = 0;
    size_t skip = sent, left = want;
    for (const auto& v : iov) {
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        continue;
      }
      size_t take = std::min(v.iov_len - skip, left);
      if (take == 0) break;
      part[n++] = {static_cast<char*>(v.iov_base) + skip, take};
      left -= take;
      skip = 0;
    }
    msghdr msg{};
    msg.msg_iov = part;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EMSGSIZE && message > 1024) {
        message /= 2;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a full socket: wait for room
        if (deadline.is_set() && deadline.expired()) return Error(ErrorKind::Timeout, "the worker does not read its channel");
        int ms = deadline.is_set() ? static_cast<int>(std::min<int64_t>(deadline.remaining().count(), 1 << 30)) : -1;
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, ms) == 0) return Error(ErrorKind::Timeout, "the worker does not read its channel");
        continue;
      }
      return Error(ErrorKind::Io, fmt::format("channel write failed: {}", std::strerror(errno)));
    }
    sent += static_cast<size_t>(w);  // a stream socket may take part of a message
  }
  return {};
}

// buf_ is kept at its capacity (resizing a string zero-fills it: 64 KiB per read was a measurable
// share of a sandboxed call); [head_, end_) holds the bytes not consumed yet.
void FrameReader::compact() {
  if (head_ > 0 && head_ == end_) {
    head_ = end_ = 0;
    // A large frame grew the buffer: give the memory back once it is consumed.
    if (buf_.size() > (1u << 20)) {
      buf_.resize(64u << 10);
      buf_.shrink_to_fit();
    }
  } else if (head_ > (64u << 10) && head_ > end_ / 2) {
    std::memmove(buf_.data(), buf_.data() + head_, end_ - head_);
    end_ -= head_;
    head_ = 0;
  }
}

Result<bool> FrameReader::read_once(size_t room) {
  room = std::max(room, kMaxMessage);  // a whole message always fits: none is ever cut
  if (buf_.size() < end_ + room) buf_.resize(end_ + room);
  for (;;) {
    iovec iov{buf_.data() + end_, buf_.size() - end_};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t got = ::recvmsg(fd_, &msg, 0);
    if (got > 0) {
      // Only a message longer than the room is cut, and only a peer that breaks the protocol
      // sends one: refuse it rather than read the rest of the stream out of step.
      if (msg.msg_flags & MSG_TRUNC) {
        return Error(ErrorKind::InvalidArgument, fmt::format("a message over the channel's limit of {} bytes", kMaxMessage));
      }
      end_ += static_cast<size_t>(got);
      return true;
    }
    if (got == 0) return Error(ErrorKind::Io, "the channel closed");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    return Error(ErrorKind::Io, fmt::format("channel read failed: {}", std::strerror(errno)));
  }
}

Result<bool> FrameReader::read_some() {
  compact();
  return read_once(kMaxMessage);
}

Result<void> FrameReader::fill(size_t want, const Deadline& deadline) {
  compact();
  while (end_ - head_ < want) {
    // The deadline holds whatever comes: a peer that trickles a frame a byte at a time is as late
    // as one that sends nothing.
    if (deadline.is_set() && deadline.expired()) return Error(ErrorKind::Timeout, "the worker did not answer in time");
    // The buffer grows with what arrives (a header may announce far more than ever comes), by at
    // most 1 MiB a read.
    auto got = read_once(std::min<size_t>(want - (end_ - head_), 1u << 20));
    if (!got) return got.take_error();
    if (*got) continue;
    // Nothing there yet (non-blocking, or a blocking read's timeout): wait, at most until the deadline.
    int ms = deadline.is_set() ? static_cast<int>(std::min<int64_t>(deadline.remaining().count(), 1 << 30)) : -1;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, ms) == 0) return Error(ErrorKind::Timeout, "the worker did not answer in time");
  }
  return {};
}

Result<void> FrameReader::next(size_t max_bytes, const Deadline& deadline, Frame& out) {
  if (auto r = fill(5, deadline); !r) return r;
  uint32_t len;
  std::memcpy(&len, buf_.data() + head_, 4);
  if (len == 0) return Error(ErrorKind::InvalidArgument, "an empty frame");
  if (len - 1 > max_bytes) {
    return Error(ErrorKind::InvalidArgument, fmt::format("a frame of {} bytes, more than the limit of {}", len - 1, max_bytes));
  }
  if (auto r = fill(4 + size_t(len), deadline); !r) return r;
  out.type = static_cast<uint8_t>(buf_[head_ + 4]);
  out.payload.assign(buf_.data() + head_ + 5, len - 1);
  head_ += 4 + size_t(len);
  return {};
}

}  // namespace wasimancer::sandbox
