// engine/watchdog.hpp: interrupts native calls whose deadline passes or that are cancelled.
//
// One thread per Watchdog, started by the first registration. A native call registers for its duration (add/remove); when its
// deadline passes or its cancel flag is set, the watchdog runs the call's `fire` (which raises
// the instance's stack limit, so the next function entry traps). Loops stop themselves through
// the fuel checks; this stops loop-free recursion on the native tier.
//
// Ownership: the application owns its Watchdog (the server, a sandbox worker, `wasimancer call`)
// and must keep it alive while native instances may run; host::PluginOptions carries it to the
// instances. Thread safety: every method is safe from any thread; `fire` runs on the watchdog's
// thread with its lock held (it must only flip the instance's limit).
//
// Cost: add() and remove() take the lock and touch a map; add() wakes the thread only when the
// new call needs an earlier look than the one already planned (a deadline or a cancel poll sooner
// than the thread's next wake), so under steady traffic the thread wakes once per poll interval,
// not once per call. With nothing to watch (no call, or only fired ones, and no cancel poll
// lingering) it sleeps until add() or update() needs it: an idle server or worker never wakes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "core/clock.hpp"

namespace wasimancer::engine {

class Watchdog {
 public:
  Watchdog();
  ~Watchdog();  // joins its thread; no call may be registered any more
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts the thread now rather than at the first registration (a sandbox worker does, before
  // its system-call filter forbids creating threads); returns once the thread has named itself
  // ("wm-watchdog", a prctl the filter forbids too).
  void start();

  uint64_t add(Deadline deadline, const std::atomic<bool>* cancel, std::function<void()> fire);
  // The deadline moved (time spent waiting on a client is not counted): `rearm` undoes a fire
  // that is no longer due, and the thread is woken if the call now needs an earlier look. Runs on
  // the call's thread, between wasm frames.
  void update(uint64_t id, Deadline deadline, const std::function<void()>& rearm);
  void remove(uint64_t id);

  // How many times the thread woke (tests: a steady stream of calls must not wake it per call).
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    Deadline deadline;
    const std::atomic<bool>* cancel;
    std::function<void()> fire;
    bool fired;
  };
  void start_locked();  // under mu_
  void run();
  // When the thread must look at `e` next (max: not until it changes). Under mu_.
  static Clock::time_point next_look(const Entry& e, Clock::time_point now);
  // Wakes the thread if `e` needs a look before the one it planned. Under mu_.
  void wake_for(const Entry& e, Clock::time_point now);

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_ = 1;
  // When the thread will look next (it sleeps until then unless woken): a registration wakes it
  // only when it needs an earlier look, so steady traffic costs no wake-up per call.
  Clock::time_point next_look_{};
  Clock::time_point poll_until_{};  // keep polling for cancel flags until then (see kPollLinger)
  std::atomic<uint64_t> wakeups_{0};
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace wasimancer::engine
