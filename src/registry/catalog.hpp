// registry/catalog.hpp: the resources (resources.yml) and prompts (prompts.yml) being served.
//
// resources.yml:  resources: { static: [entry...], dynamic: [entry...] }
//   entry: name, uri (a URI for static ones, an RFC 6570 level-1 template such as
//          greet-user://{firstName}/{lastName} for dynamic ones), arguments [{name, type,
//          description, values}], contents [{text | blob, mimeType, ...}] with ${arg}
//          substituted on read; ours: title, description, mimeType, size.
// prompts.yml:    prompts: { predefined: [entry...] }
//   entry: name, arguments [{name, type, description, required, values}], messages
//          [{role, text} | {role, content: {type: text|image|audio|resource, ...}}]; ours: title,
//          description.
// `values` lists completion candidates for an argument (completion/complete).
//
// Ownership and thread safety: as for Registry: readers take an immutable snapshot (one atomic
// load, core/snapshot.hpp); changes go through the catalog, which commits the document to its
// store first (registry/store.hpp: the YAML file, written atomically, or the shared database)
// and then swaps the snapshot. Every method is safe from any thread.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "core/snapshot.hpp"
#include "registry/store.hpp"

namespace wasimancer::registry {

struct CatalogArgument {
  std::string name;
  std::string type;
  std::string description;
  bool required = true;
  std::vector<std::string> values;  // completion candidates
};

struct ResourceSpec {
  std::string name;
  std::string uri;  // or the URI template of a dynamic resource
  bool dynamic = false;
  std::string title, description, mime_type;
  std::vector<CatalogArgument> arguments;
  boost::json::array contents;
  boost::json::object raw;
};

struct PromptSpec {
  std::string name;
  std::string title, description;
  std::vector<CatalogArgument> arguments;
  boost::json::array messages;
  boost::json::object raw;
};

Result<ResourceSpec> parse_resource_spec(const boost::json::value& entry, bool dynamic);
Result<PromptSpec> parse_prompt_spec(const boost::json::value& entry);

// The longest URI (or URI template) a resource may have and resources/read will match, in bytes.
inline constexpr size_t kMaxUriLength = 16 * 1024;
inline constexpr size_t kMaxUriTemplateLength = kMaxUriLength;

// Matches `uri` against a level-1 template; fills the variables. Variables match one or more
// characters other than '/', as few as possible (so up to the first place the literal that
// follows them occurs). Linear in the URI's length, no recursion; a URI or template longer than
// kMaxUriLength never matches.
bool match_uri_template(std::string_view tmpl, std::string_view uri, std::map<std::string, std::string>* vars);
// Replaces every ${name} with vars[name] (unknown names are left as they are).
std::string substitute(std::string_view text, const std::map<std::string, std::string>& vars);

template <typename Spec>
struct CatalogSnapshot {
  std::vector<std::shared_ptr<const Spec>> items;
  uint64_t revision = 0;
  std::shared_ptr<const Spec> find(std::string_view name) const {
    for (const auto& i : items) {
      if (i->name == name) return i;
    }
    return nullptr;
  }
};

using ResourceSnapshot = CatalogSnapshot<ResourceSpec>;
using PromptSnapshot = CatalogSnapshot<PromptSpec>;

// What changed, for notifications.
struct CatalogChange {
  enum Kind { Added, Updated, Removed } kind;
  std::string name;
  std::string uri;  // resources: the URI (or template) affected
};

// The resources or the prompts: a snapshot, the store behind it (optional: without one nothing is
// persisted), and listeners. Every change validates, commits to the store, swaps the snapshot,
// then notifies the listeners on the caller's thread (under the change lock, so they see changes
// in commit order; a listener must not change the catalog). With a shared store the commit's
// checks run again against the store's document (a change made through another replica since
// this one reconciled gives Conflict or NotFound), and the catalog then serves what the store
// holds (apply()).
// Ownership: owns its file and listeners; snapshots are shared with readers.
template <typename Spec>
class Catalog {
 public:
  explicit Catalog(std::optional<std::filesystem::path> file);  // the YAML file; nullopt: nothing persisted
  explicit Catalog(std::unique_ptr<DocumentStore> store);
  ~Catalog();

  // Loads the file (missing: empty). With skip_broken, broken entries are reported (returned)
  // and skipped; otherwise the first one fails the load.
  Result<std::vector<std::string>> load(bool skip_broken);
  std::shared_ptr<const CatalogSnapshot<Spec>> snapshot() const { return snap_.get(); }
  // Serves the entries of `doc` (a document of the store, as another replica committed it),
  // with the snapshot revision `revision`; broken entries are skipped (logged). Listeners hear
  // of every entry added, changed or removed.
  void apply(const boost::json::value& doc, uint64_t revision);

  // Errors: InvalidArgument (400), AlreadyExists (409), Conflict (409), NotFound (404), Io (500),
  // Unavailable (503: the shared store cannot be reached).
  Result<std::shared_ptr<const Spec>> add(const boost::json::value& body);
  Result<std::shared_ptr<const Spec>> update(std::string_view name, const boost::json::value& body);
  Result<std::shared_ptr<const Spec>> remove(std::string_view name);

  uint64_t on_change(std::function<void(const CatalogChange&)> listener) { return snap_.on_change(std::move(listener)); }
  void remove_listener(uint64_t token) { snap_.remove_listener(token); }

 private:
  void publish(std::vector<std::shared_ptr<const Spec>> items, std::optional<uint64_t> revision = std::nullopt);
  Result<std::vector<std::shared_ptr<const Spec>>> parse_document(const boost::json::value& doc, bool skip_broken,
                                                                  std::vector<std::string>* problems) const;
  void apply_locked(const boost::json::value& doc, std::optional<uint64_t> revision);
  // Commits `edit` and then serves `items` (a file store) or what the store holds (a shared one).
  Result<std::shared_ptr<const Spec>> commit(const std::function<Result<void>(boost::json::value&)>& edit,
                                             std::shared_ptr<const Spec> result, std::vector<std::shared_ptr<const Spec>> items,
                                             CatalogChange change);

  std::unique_ptr<DocumentStore> store_;
  std::mutex mu_;  // serialises changes
  Snapshot<CatalogSnapshot<Spec>, CatalogChange> snap_;
};

using ResourceCatalog = Catalog<ResourceSpec>;
using PromptCatalog = Catalog<PromptSpec>;

}  // namespace wasimancer::registry
