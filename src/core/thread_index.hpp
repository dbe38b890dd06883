// core/thread_index.hpp: a small number per thread, handed out in the order threads first ask
// (0, 1, 2, ...), fixed for the thread's life. Used to spread threads over striped counters and
// sharded buffers (metrics, log lines, span export) so that threads on different cores do not
// write the same cache line. Thread safety: safe from any thread; no ownership.
#pragma once

#include <atomic>

namespace wasimancer {

inline unsigned thread_index() {
  static std::atomic<unsigned> next{0};
  thread_local const unsigned index = next.fetch_add(1, std::memory_order_relaxed);
  return index;
}

}  // namespace wasimancer
