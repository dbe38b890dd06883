#include "registry/registry.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/log.hpp"

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
    auto list = p->tools();
    for (const auto& fn : *list) {
      if (!tool_index_.emplace(fn.tool_name, tools_.size()).second) {
        log().warn("plugin \"{}\": tool \"{}\" is left out: another plugin serves a tool of that name", p->spec.name,
                   fn.tool_name);
        continue;
      }
      tools_.push_back(ToolRef{p, &fn, list});
    }
  }
}

Registry::Registry() : snapshot_(std::make_shared<const PluginSnapshot>()) {}

Result<void> Registry::check_locked(const PluginSpec& spec, const std::vector<FunctionSpec>& tools, bool replacing) const {
  auto snap = snapshot();
  auto existing = snap->find_plugin(spec.name);
  if (!replacing && existing) {
    return Error(ErrorKind::AlreadyExists, fmt::format("a plugin named \"{}\" already exists", spec.name));
  }
  if (replacing && !existing) {
    return Error(ErrorKind::NotFound, fmt::format("no plugin named \"{}\" is loaded", spec.name));
  }
  for (const auto& fn : tools) {
    const ToolRef* t = snap->find_tool(fn.tool_name);
    if (t && t->plugin->spec.name != spec.name) {
      return Error(ErrorKind::AlreadyExists,
                   fmt::format("the tool name \"{}\" is already used by plugin \"{}\" (set \"prefixTools\": true on one of "
                               "them, or WASIMANCER_PREFIX_TOOLS=1, to serve tools as <plugin>-<tool>)",
                               fn.tool_name, t->plugin->spec.name));
    }
  }
  return {};
}

Result<void> Registry::check_add(const PluginSpec& spec) const {
  std::lock_guard lock(write_mu_);
  return check_locked(spec, spec.functions, false);
}

Result<void> Registry::check_replace(const PluginSpec& spec) const {
  std::lock_guard lock(write_mu_);
  return check_locked(spec, spec.functions, true);
}

std::shared_ptr<const PluginSnapshot> Registry::publish_locked(std::shared_ptr<PluginSnapshot> next) {
  next->revision_ = snapshot()->revision() + 1;
  next->index();
  std::shared_ptr<const PluginSnapshot> snap = std::move(next);
  snapshot_.set(snap);
  return snap;
}

Result<void> Registry::add(std::shared_ptr<const PluginVersion> version) {
  std::shared_ptr<const PluginSnapshot> snap;
  {
    std::lock_guard lock(write_mu_);
    if (auto r = check_locked(version->spec, *version->tools(), false); !r) return r;
    auto next = std::make_shared<PluginSnapshot>(*snapshot());
    next->plugins_.push_back(std::move(version));
    snap = publish_locked(std::move(next));
  }
  snapshot_.notify(*snap);
  return {};
}

Result<std::shared_ptr<const PluginVersion>> Registry::replace(std::shared_ptr<const PluginVersion> version) {
  std::shared_ptr<const PluginVersion> old;
  std::shared_ptr<const PluginSnapshot> snap;
  {
    std::lock_guard lock(write_mu_);
    if (auto r = check_locked(version->spec, *version->tools(), true); !r) return r.take_error();
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
  snapshot_.notify(*snap);
  return old;
}

void Registry::refresh(const PluginVersion& version) {
  std::shared_ptr<const PluginSnapshot> snap;
  {
    std::lock_guard lock(write_mu_);
    auto current = snapshot();
    auto served = current->find_plugin(version.spec.name);
    if (!served || served.get() != &version) return;  // replaced or removed meanwhile
    snap = publish_locked(std::make_shared<PluginSnapshot>(*current));
  }
  snapshot_.notify(*snap);
}

Result<void> Registry::replace_all(std::vector<std::shared_ptr<const PluginVersion>> versions) {
  std::vector<std::shared_ptr<const PluginVersion>> retired;
  std::shared_ptr<const PluginSnapshot> snap;
  {
    std::lock_guard lock(write_mu_);
    for (size_t i = 0; i < versions.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (versions[j]->spec.name == versions[i]->spec.name) {
          return Error(ErrorKind::InvalidArgument, fmt::format("a plugin named \"{}\" is defined twice", versions[i]->spec.name));
        }
      }
    }
    auto current = snapshot();
    for (const auto& p : current->plugins()) {
      bool kept = std::any_of(versions.begin(), versions.end(), [&](const auto& v) { return v.get() == p.get(); });
      if (!kept) retired.push_back(p);
    }
    auto next = std::make_shared<PluginSnapshot>();
    next->plugins_ = std::move(versions);
    snap = publish_locked(std::move(next));
  }
  for (const auto& old : retired) old->retire();
  snapshot_.notify(*snap);
  return {};
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
  snapshot_.notify(*snap);
  return old;
}

}  // namespace wasimancer::registry
