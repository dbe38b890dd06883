// registry/replica.hpp: one replica of several sharing a PostgreSQL store.
//
// Ties the shared store (store_pg.hpp) to what this process serves: start() reads everything at
// one revision and serves it; then the store's watcher reports revisions (notifications, a
// periodic look, reconnects) and the replica reconciles whenever the store is ahead: it reads the
// tables (never relies on the notifications' content), loads and validates what changed, and swaps
// the plugins, resources and prompts (PluginManager::reconcile, Catalog::apply). A revision that
// fails to read is retried at the next report; the replica keeps serving what it had.
//
// Ownership: borrows the store, manager and catalogs; they must outlive it (stop() first, or
// destroy the store, which joins the watcher). Thread safety: every method is safe from any
// thread; reconciles are serialised.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include "registry/catalog.hpp"
#include "registry/plugin_manager.hpp"
#include "registry/store_pg.hpp"

namespace wasimancer::registry {

class Replica {
 public:
  Replica(PgStore& store, PluginManager& plugins, ResourceCatalog& resources, PromptCatalog& prompts)
      : store_(store), plugins_(plugins), resources_(resources), prompts_(prompts) {}

  // Serves the store's current revision, then starts watching it.
  Result<void> start();
  // Reconciles if the store's revision is ahead of the one served.
  void on_revision(uint64_t revision);
  // The revision everything served comes from (all three collections).
  uint64_t served_revision() const { return served_.load(); }
  // The newest revision the store has reported (notification, periodic look, reconnect).
  uint64_t latest_revision() const { return std::max(latest_.load(), served_.load()); }
  // Seconds since the replica learnt of a revision newer than the one it serves; 0 when it
  // serves the newest it knows of (the reconcile lag of /metrics).
  double lag_seconds() const;
  bool database_connected() const { return store_.connected(); }

 private:
  Result<void> catch_up();

  PgStore& store_;
  PluginManager& plugins_;
  ResourceCatalog& resources_;
  PromptCatalog& prompts_;
  std::mutex mu_;
  std::atomic<uint64_t> served_{0};
  std::atomic<uint64_t> latest_{0};
  std::atomic<int64_t> behind_since_ns_{0};  // steady clock; 0 while caught up
};

}  // namespace wasimancer::registry
