// mcp::ResponseStream: the queue between the producers of an answer (workers) and the transport,
// and its back-pressure: a consumer that does not keep up is cut off and the queue freed.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "mcp/response_stream.hpp"

using namespace wasimancer::mcp;
using namespace std::chrono_literals;
using Part = ResponseStream::Part;

namespace {
HttpHead sse() {
  HttpHead h;
  h.content_type = "text/event-stream";
  return h;
}
}  // namespace

TEST(ResponseStream, ChunksFlowInOrderUntilTheEnd) {
  ResponseStream s(1000);
  s.start(sse());
  EXPECT_TRUE(s.chunk("a"));
  EXPECT_TRUE(s.chunk("bb"));
  s.end();
  EXPECT_FALSE(s.chunk("late"));
  std::vector<Part> parts;
  EXPECT_EQ(s.pop_all(parts), 4u);
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].kind, Part::StreamHead);
  EXPECT_EQ(parts[1].data, "a");
  EXPECT_EQ(parts[2].data, "bb");
  EXPECT_EQ(parts[3].kind, Part::End);
  EXPECT_EQ(s.queued_bytes(), 0u);
  EXPECT_FALSE(s.overflowed());
}

TEST(ResponseStream, AConsumerThatDoesNotReadIsCutOffAndTheQueueFreed) {
  ResponseStream s(10 * 1024);
  bool finished = false;
  s.on_finish([&] { finished = true; });
  s.start(sse());
  std::string kb(1024, 'x');
  size_t accepted = 0;
  // Far more than the budget, as a flood of answers to a client that stopped reading.
  for (int i = 0; i < 1000; ++i) {
    if (s.chunk(kb)) ++accepted;
  }
  EXPECT_LE(accepted, 10u);
  EXPECT_TRUE(s.overflowed());
  EXPECT_FALSE(s.open());
  EXPECT_EQ(s.queued_bytes(), 0u) << "the backlog is dropped at once";
  Part p;
  ASSERT_TRUE(s.try_pop(p));
  EXPECT_EQ(p.kind, Part::Abort) << "the consumer is told to close the connection";
  EXPECT_FALSE(s.try_pop(p));
  EXPECT_FALSE(finished);
  s.finish();  // what the transport does once it closed the connection
  EXPECT_TRUE(finished);
}

TEST(ResponseStream, OneLargeMessageStillGoesThroughAnEmptyQueue) {
  ResponseStream s(1000);
  s.start(sse());
  Part head;
  ASSERT_TRUE(s.try_pop(head));
  EXPECT_TRUE(s.chunk(std::string(5000, 'y')));  // alone in the queue: accepted
  EXPECT_FALSE(s.overflowed());
  Part p;
  ASSERT_TRUE(s.try_pop(p));
  EXPECT_EQ(p.data.size(), 5000u);
  EXPECT_TRUE(s.chunk(std::string(900, 'z')));
  EXPECT_FALSE(s.chunk(std::string(200, 'z')));  // 900 queued + 200 > 1000
  EXPECT_TRUE(s.overflowed());
}

TEST(ResponseStream, AReadingConsumerIsNeverCutOff) {
  ResponseStream s(64 * 1024);
  s.start(sse());
  std::atomic<bool> done{false};
  size_t got = 0;
  std::thread consumer([&] {
    Part p;
    while (true) {
      if (!s.wait_pop(p, 5s)) break;
      if (p.kind == Part::Chunk) got += p.data.size();
      if (p.kind == Part::End || p.kind == Part::Abort) break;
    }
    done = true;
  });
  // 4 MiB through a 64 KiB budget, the producer waiting whenever the queue is half full.
  std::string kb(1024, 'x');
  for (int i = 0; i < 4096; ++i) {
    while (s.queued_bytes() > 32 * 1024) std::this_thread::yield();
    ASSERT_TRUE(s.chunk(kb));
  }
  s.end();
  consumer.join();
  EXPECT_EQ(got, 4096u * 1024);
  EXPECT_FALSE(s.overflowed());
}

TEST(ResponseStream, FinishFreesWhatIsQueuedAndClosesIt) {
  ResponseStream s(0);  // unbounded
  s.start(sse());
  for (int i = 0; i < 100; ++i) s.chunk(std::string(1000, 'q'));
  EXPECT_EQ(s.queued_bytes(), 100000u);
  s.finish();
  EXPECT_EQ(s.queued_bytes(), 0u);
  EXPECT_FALSE(s.open());
  EXPECT_FALSE(s.chunk("more"));
  Part p;
  EXPECT_FALSE(s.try_pop(p));
}

// The transport's pump looks at the queue before it waits, so it sets its waker without the
// wake for parts already queued; every part pushed afterwards wakes it.
TEST(ResponseStream, AWakerSetWithoutTheQueuedWakeRunsForEveryLaterPart) {
  ResponseStream s;
  s.start(sse());
  int wakes = 0;
  s.set_waker([&] { ++wakes; }, false);
  EXPECT_EQ(wakes, 0);  // the head was queued before: no wake
  s.chunk("data: 1\n\n");
  s.end();
  EXPECT_EQ(wakes, 2);
  ResponseStream t;
  t.start(sse());
  t.set_waker([&] { ++wakes; });  // the default wakes at once for what is queued
  EXPECT_EQ(wakes, 3);
}
