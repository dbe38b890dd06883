// registry/registry.hpp: which plugins (and so which tools) exist right now.
//
// Readers take a snapshot (one atomic load) and use it for as long as they like; writers build
// a new snapshot and swap it in, so a reader never sees a half-applied change and an update
// never leaves a moment where a tool is missing. Plugins keep the order they were added in (an
// update keeps its place), which gives tools/list a stable order.
//
// Ownership: a snapshot is immutable and shared by its readers; it holds its plugin versions,
// and a ToolRef keeps the version its `function` points into alive.
// Thread safety: every method is safe from any thread. Writers are serialised by a mutex.
// Listeners run on the writer's thread after the swap, outside the lock.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/snapshot.hpp"
#include "registry/plugin_version.hpp"

namespace wasimancer::registry {

struct ToolRef {
  std::shared_ptr<const PluginVersion> plugin;
  const FunctionSpec* function;  // points into `list`
  std::shared_ptr<const std::vector<FunctionSpec>> list;  // the version's tools when indexed
};

class PluginSnapshot {
 public:
  const std::vector<std::shared_ptr<const PluginVersion>>& plugins() const { return plugins_; }
  const std::vector<ToolRef>& tools() const { return tools_; }
  const ToolRef* find_tool(std::string_view name) const;
  std::shared_ptr<const PluginVersion> find_plugin(std::string_view name) const;
  uint64_t revision() const { return revision_; }

 private:
  friend class Registry;
  void index();
  std::vector<std::shared_ptr<const PluginVersion>> plugins_;
  std::vector<ToolRef> tools_;
  std::map<std::string, size_t, std::less<>> tool_index_;
  uint64_t revision_ = 0;
};

class Registry {
 public:
  Registry();

  std::shared_ptr<const PluginSnapshot> snapshot() const { return snapshot_.get(); }

  // Checks without changing anything: AlreadyExists for a taken plugin name or tool name.
  Result<void> check_add(const PluginSpec& spec) const;
  // NotFound for an unknown name; AlreadyExists if a tool name clashes with another plugin.
  Result<void> check_replace(const PluginSpec& spec) const;

  Result<void> add(std::shared_ptr<const PluginVersion> version);
  // Returns the version it replaced.
  Result<std::shared_ptr<const PluginVersion>> replace(std::shared_ptr<const PluginVersion> version);
  Result<std::shared_ptr<const PluginVersion>> remove(std::string_view name);
  // Publishes a new snapshot with the same plugins, re-reading their tools (a self-describing
  // plugin re-described itself), if `version` is still the one served. A tool that now clashes
  // with another plugin's is left out (and logged).
  void refresh(const PluginVersion& version);
  // Publishes exactly `versions` (in this order) in one swap: what a replica does when the shared
  // store has a new revision. Versions no longer served are retired. Fails (and changes nothing)
  // on two plugins of one name; a tool that clashes with an earlier plugin's is left out (logged).
  Result<void> replace_all(std::vector<std::shared_ptr<const PluginVersion>> versions);

  // Called after every change with the new snapshot. Returns a token for remove_listener.
  uint64_t on_change(std::function<void(const PluginSnapshot&)> listener) { return snapshot_.on_change(std::move(listener)); }
  void remove_listener(uint64_t token) { snapshot_.remove_listener(token); }

 private:
  Result<void> check_locked(const PluginSpec& spec, const std::vector<FunctionSpec>& tools, bool replacing) const;
  // Swaps in `next` and returns it (to notify with, once the lock is released).
  std::shared_ptr<const PluginSnapshot> publish_locked(std::shared_ptr<PluginSnapshot> next);

  mutable std::mutex write_mu_;
  Snapshot<PluginSnapshot> snapshot_;
};

}  // namespace wasimancer::registry
