// registry/plugin_manager.hpp: plugins.yml, the wasm files it references, and the registry,
// kept consistent through start-up, publish, update and remove.
//
// Every change follows one sequence, and a failure at any step rolls back to the old state:
//   1. validate everything (data, file name, target directory, name clashes, the module itself:
//      it compiles, links, exports the declared functions and instantiates);
//   2. write the wasm to a temporary file, fsync, rename it to a name of its own (a file the
//      committed YAML references is never overwritten);           crash points wasm-written,
//                                                                   wasm-renamed
//   3. write the new plugins.yml to a temporary file, fsync,       yaml-written
//   4. rename it over plugins.yml: this is the commit point;       yaml-renamed
//   5. swap the registry snapshot (one atomic store);              swapped
//   6. delete the file the old entry referenced, if nothing references it any more.
// After a crash at any point a restart loads either the old or the new plugin, never a broken
// file or a dangling entry.
//
// Files: every access below PLUGINS_PATH and UPLOAD_PATH (and ?dir=) goes through a directory
// descriptor with openat and O_NOFOLLOW (core/files.hpp Dir): nothing is written or deleted
// through a symbolic link, and a name taken by anything but a file of ours (a link, a file the
// server did not write, one an entry references) is never replaced: the upload gets a name of
// its own. Every .wasm the server writes is recorded, before it gets its final name, in a
// manifest next to plugins.yml (".<definition file>.files": root folder, path, inode, SHA-256).
// At start-up a recorded file that no entry references and that is still the very file written
// (same inode and content) is deleted: what an update or publish cut short by a crash left
// behind. Files the server did not write are never deleted at start-up.
//
// Storage (registry/store.hpp): the plugins.yml document goes through a DocumentStore. With the
// default YamlFileStore everything above holds. With a shared store (PostgreSQL, several replicas)
// no file is written: an upload is validated the same way (step 1), then one commit stores the
// entry and the wasm bytes (by SHA-256) together, and the registry serves exactly what the store
// then holds (reconcile). Other replicas' changes arrive through reconcile() too.
//
// Ownership: borrows the Registry (and the NativeTier named in LoadOptions); they must outlive it.
// Owns the committed plugins.yml document. Thread safety: all methods are safe from any thread;
// changes are serialised by one mutex (and run on a worker: loading a plugin runs wasm).
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "registry/provenance.hpp"
#include "registry/registry.hpp"
#include "registry/store.hpp"

namespace wasimancer::registry {

struct PluginPaths {
  std::filesystem::path plugins_dir = "plugins";       // PLUGINS_PATH
  std::string definition_file = "plugins.yml";         // PLUGINS_DEFINITION_FILE
  std::filesystem::path upload_dir = "plugins";        // UPLOAD_PATH
  std::filesystem::path definition_path() const { return plugins_dir / definition_file; }
  // The manifest of the .wasm files the server wrote.
  std::filesystem::path manifest_path() const { return plugins_dir / ("." + definition_file + ".files"); }
};

struct UploadRequest {
  std::string plugin_data;  // the JSON text of one plugins.yml entry
  std::string file_name;    // the uploaded file's name
  std::string wasm;
  std::optional<std::string> dir;  // ?dir=
  // If-Match (shared store): commit only if the store's revision is still this one (else Conflict).
  std::optional<uint64_t> if_revision;
  std::optional<std::string> signature;  // a minisign signature of wasm (registry/provenance.hpp)
};

struct UploadResult {
  std::string file_path;             // where the file was stored (as a path from the working directory)
  boost::json::object metadata;      // the entry as committed to plugins.yml
  std::optional<std::string> note;   // e.g. the client's path was replaced
  std::shared_ptr<const PluginVersion> version;
  uint64_t revision = 0;             // the shared store's revision after the change (0: file store)
};

struct StartupProblem {
  std::string where;   // "plugins.yml entry 2 (\"roll dice\")"
  std::string reason;
};

class PluginManager {
 public:
  // `store` keeps the plugins document; null: the YAML file paths.definition_path().
  PluginManager(Registry& registry, PluginPaths paths, LoadOptions options, std::unique_ptr<DocumentStore> store = nullptr);
  ~PluginManager();

  // Loads plugins.yml (a missing file means no plugins). With skip_broken, broken entries are
  // reported and skipped; otherwise the first problem fails the whole load and nothing is published.
  Result<std::vector<StartupProblem>> load(bool skip_broken);

  // Errors: InvalidArgument / InvalidModule (400), AlreadyExists (409), NotFound (404), Io (500).
  Result<UploadResult> publish(const UploadRequest& request);
  Result<UploadResult> update(const UploadRequest& request);
  Result<std::shared_ptr<const PluginVersion>> remove(std::string_view name, std::optional<uint64_t> if_revision = std::nullopt);
  // Replaces a plugin with the version its last update replaced (its entry and module are kept
  // in memory until the next update, a remove or a restart), as an update would; rolling back
  // twice returns to where it started. NotFound when no previous version is kept.
  Result<UploadResult> rollback(std::string_view name);
  // The plugins.yml entry of the kept previous version, if any.
  std::optional<boost::json::value> previous(std::string_view name);

  // Shared store: serves exactly the plugins of `doc` (the store's document at `revision`):
  // entries unchanged since the last reconcile keep their loaded version, new or changed ones
  // are loaded from the store's bytes and validated, and the registry swaps to the whole set at
  // once. An entry that cannot be loaded keeps the version served before, if any (logged).
  void reconcile(const boost::json::value& doc, uint64_t revision);
  // The store revision the registry serves (shared store; 0 before the first reconcile).
  uint64_t served_revision() const { return served_revision_.load(); }

  const PluginPaths& paths() const { return paths_; }
  DocumentStore& store() { return *store_; }

  // The sha256 pin, signature and OCI rules (registry/provenance.hpp); set before load().
  // Errors of publish/update/load then include PermissionDenied (403: unsigned, badly signed,
  // registry not allowed).
  void set_provenance(std::shared_ptr<const Provenance> p) { provenance_ = std::move(p); }
  std::shared_ptr<const Provenance> provenance() const { return provenance_; }

 private:
  struct Target;      // where an upload goes (plugin_manager.cpp)
  struct OwnedFile {  // one manifest record
    std::string root;  // the canonical folder (PLUGINS_PATH or UPLOAD_PATH) it is under
    std::string path;  // below root ("sub/x.wasm")
    uint64_t ino = 0;
    std::string sha256;
  };

  Result<UploadResult> upload(const UploadRequest& request, bool replacing);
  Result<UploadResult> upload_shared(const UploadRequest& request, PluginSpec spec, bool replacing);
  void reconcile_locked(const boost::json::value& doc, uint64_t revision, std::shared_ptr<const PluginVersion> fresh);
  Result<Target> target_dir(const std::optional<std::string>& dir, bool create) const;
  std::filesystem::path resolve_entry_path(const std::string& path) const;
  Result<void> commit_yaml(const boost::json::value& doc);
  // Deletes the file an entry's path names, if it is a regular file below PLUGINS_PATH or
  // UPLOAD_PATH (reached without following links) that no entry of `doc` references.
  void delete_entry_file(const std::string& entry_path, const boost::json::value& doc);
  void load_manifest();
  Result<void> save_manifest();
  void clean_orphans(const boost::json::value& doc);

  Registry& registry_;
  PluginPaths paths_;
  LoadOptions options_;
  std::unique_ptr<DocumentStore> store_;
  bool shared_ = false;
  std::atomic<uint64_t> served_revision_{0};
  std::mutex mu_;
  boost::json::value doc_;  // the committed plugins.yml
  std::vector<OwnedFile> owned_;  // the manifest
  bool manifest_loaded_ = false;
  std::shared_ptr<const Provenance> provenance_ = std::make_shared<Provenance>();
  struct Previous {
    boost::json::value entry;           // its plugins.yml entry
    std::filesystem::path file;         // where its file was (the rollback stores it there again)
    std::vector<uint8_t> wasm;          // its module
  };
  std::map<std::string, Previous> previous_;  // by plugin name, under mu_
};

// A plain file name for an upload: letters, digits, '.', '_', '-', ending in ".wasm", not
// starting with '.', at most 128 characters.
bool is_plain_wasm_file_name(std::string_view name);

}  // namespace wasimancer::registry
