#include "registry/replica.hpp"

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace wasimancer::registry {

Result<void> Replica::catch_up() {
  auto state = store_.read_all();
  if (!state) return state.take_error();
  plugins_.reconcile(state->plugins, state->revision);
  resources_.apply(state->resources, state->revision);
  prompts_.apply(state->prompts, state->revision);
  served_.store(state->revision);
  return {};
}

Result<void> Replica::start() {
  {
    std::lock_guard lock(mu_);
    if (auto r = catch_up(); !r) return r;
  }
  log().info("serving revision {} of the database", served_.load());
  store_.watch([this](uint64_t revision) { on_revision(revision); });
  return {};
}

namespace {
int64_t steady_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

void Replica::on_revision(uint64_t revision) {
  int64_t reported = steady_ns();
  for (uint64_t seen = latest_.load(); revision > seen && !latest_.compare_exchange_weak(seen, revision);) {
  }
  if (revision > served_.load()) {
    int64_t none = 0;
    behind_since_ns_.compare_exchange_strong(none, reported);
  }
  std::lock_guard lock(mu_);
  if (revision <= served_.load()) return;
  if (auto r = catch_up(); !r) {
    log().warn("cannot catch up with revision {}: {} (retried)", revision, r.error().message);
    return;
  }
  if (served_.load() >= latest_.load()) behind_since_ns_.store(0);
  if (metrics::enabled()) {
    static auto& took = metrics::registry().histogram(
        "wasimancer_database_reconcile_seconds",
        "Time from hearing of a newer database revision to serving it (reading the tables, loading what changed, the swap)", {});
    took.with({}).observe(static_cast<double>(steady_ns() - reported) / 1e9);
  }
}

double Replica::lag_seconds() const {
  int64_t since = behind_since_ns_.load();
  if (since == 0 || served_.load() >= latest_.load()) return 0;
  return static_cast<double>(steady_ns() - since) / 1e9;
}

}  // namespace wasimancer::registry
