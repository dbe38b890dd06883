// core/thread_name.hpp: threads with names ("wm-net", "wm-worker", ...), as `top -H`, `ps -L`,
// /proc/PID/task/*/comm, perf and gdb show them, so that an operator can tell which of a server's
// threads is busy. Linux keeps 15 characters. Thread safety: name_this_thread names only the
// caller; named_thread returns the std::thread it starts (the caller owns it, as any).
#pragma once

#include <pthread.h>

#include <thread>
#include <utility>

namespace wasimancer {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

// Starts `body` on a new thread that first names itself `name` (a string literal: it is read on
// the new thread).
template <class F>
std::thread named_thread(const char* name, F&& body) {
  return std::thread([name, body = std::forward<F>(body)]() mutable {
    name_this_thread(name);
    body();
  });
}

}  // namespace wasimancer
