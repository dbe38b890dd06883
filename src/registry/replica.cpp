#include "registry/replica.hpp"

#include "core/log.hpp"

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

void Replica::on_revision(uint64_t revision) {
  std::lock_guard lock(mu_);
  if (revision <= served_.load()) return;
  if (auto r = catch_up(); !r) log().warn("cannot catch up with revision {}: {} (retried)", revision, r.error().message);
}

}  // namespace wasimancer::registry
