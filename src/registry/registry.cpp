#include "registry/registry.hpp"

#include <fmt/format.h>

namespace wasimancer::registry {

const ToolRef* PluginSnapshot::find_tool(std::string_view name) const {
  auto it = tool_index_.find(name);
  return it == tool_index_.end() ? nullptr : &tools_[it->second];
}

std::shared_ptr<const PluginVersion> PluginSnapshot::find_plugin(std::string_view name) const {
  for (const auto& p : plugins_) {
    if (p->spec.name == name) return p;
  }
  return nullptr;
}

void PluginSnapshot::index() {
  tools_.clear();
  tool_index_.clear();
  for (const auto& p : plugins_) {
    for (const auto& fn : p->spec.functions) {
      tool_index_.emplace(fn.tool_name, tools_.size());
      tools_.push_back(ToolRef{p, &fn});
    }
  }
}

Registry::Registry() : snapshot_(std::make_shared<PluginSnapshot>()) {}

Result<void> Registry::check_locked(const PluginSpec& spec, bool replacing) const {
  auto snap = snapshot();
  auto existing = snap->find_plugin(spec.name);
  if (!replacing && existing) {
    return Error(ErrorKind::AlreadyExists, fmt::format("a plugin named \"{}\" already exists", spec.name));
  }
  if (replacing && !existing) {
    return Error(ErrorKind::NotFound, fmt::format("no plugin named \"{}\" is loaded", spec.name));
  }
  for (const auto& fn : spec.functions) {
    const ToolRef* t = snap->find_tool(fn.tool_name);
    if (t && t->plugin->spec.name != spec.name) {
      return Error(ErrorKind::AlreadyExists, fmt::format("the tool name \"{}\" is already used by plugin \"{}\"",
                                                         fn.tool_name, t->plugin->spec.name));
    }
  }
  return {};
}

Result<void> Registry::check_add(const PluginSpec& spec) const {
  std::lock_guard lock(write_mu_);
  return check_locked(spec, false);
}

Result<void> Registry::check_replace(const PluginSpec& spec) const {
  std::lock_guard lock(write_mu_);
  return check_locked(spec, true);
}

std::shared_ptr<const PluginSnapshot> Registry::publish_locked(std::shared_ptr<PluginSnapshot> next) {
  next->revision_ = snapshot()->revision() + 1;
  next->index();
  std::shared_ptr<const PluginSnapshot> snap = std::move(next);
  std::atomic_store(&snapshot_, snap);
  return snap;
}

Result<void> Registry::add(std::shared_ptr<const PluginVersion> version) {
  std::shared_ptr<const PluginSnapshot> snap;
  {
    std::lock_guard lock(write_mu_);
    if (auto r = check_locked(version->spec, false); !r) return r;
    auto next = std::make_shared<PluginSnapshot>(*snapshot());
    next->plugins_.push_back(std::move(version));
    snap = publish_locked(std::move(next));
  }
  listeners_.notify(*snap);
  return {};
}

Result<std::shared_ptr<const PluginVersion>> Registry::replace(std::shared_ptr<const PluginVersion> version) {
  std::shared_ptr<const PluginVersion> old;
  std::shared_ptr<const PluginSnapshot> snap;
  {
    std::lock_guard lock(write_mu_);
    if (auto r = check_locked(version->spec, true); !r) return r.take_error();
    auto next = std::make_shared<PluginSnapshot>(*snapshot());
    for (auto& p : next->plugins_) {
      if (p->spec.name == version->spec.name) {
        old = p;
        p = std::move(version);
        break;
      }
    }
    snap = publish_locked(std::move(next));
  }
  if (old) old->retire();
  listeners_.notify(*snap);
  return old;
}

Result<std::shared_ptr<const PluginVersion>> Registry::remove(std::string_view name) {
  std::shared_ptr<const PluginVersion> old;
  std::shared_ptr<const PluginSnapshot> snap;
  {
    std::lock_guard lock(write_mu_);
    auto next = std::make_shared<PluginSnapshot>(*snapshot());
    for (auto it = next->plugins_.begin(); it != next->plugins_.end(); ++it) {
      if ((*it)->spec.name == name) {
        old = *it;
        next->plugins_.erase(it);
        break;
      }
    }
    if (!old) return Error(ErrorKind::NotFound, fmt::format("no plugin named \"{}\" is loaded", name));
    snap = publish_locked(std::move(next));
  }
  old->retire();
  listeners_.notify(*snap);
  return old;
}

}  // namespace wasimancer::registry
