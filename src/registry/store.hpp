// registry/store.hpp: where the plugins, resources and prompts documents are kept.
//
// The storage seam. Each of the three collections is one JSON document (the shape of
// plugins.yml, resources.yml, prompts.yml) kept by a DocumentStore:
//   - YamlFileStore (store.cpp): the local YAML file, as wasimancer always did (the default);
//   - PgStore (store_pg.hpp): a table of a PostgreSQL database shared by several replicas, with
//     the wasm bytes of every plugin version beside it (WASIMANCER_DATABASE_URL).
// PluginManager, ResourceCatalog and PromptCatalog validate a change, then commit it through
// their store with an Edit: the store hands the edit the document as committed *in the store*
// (for a shared store, possibly newer than what this replica serves), and commits what the edit
// leaves, atomically. The edit may refuse (its error aborts the commit and is returned): that is
// how a conflicting change made through another replica meanwhile becomes a 409.
//
// Ownership: a store owns its connection or file state. Thread safety: commit() and load() may be
// called from any thread; commits are serialised by the store (YamlFileStore: by its callers, who
// hold their own change lock; PgStore: by the database).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "core/error.hpp"

namespace wasimancer::registry {

// Bytes committed with a document, addressed by their SHA-256 (hex): the wasm of a plugin version.
struct Blob {
  std::string sha256;
  std::string bytes;
};

class DocumentStore {
 public:
  virtual ~DocumentStore() = default;

  // Where the document lives, for messages ("plugins/plugins.yml", "PostgreSQL (resources)").
  virtual std::string where() const = 0;
  // True when other processes may commit to the same document (a database), false for a file
  // only this process writes.
  virtual bool shared() const { return false; }

  // The committed document; nullopt when there is none yet (no file). Errors: Io (cannot read),
  // InvalidArgument (not a valid document; the message names where()).
  virtual Result<std::optional<boost::json::value>> load() = 0;

  using Edit = std::function<Result<void>(boost::json::value& doc)>;
  // Gives `edit` the committed document (an empty object when there is none) and commits what it
  // leaves, atomically, together with `blobs`. Returns the store's revision after the commit
  // (YamlFileStore: a count of its commits). With if_revision (If-Match), commits only if the
  // store's revision is still that one (shared stores; a file store ignores it). Errors:
  // whatever `edit` returned (nothing is committed), Conflict (if_revision is stale), Io,
  // Unavailable (the database cannot be reached: nothing committed).
  virtual Result<uint64_t> commit(const Edit& edit, const std::vector<Blob>& blobs = {},
                                  std::optional<uint64_t> if_revision = std::nullopt) = 0;

  // The bytes of a blob committed earlier (shared stores). NotFound if there is none.
  virtual Result<std::string> blob(std::string_view sha256);
};

// The YAML file of today: write to a temporary file in the same folder, fsync, rename over the
// file (the commit point), through the folder's descriptor (core/files.hpp Dir: no link below it
// is followed). load() also deletes temporary files an interrupted write left (".<name>.tmp-*").
class YamlFileStore : public DocumentStore {
 public:
  // With crash_points, the commit passes the crash points "yaml-written" (after the fsync) and
  // "yaml-renamed" (after the rename) of the crash-consistency tests (plugins.yml).
  explicit YamlFileStore(std::filesystem::path file, bool crash_points = false)
      : file_(std::move(file)), crash_points_(crash_points) {}

  std::string where() const override { return file_.string(); }
  const std::filesystem::path& path() const { return file_; }
  Result<std::optional<boost::json::value>> load() override;
  Result<uint64_t> commit(const Edit& edit, const std::vector<Blob>& blobs = {},
                          std::optional<uint64_t> if_revision = std::nullopt) override;

 private:
  std::filesystem::path file_;
  bool crash_points_;
  boost::json::value doc_ = boost::json::object{};  // as last loaded or committed
  uint64_t commits_ = 0;
};

}  // namespace wasimancer::registry
