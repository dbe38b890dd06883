// The sandbox channel's framing (sandbox/wire): frames of every size arrive whole and in order,
// whatever pieces the bytes come in, and the reader's buffer is reused without growing forever.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "sandbox/wire.hpp"

using namespace wasimancer;
using namespace wasimancer::sandbox;

namespace {

struct Pair {
  int fd[2] = {-1, -1};
  Pair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0); }
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
  for (bool nonblocking : {false, true}) {
    Pair p;
    if (nonblocking) fcntl(p.fd[0], F_SETFL, O_NONBLOCK);
    const std::vector<size_t> sizes = {0, 1, 4, 5, 100, 65535, 65536, 65537, 200000, 3u << 20, 7, 0, 1u << 16};
    std::thread writer([&] {
      int i = 0;
      for (size_t n : sizes) ASSERT_TRUE(send_frame(p.fd[1], static_cast<uint8_t>(i + 1), pattern(n, i++)));
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
  Pair p;
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
