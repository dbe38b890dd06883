// core/thread_name.hpp: names the calling thread ("wm-net", "wm-worker", ...), as `top -H`,
// `ps -L`, /proc/PID/task/*/comm, perf and gdb show it, so that an operator can tell which of a
// server's threads is busy. Linux keeps 15 characters. Thread safety: names only the caller.
#pragma once

#include <pthread.h>

namespace wasimancer {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace wasimancer
