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
// load); changes go through the managers, which write the YAML file atomically first (the
// commit point) and then swap the snapshot. Every method is safe from any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/error.hpp"

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

// Matches `uri` against a level-1 template; fills the variables. Variables match one or more
// characters other than '/' (and other than the literal that follows them).
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

// One YAML file holding named entries in one or more lists (resources: static + dynamic).
class CatalogFile {
 public:
  struct List {
    std::vector<std::string> path;  // keys from the document root, e.g. {"resources", "static"}
  };
  CatalogFile(std::filesystem::path file, std::vector<List> lists) : file_(std::move(file)), lists_(std::move(lists)) {}

  // Reads the file (missing: an empty document). Returns the entries of every list.
  Result<std::vector<std::vector<boost::json::value>>> load();
  // Gives `edit` a copy of the document's lists (by index) to change, writes the result
  // atomically (one rename: the commit point), then keeps it.
  using ListAccess = std::function<boost::json::array&(size_t which)>;
  Result<void> commit(const std::function<void(const ListAccess& list)>& edit);
  const std::filesystem::path& path() const { return file_; }

 private:
  boost::json::array& list_in(boost::json::value& doc, size_t which);
  std::filesystem::path file_;
  std::vector<List> lists_;
  boost::json::value doc_ = boost::json::object{};
};

class ResourceCatalog {
 public:
  explicit ResourceCatalog(std::optional<std::filesystem::path> file);  // nullopt: nothing persisted

  Result<std::vector<std::string>> load(bool skip_broken);
  std::shared_ptr<const ResourceSnapshot> snapshot() const { return std::atomic_load(&snap_); }

  // Errors: InvalidArgument (400), AlreadyExists (409), NotFound (404), Io (500).
  Result<std::shared_ptr<const ResourceSpec>> add(const boost::json::value& body);
  Result<std::shared_ptr<const ResourceSpec>> update(std::string_view name, const boost::json::value& body);
  Result<std::shared_ptr<const ResourceSpec>> remove(std::string_view name);

  uint64_t on_change(std::function<void(const CatalogChange&)> listener);  // token for remove_listener
  void remove_listener(uint64_t token);

 private:
  Result<std::shared_ptr<const ResourceSpec>> parse_body(const boost::json::value& body) const;
  void publish(std::vector<std::shared_ptr<const ResourceSpec>> items, const CatalogChange& change);

  std::optional<CatalogFile> file_;
  std::mutex mu_;
  std::shared_ptr<const ResourceSnapshot> snap_;
  std::mutex listeners_mu_;
  std::vector<std::pair<uint64_t, std::function<void(const CatalogChange&)>>> listeners_;
  uint64_t next_listener_ = 1;
};

class PromptCatalog {
 public:
  explicit PromptCatalog(std::optional<std::filesystem::path> file);

  Result<std::vector<std::string>> load(bool skip_broken);
  std::shared_ptr<const PromptSnapshot> snapshot() const { return std::atomic_load(&snap_); }

  Result<std::shared_ptr<const PromptSpec>> add(const boost::json::value& body);
  Result<std::shared_ptr<const PromptSpec>> update(std::string_view name, const boost::json::value& body);
  Result<std::shared_ptr<const PromptSpec>> remove(std::string_view name);

  uint64_t on_change(std::function<void(const CatalogChange&)> listener);  // token for remove_listener
  void remove_listener(uint64_t token);

 private:
  void publish(std::vector<std::shared_ptr<const PromptSpec>> items, const CatalogChange& change);

  std::optional<CatalogFile> file_;
  std::mutex mu_;
  std::shared_ptr<const PromptSnapshot> snap_;
  std::mutex listeners_mu_;
  std::vector<std::pair<uint64_t, std::function<void(const CatalogChange&)>>> listeners_;
  uint64_t next_listener_ = 1;
};

}  // namespace wasimancer::registry
