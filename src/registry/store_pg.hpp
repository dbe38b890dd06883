// registry/store_pg.hpp: the shared store of several replicas, in PostgreSQL (libpq).
//
// Built only when libpq is found at configure time (WASIMANCER_HAVE_POSTGRESQL); otherwise
// PgStore::open says the server was built without it.
//
// Schema (versioned migrations, run by open() under an advisory lock, so several replicas
// starting at once apply each migration exactly once; a database newer than this server refuses):
//   wasimancer_schema(version)                  the migrations applied
//   wasimancer_state(revision)                  one row: the monotonic revision of everything below
//   wasimancer_wasm(sha256, bytes, unreferenced_since)   the wasm of every plugin version, by
//                                               content; a module no plugin uses is deleted by
//                                               the first plugin commit an hour after it stopped
//                                               being used
//   wasimancer_plugins(name, position, kind, body, sha256, revision)    plugins.yml entries
//   wasimancer_resources(name, position, kind, body, revision)          kind: static | dynamic
//   wasimancer_prompts(name, position, kind, body, revision)            kind: predefined
//   wasimancer_tasks(id, body, expires_at)      2026-07-28 tasks, readable through any replica
// Bodies are `json` (not jsonb: the text, and so the key order, is kept exactly).
//
// Every commit is one transaction: lock the state row (SELECT ... FOR UPDATE: all changes through
// all replicas are linearised), check If-Match, read the collection, run the edit, write the rows
// that changed and the blobs, bump the revision, pg_notify('wasimancer', revision), commit.
// Replicas LISTEN on another connection (watch()); a notification, or a periodic look at the
// revision (a missed notification, a reconnect), makes them read everything at one revision
// (read_all(), REPEATABLE READ) and serve it. Catch-up always reads the tables.
//
// Outage: a call that cannot reach the database returns Unavailable (503 for admin writes) with a
// clear message; the next call reconnects. watch() reconnects with backoff (0.2 s doubling to 5 s)
// and catches up once connected.
//
// Ownership: owns its connections and the watcher thread (stopped by the destructor).
// Thread safety: every method is safe from any thread (one mutex guards the request connection).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "registry/store.hpp"

namespace wasimancer::registry {

enum class Collection { Plugins, Resources, Prompts };

// Everything the store holds, at one revision.
struct StoreState {
  uint64_t revision = 0;
  boost::json::value plugins, resources, prompts;
};

class PgStore {
 public:
  // Connects (a libpq URL or key=value string) and runs the migrations.
  static Result<std::unique_ptr<PgStore>> open(const std::string& url);
  // True when the server was built with libpq.
  static bool available();
  ~PgStore();

  // The store of one collection (borrows this PgStore, which must outlive it).
  std::unique_ptr<DocumentStore> document(Collection c);
  Result<StoreState> read_all();
  Result<uint64_t> revision();
  // The schema version this server migrates to.
  static int schema_version();

  // Starts the watcher: `on_revision(rev)` is called from the watcher thread with the store's
  // revision after a notification, on (re)connecting, and every `poll` in any case (a missed
  // notification). Call once.
  void watch(std::function<void(uint64_t revision)> on_revision, std::chrono::milliseconds poll = std::chrono::seconds(2));
  // Stops the watcher (joins its thread); the destructor does it too. Call before whatever
  // on_revision uses goes away.
  void stop_watching();
  // False while the watcher has no connection (the database is down or unreachable).
  bool connected() const { return connected_.load(); }

  // Tasks (mcp/task_store_pg.hpp: tasks any replica can answer): a body per id, kept until
  // `expires_ms` (milliseconds since the epoch). create_task: AlreadyExists for a taken id.
  // update_task: `change` gets the stored body and expiry under a row lock (one transaction) and
  // returns false to leave them; returns the body as stored after it, nullopt for an unknown id.
  Result<void> create_task(const std::string& id, const std::string& body, int64_t expires_ms);
  Result<std::optional<std::string>> get_task(const std::string& id);
  Result<std::optional<std::string>> update_task(const std::string& id, const std::function<bool(std::string& body, int64_t& expires_ms)>& change);
  Result<size_t> remove_expired_tasks();

  // Used by the collection stores (store_pg.cpp).
  struct Impl;

 private:
  PgStore();
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> connected_{false};
};

}  // namespace wasimancer::registry
