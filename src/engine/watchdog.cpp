#include "engine/watchdog.hpp"

#include <algorithm>

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
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

uint64_t Watchdog::add(Deadline deadline, const std::atomic<bool>* cancel, std::function<void()> fire) {
  std::lock_guard lock(mu_);
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });  // started by the first call
  uint64_t id = next_++;
  entries_.emplace_hint(entries_.end(), id, Entry{deadline, cancel, std::move(fire), false});
  // Wake the thread only if this call needs a look before the one it planned.
  auto need = Clock::time_point::max();
  if (cancel) {
    auto now = Clock::now();
    need = now + kCancelPoll;
    poll_until_ = now + kPollLinger;
  }
  if (deadline.is_set()) need = std::min(need, deadline.at());
  if (need < next_look_) {
    next_look_ = need;
    cv_.notify_one();
  }
  return id;
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
  // Like add(): a watched call whose deadline is now sooner than the thread's next look wakes it
  // (a re-armed call, or a deadline moved earlier; the thread may be sleeping without a timeout).
  if (e.fired) return;
  auto need = Clock::time_point::max();
  if (e.cancel) need = Clock::now() + kCancelPoll;
  if (deadline.is_set()) need = std::min(need, deadline.at());
  if (need < next_look_) {
    next_look_ = need;
    cv_.notify_one();
  }
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
    for (auto& [id, e] : entries_) {
      if (e.fired) continue;
      if (e.cancel) wake = std::min(wake, now + kCancelPoll);
      if (e.deadline.is_set()) wake = std::min(wake, e.deadline.at());
    }
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
