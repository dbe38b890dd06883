#include "sandbox/wire.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace wasimancer::sandbox {

namespace {

// Reads exactly `n` bytes, waiting at most until `deadline`.
Result<void> read_exact(int fd, char* p, size_t n, const Deadline& deadline) {
  while (n > 0) {
    if (deadline.is_set()) {
      int ms = static_cast<int>(std::min<int64_t>(deadline.remaining().count(), 1 << 30));
      if (ms <= 0 && deadline.expired()) return Error(ErrorKind::Timeout, "the worker did not answer in time");
      pollfd pfd{fd, POLLIN, 0};
      int r = poll(&pfd, 1, ms);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return Error(ErrorKind::Timeout, "the worker did not answer in time");
    }
    ssize_t got = ::read(fd, p, n);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Error(ErrorKind::Io, fmt::format("channel read failed: {}", std::strerror(errno)));
    }
    if (got == 0) return Error(ErrorKind::Io, "the channel closed");
    p += got;
    n -= static_cast<size_t>(got);
  }
  return {};
}

}  // namespace

Result<void> send_frame(int fd, uint8_t type, std::string_view payload) {
  uint32_t len = static_cast<uint32_t>(payload.size() + 1);
  char header[5];
  std::memcpy(header, &len, 4);
  header[4] = static_cast<char>(type);
  iovec iov[2] = {{header, 5}, {const_cast<char*>(payload.data()), payload.size()}};
  size_t total = 5 + payload.size();
  size_t sent = 0;
  while (sent < total) {
    msghdr msg{};
    // Skip what was sent already.
    iovec rest[2];
    int n = 0;
    size_t skip = sent;
    for (auto& v : iov) {
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        continue;
      }
      rest[n++] = {static_cast<char*>(v.iov_base) + skip, v.iov_len - skip};
      skip = 0;
    }
    msg.msg_iov = rest;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Error(ErrorKind::Io, fmt::format("channel write failed: {}", std::strerror(errno)));
    }
    sent += static_cast<size_t>(w);
  }
  return {};
}

Result<void> recv_frame(int fd, size_t max_bytes, const Deadline& deadline, Frame& out) {
  char header[5];
  if (auto r = read_exact(fd, header, 5, deadline); !r) return r;
  uint32_t len;
  std::memcpy(&len, header, 4);
  if (len == 0) return Error(ErrorKind::InvalidArgument, "an empty frame");
  if (len - 1 > max_bytes) {
    return Error(ErrorKind::InvalidArgument, fmt::format("a frame of {} bytes, more than the limit of {}", len - 1, max_bytes));
  }
  out.type = static_cast<uint8_t>(header[4]);
  out.payload.resize(len - 1);
  return read_exact(fd, out.payload.data(), len - 1, deadline);
}

}  // namespace wasimancer::sandbox
