// The sandbox channel's framing (sandbox/wire): frames of every size arrive whole and in order,
// whatever pieces the bytes come in (on the SOCK_SEQPACKET channel the server uses, and on a
// stream socket), the reader's buffer is reused without growing forever, a message too long to
// read whole is refused, and a reader blocked on the channel is not woken by the other side
// consuming what it sent.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/wire.hpp"

using namespace wasimancer;
using namespace wasimancer::sandbox;

namespace {

// The channel (open_channel: SOCK_SEQPACKET) by default, or a stream socketpair.
struct Pair {
  int fd[2] = {-1, -1};
  explicit Pair(int type = SOCK_SEQPACKET) {
    EXPECT_EQ(type == SOCK_SEQPACKET ? open_channel(fd) : socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fd), 0);
  }
  ~Pair() {
    for (int f : fd) if (f >= 0) close(f);
  }
};

std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return s;
}

}  // namespace

TEST(SandboxWire, FramesOfEverySizeArriveWholeAndInOrder) {
  for (int type : {SOCK_SEQPACKET, SOCK_STREAM})
  for (bool nonblocking : {false, true}) {
    Pair p(type);
    if (nonblocking) fcntl(p.fd[0], F_SETFL, O_NONBLOCK);
    const std::vector<size_t> sizes = {0, 1, 4, 5, 100, 65535, 65536, 65537, 200000, 3u << 20, 7, 0, 1u << 16};
    std::thread writer([&] {
      int i = 0;
      for (size_t n : sizes) {
        ASSERT_TRUE(send_frame(p.fd[1], static_cast<uint8_t>(i + 1), pattern(n, i)));
        ++i;
      }
    });
    FrameReader reader(p.fd[0]);
    Frame f;
    int i = 0;
    for (size_t n : sizes) {
      auto r = reader.next(8u << 20, Deadline::after(std::chrono::seconds(30)), f);
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(f.type, i + 1);
      EXPECT_EQ(f.payload.size(), n);
      EXPECT_TRUE(f.payload == pattern(n, i)) << "frame " << i << " of " << n << " bytes differs";
      ++i;
    }
    writer.join();
  }
}

TEST(SandboxWire, BytesInSmallPiecesAndSeveralFramesInOneRead) {
  for (int type : {SOCK_SEQPACKET, SOCK_STREAM}) {
  SCOPED_TRACE(type == SOCK_STREAM ? "stream" : "seqpacket");
  Pair p(type);
  // Three frames written as one buffer, then one frame a byte at a time.
  std::string all;
  auto frame = [](uint8_t type, const std::string& payload) {
    uint32_t len = static_cast<uint32_t>(payload.size() + 1);
    std::string b(reinterpret_cast<const char*>(&len), 4);
    b.push_back(static_cast<char>(type));
    return b + payload;
  };
  all = frame(1, "one") + frame(2, "") + frame(3, "three");
  ASSERT_EQ(write(p.fd[1], all.data(), all.size()), static_cast<ssize_t>(all.size()));
  std::string slow = frame(4, "byte by byte");
  std::thread writer([&] {
    for (char c : slow) {
      ASSERT_EQ(write(p.fd[1], &c, 1), 1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  FrameReader reader(p.fd[0]);
  Frame f;
  ASSERT_TRUE(reader.next(1024, Deadline(), f));
  EXPECT_EQ(f.type, 1);
  EXPECT_EQ(f.payload, "one");
  EXPECT_TRUE(reader.buffered());
  ASSERT_TRUE(reader.next(1024, Deadline(), f));
  EXPECT_EQ(f.type, 2);
  EXPECT_EQ(f.payload, "");
  ASSERT_TRUE(reader.next(1024, Deadline(), f));
  EXPECT_EQ(f.payload, "three");
  ASSERT_TRUE(reader.next(1024, Deadline(), f));
  EXPECT_EQ(f.type, 4);
  EXPECT_EQ(f.payload, "byte by byte");
  writer.join();
  }
}

TEST(SandboxWire, OversizedFramesEmptyFramesAndTimeoutsAreErrors) {
  Pair p;
  fcntl(p.fd[0], F_SETFL, O_NONBLOCK);
  FrameReader reader(p.fd[0]);
  Frame f;
  auto r = reader.next(16, Deadline::after(std::chrono::milliseconds(20)), f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Timeout);
  ASSERT_TRUE(send_frame(p.fd[1], 1, std::string(17, 'x')));
  r = reader.next(16, Deadline::after(std::chrono::seconds(5)), f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument);
  Pair q;
  uint32_t zero = 0;
  ASSERT_EQ(write(q.fd[1], &zero, 4), 4);
  ASSERT_EQ(write(q.fd[1], "x", 1), 1);
  FrameReader r2(q.fd[0]);
  auto e = r2.next(16, Deadline::after(std::chrono::seconds(5)), f);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, ErrorKind::InvalidArgument);
  close(q.fd[1]);
  q.fd[1] = -1;
  FrameReader r3(q.fd[0]);
  e = r3.next(16, Deadline::after(std::chrono::seconds(5)), f);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, ErrorKind::Io);
}

// read_some: one read, for a caller that checks its cancel flag between reads (a blocking
// channel with a receive timeout, as the server's end of a worker's channel is).
TEST(SandboxWire, ReadSomeReturnsAtTheReceiveTimeoutAndKeepsWhatItRead) {
  Pair p;
  timeval slice{0, 20 * 1000};
  ASSERT_EQ(setsockopt(p.fd[0], SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice), 0);
  FrameReader reader(p.fd[0]);
  auto got = reader.read_some();
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got);  // nothing came within the timeout
  EXPECT_FALSE(reader.buffered());
  ASSERT_TRUE(send_frame(p.fd[1], 9, "answer"));
  got = reader.read_some();
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got);
  EXPECT_TRUE(reader.buffered());
  Frame f;
  ASSERT_TRUE(reader.next(1024, Deadline::after(std::chrono::seconds(5)), f));  // from the buffer
  EXPECT_EQ(f.type, 9);
  EXPECT_EQ(f.payload, "answer");
  close(p.fd[1]);
  p.fd[1] = -1;
  got = reader.read_some();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::Io);
}

// A message longer than kMaxMessage could only be read cut short (the rest of a seqpacket
// message is discarded): a worker that sends one gets an error, not a stream out of step.
TEST(SandboxWire, AMessageLongerThanTheLimitIsRefused) {
  Pair p;
  int buf = 1 << 20;
  setsockopt(p.fd[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  // One message holding a frame of kMaxMessage + 100 bytes: whole, it would be a valid frame.
  std::string payload = pattern(kMaxMessage + 99, 3);
  uint32_t len = static_cast<uint32_t>(payload.size() + 1);
  std::string msg(reinterpret_cast<const char*>(&len), 4);
  msg.push_back(7);
  msg += payload;
  ASSERT_EQ(send(p.fd[1], msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size())) << std::strerror(errno);
  FrameReader reader(p.fd[0]);
  Frame f;
  auto r = reader.next(1u << 20, Deadline::after(std::chrono::seconds(5)), f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument) << r.error().message;
  // The same frame sent with send_frame (in messages of at most kMaxMessage) arrives whole.
  ASSERT_TRUE(send_frame(p.fd[1], 7, payload));
  FrameReader fresh(p.fd[0]);
  ASSERT_TRUE(fresh.next(1u << 20, Deadline::after(std::chrono::seconds(5)), f));
  EXPECT_EQ(f.type, 7);
  EXPECT_TRUE(f.payload == payload);
}

// A zero-length message (only a hostile peer sends one) reads as the end of the channel.
TEST(SandboxWire, AnEmptyMessageReadsAsTheEnd) {
  Pair p;
  ASSERT_EQ(send(p.fd[1], "", 0, 0), 0);
  FrameReader reader(p.fd[0]);
  Frame f;
  auto r = reader.next(1024, Deadline::after(std::chrono::seconds(5)), f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Io);
}

// A socket whose send buffer cannot hold kMaxMessage: send_frame sends smaller messages.
TEST(SandboxWire, ASmallSendBufferTakesSmallerMessages) {
  Pair p;
  int small = 4096;  // the kernel doubles it: 8 KiB, less than kMaxMessage
  ASSERT_EQ(setsockopt(p.fd[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  const std::string payload = pattern(300000, 5);
  std::thread writer([&] { EXPECT_TRUE(send_frame(p.fd[1], 2, payload, Deadline::after(std::chrono::seconds(30)))); });
  FrameReader reader(p.fd[0]);
  Frame f;
  auto r = reader.next(1u << 20, Deadline::after(std::chrono::seconds(30)), f);
  writer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(f.type, 2);
  EXPECT_TRUE(f.payload == payload);
}

namespace {

// Voluntary context switches of thread `tid` of this process so far.
long voluntary_switches(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(24));
  }
  return -1;
}

char thread_state(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close_paren = stat.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= stat.size() ? '?' : stat[close_paren + 2];
}

// How often a thread blocked reading fd[0] wakes while 200 frames sent on fd[0] are read at
// fd[1] (the server waiting for a worker's answer while the worker reads its call).
long wakeups_of_a_blocked_reader(int type) {
  Pair p(type);
  std::atomic<pid_t> tid{0};
  std::thread reader_thread([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    FrameReader reader(p.fd[0]);
    Frame f;
    EXPECT_TRUE(reader.next(1024, Deadline(), f));
    EXPECT_EQ(f.payload, "release");
  });
  while (tid.load() == 0) std::this_thread::yield();
  // Wait until the reader sleeps in its read.
  while (thread_state(tid) != 'S') std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const long before = voluntary_switches(tid);
  FrameReader consumer(p.fd[1]);
  Frame f;
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(send_frame(p.fd[0], 1, "call"));
    EXPECT_TRUE(consumer.next(1024, Deadline::after(std::chrono::seconds(5)), f));
    // A wake-up makes the thread runnable at once; let it go back to sleep before the next read,
    // so that every wake-up is counted however busy the machine is.
    while (thread_state(tid) != 'S') std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const long after = voluntary_switches(tid);
  EXPECT_TRUE(send_frame(p.fd[1], 1, "release"));
  reader_thread.join();
  return after - before;
}

}  // namespace

TEST(SandboxWire, ABlockedReaderIsNotWokenWhenTheOtherSideConsumes) {
  // The channel: none of the 200 reads at the other end wakes the waiting thread.
  EXPECT_LE(wakeups_of_a_blocked_reader(SOCK_SEQPACKET), 5);
  // What a stream socketpair did (why the channel is not one): a wake-up per read. Kept as a check of the measurement: if the kernel ever stops doing this, the first
  // expectation above proves nothing about the channel.
  EXPECT_GE(wakeups_of_a_blocked_reader(SOCK_STREAM), 150);
}

// A peer that trickles a frame (a header, then a byte every 10 ms) is held to the deadline like
// one that sends nothing; and a header announcing a large frame does not make the reader set
// aside that much memory before the bytes come.
TEST(SandboxWire, ATrickledFrameTimesOutAndAnAnnouncedSizeIsNotReservedAhead) {
  Pair p;
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    uint32_t len = 100u << 20;  // 100 MiB announced
    std::string header(reinterpret_cast<const char*>(&len), 4);
    header.push_back(1);
    ASSERT_EQ(send(p.fd[1], header.data(), header.size(), 0), 5);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!stop && std::chrono::steady_clock::now() < until) {
      if (send(p.fd[1], "x", 1, MSG_DONTWAIT) != 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  timeval slice{0, 20 * 1000};  // as the server's end of a channel
  ASSERT_EQ(setsockopt(p.fd[0], SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice), 0);
  FrameReader reader(p.fd[0]);
  Frame f;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = reader.next(256u << 20, Deadline::after(std::chrono::milliseconds(300)), f);
  const auto waited = std::chrono::steady_clock::now() - t0;
  stop = true;
  trickler.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::Timeout);
  // The deadline is looked at between reads, and a read waits at most for the next byte (10 ms).
  EXPECT_LT(waited, std::chrono::seconds(2));
  EXPECT_LE(reader.buffer_size(), size_t{4} << 20);
}
