#include "engine/watchdog.hpp"

#include <algorithm>
#include <future>

#include "core/thread_name.hpp"

namespace wasimancer::engine {

namespace {
constexpr std::chrono::milliseconds kCancelPoll{5};
// After a call with a cancel flag, the thread keeps polling at kCancelPoll this long, even while
// no call is registered: a worker running one short call at a time would otherwise find nothing
// at each poll, fall back to sleeping until woken, and be woken by the next call's add().
constexpr std::chrono::seconds kPollLinger{1};
}  // namespace

Watchdog::Watchdog() = default;

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::start() {
  std::lock_guard lock(mu_);
  start_locked();
}

void Watchdog::start_locked() {
  if (thread_.joinable()) return;
  // Named before this returns: a sandbox worker enters its system-call filter right after
  // start(), and the filter has no prctl (which naming a thread is).
  std::promise<void> named;
  std::future<void> done = named.get_future();
  thread_ = std::thread([this, &named] {
    name_this_thread("wm-watchdog");
    named.set_value();
    run();
  });
  done.wait();
}

uint64_t Watchdog::add(Deadline deadline, const std::atomic<bool>* cancel, std::function<void()> fire) {
  std::lock_guard lock(mu_);
  start_locked();  // started by the first call unless start() was
  uint64_t id = next_++;
  const Entry& e = entries_.emplace_hint(entries_.end(), id, Entry{deadline, cancel, std::move(fire), false})->second;
  const auto now = Clock::now();
  if (cancel) poll_until_ = now + kPollLinger;
  wake_for(e, now);
  return id;
}

Clock::time_point Watchdog::next_look(const Entry& e, Clock::time_point now) {
  auto at = Clock::time_point::max();
  if (e.fired) return at;  // nothing more to do for it until update() re-arms it
  if (e.cancel) at = now + kCancelPoll;
  if (e.deadline.is_set()) at = std::min(at, e.deadline.at());
  return at;
}

void Watchdog::wake_for(const Entry& e, Clock::time_point now) {
  // Only if this call needs a look before the one the thread planned (it may be sleeping
  // without a timeout): steady traffic then costs no wake-up per call.
  const auto need = next_look(e, now);
  if (need < next_look_) {
    next_look_ = need;
    cv_.notify_one();
  }
}

void Watchdog::update(uint64_t id, Deadline deadline, const std::function<void()>& rearm) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  e.deadline = deadline;
  bool cancelled = e.cancel && e.cancel->load();
  if (e.fired && !deadline.expired() && !cancelled) {
    rearm();
    e.fired = false;
  }
  wake_for(e, Clock::now());  // a re-armed call, or a deadline moved earlier
}

void Watchdog::remove(uint64_t id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
}

void Watchdog::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = Clock::now();
    // With nothing to watch the thread sleeps until add() or update() needs it (an idle worker
    // process or server costs no wake-ups; it used to look every 50 ms, 20 a second per process).
    auto wake = now < poll_until_ ? now + kCancelPoll : Clock::time_point::max();
    for (const auto& [id, e] : entries_) wake = std::min(wake, next_look(e, now));
    next_look_ = wake;
    if (wake == Clock::time_point::max()) cv_.wait(lock);
    else cv_.wait_until(lock, wake);
    next_look_ = Clock::time_point{};  // awake: a registration now is seen by the loop below
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    for (auto& [id, e] : entries_) {
      if (e.fired) continue;
      if (e.deadline.expired() || (e.cancel && e.cancel->load())) {
        e.fire();
        e.fired = true;
      }
    }
  }
}

}  // namespace wasimancer::engine
