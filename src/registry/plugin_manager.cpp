#include "registry/plugin_manager.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/crash_point.hpp"
#include "core/crypto.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "registry/names.hpp"
#include "registry/native_tier.hpp"
#include "registry/store.hpp"
#include "registry/yaml_json.hpp"

namespace wasimancer::registry {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

json::array* plugin_list(json::value& doc) {
  if (!doc.is_object()) return nullptr;
  auto* p = doc.as_object().if_contains("plugins");
  return (p && p->is_array()) ? &p->as_array() : nullptr;
}

const json::array* plugin_list(const json::value& doc) { return plugin_list(const_cast<json::value&>(doc)); }

// The entry of `list` named `name`, or end().
json::array::iterator find_entry(json::array& list, std::string_view name) {
  return std::find_if(list.begin(), list.end(), [&](const json::value& e) {
    auto* n = e.is_object() ? e.as_object().if_contains("name") : nullptr;
    return n && n->is_string() && n->as_string() == name;
  });
}

// An entry's "path" as a string, if it has one.
std::optional<std::string> entry_path(const json::value& entry) {
  auto* p = entry.is_object() ? entry.as_object().if_contains("path") : nullptr;
  if (!p || !p->is_string()) return std::nullopt;
  return std::string(p->as_string());
}

void warn_about_tool_names(const PluginSpec& spec) {
  for (const auto& f : spec.functions) {
    if (!is_recommended_tool_name(f.tool_name)) {
      log().warn("tool \"{}\" (plugin \"{}\"): some MCP clients reject tool names outside [A-Za-z0-9_.-]", f.tool_name, spec.name);
    }
  }
}

fs::path canonical_or_self(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? fs::absolute(p).lexically_normal() : c;
}

bool is_within(const fs::path& child, const fs::path& root) {
  auto c = child.lexically_normal(), r = root.lexically_normal();
  auto ci = c.begin();
  for (auto ri = r.begin(); ri != r.end(); ++ri, ++ci) {
    if (ri->empty() && std::next(ri) == r.end()) break;  // trailing slash
    if (ci == c.end() || *ci != *ri) return false;
  }
  return true;
}

// Temporary files of an interrupted write (".<name>.tmp-<hex>", from write_file_atomic and the
// upload sequence) anywhere below `dir`, since an upload may target a subdirectory (?dir=).
// Links are never followed (nor deleted).
void remove_stale_temporaries(const Dir& dir, int depth = 0) {
  for (const auto& [name, kind] : dir.list()) {
    if (kind == Dir::Kind::Directory && depth < 8) {
      if (auto sub = dir.walk(name, false)) remove_stale_temporaries(*sub, depth + 1);
    } else if (kind == Dir::Kind::File && name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos) {
      (void)dir.remove_file(name);
    }
  }
}

void remove_stale_temporaries(const fs::path& dir) {
  if (auto d = Dir::open(dir, false)) remove_stale_temporaries(*d);
}

using FileId = std::pair<dev_t, ino_t>;

// The file a path names (links followed: what the loader reads).
std::optional<FileId> file_id(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

// `abs` below `root` (both lexically normal and absolute): the relative part, or nullopt.
std::optional<std::string> below(const fs::path& abs, const fs::path& root) {
  if (!is_within(abs, root)) return std::nullopt;
  std::string rel = abs.lexically_relative(root).generic_string();
  if (rel == ".") rel.clear();
  if (rel.rfind("..", 0) == 0) return std::nullopt;
  return rel;
}

// Splits "a/b/c.wasm" into "a/b" and "c.wasm".
std::pair<std::string, std::string> split_last(const std::string& rel) {
  auto slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// Shared store: each entry of the plugins document carries the SHA-256 of its wasm bytes (kept
// by the store beside it) under this key; it is not part of the plugin's metadata.
constexpr std::string_view kWasmKey = "wasmSha256";

std::string take_wasm_key(json::value& entry) {
  if (!entry.is_object()) return {};
  auto* v = entry.as_object().if_contains(kWasmKey);
  std::string sha = (v && v->is_string()) ? std::string(v->as_string()) : std::string();
  entry.as_object().erase(kWasmKey);
  return sha;
}

void put_wasm_key(json::value& entry, const std::string& sha) {
  if (entry.is_object()) entry.as_object()[kWasmKey] = sha;
}

// What a plugin loaded from the shared store shows as its file.
fs::path shared_file_label(const std::string& name, const std::string& sha) {
  return fs::path(fmt::format("db:{}@{}", name, sha.substr(0, 12)));
}

}  // namespace

bool is_plain_wasm_file_name(std::string_view name) {
  if (name.size() < 6 || name.size() > 128 || name[0] == '.' || name[0] == '-') return false;
  if (name.substr(name.size() - 5) != ".wasm") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return name.find("..") == std::string_view::npos;
}

PluginManager::PluginManager(Registry& registry, PluginPaths paths, LoadOptions options, std::unique_ptr<DocumentStore> store)
    : registry_(registry), paths_(std::move(paths)), options_(std::move(options)), store_(std::move(store)), doc_(json::object{}) {
  if (!store_) store_ = std::make_unique<YamlFileStore>(paths_.definition_path(), true);
  shared_ = store_->shared();
  // A self-describing plugin said its tools, prompts or resources changed: ask it again, and
  // publish (every client gets list_changed).
  if (!options_.on_list_changed) {
    options_.on_list_changed = [&registry](const PluginVersion& v) {
      auto changed = v.redescribe();
      if (!changed) {
        log().warn("plugin \"{}\" {} said its lists changed, but describing it failed: {}", v.spec.name, v.spec.version,
                   changed.error().message);
      } else if (*changed) {
        registry.refresh(v);
      }
    };
  }
}

PluginManager::~PluginManager() = default;

fs::path PluginManager::resolve_entry_path(const std::string& path) const {
  // WASImancer concatenates PLUGINS_PATH and path ("/roll-dice/x.wasm" is inside PLUGINS_PATH).
  std::string p = path;
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  return (paths_.plugins_dir / p).lexically_normal();
}

// Where an upload goes: the directory (held open), the canonical root it is below, and the
// path to show (as the client named it).
struct PluginManager::Target {
  Dir dir;                 // open only when create was asked for
  fs::path root;           // canonical PLUGINS_PATH or UPLOAD_PATH
  std::string rel;         // below root ("" or "a/b")
  fs::path shown;          // UPLOAD_PATH or ?dir= as given
};

// ---- the manifest of server-written files ------------------------------------------------------

void PluginManager::load_manifest() {
  owned_.clear();
  manifest_loaded_ = true;
  auto text = read_file(paths_.manifest_path(), 16 << 20);
  if (!text) return;
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  const json::value* files = (!ec && v.is_object()) ? v.as_object().if_contains("files") : nullptr;
  if (!files || !files->is_array()) {
    log().warn("{} is not a valid manifest: ignored", paths_.manifest_path().string());
    return;
  }
  for (const auto& f : files->as_array()) {
    if (!f.is_object()) continue;
    const auto& o = f.as_object();
    auto* root = o.if_contains("root");
    auto* path = o.if_contains("path");
    auto* ino = o.if_contains("inode");
    auto* sha = o.if_contains("sha256");
    if (!root || !root->is_string() || !path || !path->is_string() || !ino || !(ino->is_uint64() || ino->is_int64()) || !sha ||
        !sha->is_string()) {
      continue;
    }
    owned_.push_back(OwnedFile{std::string(root->as_string()), std::string(path->as_string()), ino->to_number<uint64_t>(),
                               std::string(sha->as_string())});
  }
}

Result<void> PluginManager::save_manifest() {
  json::array files;
  for (const auto& f : owned_) {
    files.push_back(json::object{{"root", f.root}, {"path", f.path}, {"inode", f.ino}, {"sha256", f.sha256}});
  }
  json::object doc{{"about", "the .wasm files wasimancer wrote here (it deletes them at start-up when no plugin uses them)"},
                   {"files", std::move(files)}};
  auto dir = Dir::open(paths_.plugins_dir, true);
  if (!dir) return dir.take_error();
  return dir->write_atomic(paths_.manifest_path().filename().string(), json::serialize(doc) + "\n");
}

// Deletes what an interrupted publish or update left: recorded files no entry references that
// are still the very files written. Records of files that are gone (or replaced by someone
// else's) are dropped; the others are kept.
void PluginManager::clean_orphans(const json::value& doc) {
  load_manifest();
  if (owned_.empty()) return;
  std::set<FileId> used;
  if (const json::array* list = plugin_list(doc)) {
    for (const auto& e : *list) {
      if (auto p = entry_path(e)) {
        if (auto id = file_id(resolve_entry_path(*p))) used.insert(*id);
      }
    }
  }
  std::set<std::string> roots{canonical_or_self(paths_.plugins_dir).string(), canonical_or_self(paths_.upload_dir).string()};
  std::vector<OwnedFile> keep;
  bool changed = false;
  for (auto& f : owned_) {
    if (!roots.count(f.root)) {  // recorded under other settings: not ours to judge now
      keep.push_back(f);
      continue;
    }
    auto [sub, name] = split_last(f.path);
    auto root = Dir::open(f.root, false);
    auto dir = root ? root->walk(sub, false) : Result<Dir>(root.take_error());
    Dir::Stat st = dir ? dir->stat(name) : Dir::Stat{};
    if (st.kind != Dir::Kind::File || st.ino != f.ino) {
      changed = true;  // gone, or no longer the file we wrote
      continue;
    }
    if (used.count({st.dev, st.ino})) {
      keep.push_back(f);
      continue;
    }
    auto bytes = dir->read(name, 512ull << 20);
    if (!bytes || sha256_hex(*bytes) != f.sha256) {
      changed = true;
      continue;
    }
    if (auto r = dir->remove_file(name); r) {
      log().info("deleted {}: written by an update or upload that did not complete, and no plugin uses it", (dir->path() / name).string());
    }
    changed = true;
  }
  owned_ = std::move(keep);
  if (changed) {
    if (auto r = save_manifest(); !r) log().warn("cannot update {}: {}", paths_.manifest_path().string(), r.error().message);
  }
}

void PluginManager::delete_entry_file(const std::string& entry_path_text, const json::value& doc) {
  std::string p = entry_path_text;
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  fs::path plugins_root = canonical_or_self(paths_.plugins_dir);
  fs::path abs = (plugins_root / p).lexically_normal();
  std::optional<std::string> rel;
  fs::path root;
  for (const fs::path& r : {canonical_or_self(paths_.upload_dir), plugins_root}) {
    if (auto b = below(abs, r); b && !b->empty()) {
      rel = b;
      root = r;
      break;
    }
  }
  if (!rel) {
    log().info("{} is outside PLUGINS_PATH and UPLOAD_PATH: not deleted", abs.string());
    return;
  }
  auto [sub, name] = split_last(*rel);
  auto rdir = Dir::open(root, false);
  if (!rdir) return;
  auto dir = rdir->walk(sub, false);
  if (!dir) {
    log().info("{} not deleted: {}", abs.string(), dir.error().message);
    return;
  }
  Dir::Stat st = dir->stat(name);
  if (st.kind != Dir::Kind::File) {
    if (st.kind != Dir::Kind::Missing) log().info("{} is not a regular file: not deleted", abs.string());
    return;
  }
  if (const json::array* list = plugin_list(doc)) {
    for (const auto& e : *list) {
      auto ep = entry_path(e);
      auto id = ep ? file_id(resolve_entry_path(*ep)) : std::nullopt;
      if (id && *id == FileId{st.dev, st.ino}) return;  // another entry uses it
    }
  }
  if (auto r = dir->remove_file(name); !r && r.error().kind != ErrorKind::NotFound) {
    log().warn("cannot delete {}: {}", abs.string(), r.error().message);
  }
  std::string root_s = root.string();
  auto it = std::remove_if(owned_.begin(), owned_.end(), [&](const OwnedFile& f) { return f.root == root_s && f.path == *rel; });
  if (it != owned_.end()) {
    owned_.erase(it, owned_.end());
    if (auto r = save_manifest(); !r) log().warn("cannot update {}: {}", paths_.manifest_path().string(), r.error().message);
  }
}

Result<std::vector<StartupProblem>> PluginManager::load(bool skip_broken) {
  std::lock_guard lock(mu_);
  std::vector<StartupProblem> problems;
  const fs::path def = shared_ ? fs::path(store_->where()) : paths_.definition_path();
  if (!shared_) {
    remove_stale_temporaries(paths_.plugins_dir);
    if (paths_.upload_dir != paths_.plugins_dir) remove_stale_temporaries(paths_.upload_dir);
  }
  auto stored = store_->load();
  if (!stored) {
    Error e = stored.take_error();
    if (e.kind != ErrorKind::InvalidArgument && e.kind != ErrorKind::Unavailable) e.kind = ErrorKind::Io;
    return e;
  }
  if (!*stored) {
    log().info("{} does not exist yet: no plugins loaded (it is created on the first upload)", def.string());
    doc_ = json::object{{"plugins", json::array{}}};
    return problems;
  }
  std::optional<json::value> doc = std::move(*stored);
  json::array* list = plugin_list(*doc);
  if (!list) {
    if (doc->as_object().contains("plugins") && !doc->as_object()["plugins"].is_null()) {
      return Error(ErrorKind::InvalidArgument, fmt::format("{}: \"plugins\" must be a list", def.string()));
    }
    doc->as_object()["plugins"] = json::array{};
    list = plugin_list(*doc);
  }

  // 1. Check every entry (in order, so the first problem reported is the first in the file).
  struct Job {
    std::string label;
    PluginSpec spec;
    fs::path file;
    std::string bytes;
    Result<std::shared_ptr<const PluginVersion>> version = Error(ErrorKind::Internal, "not loaded");
  };
  std::vector<Job> jobs;
  size_t index = 0;
  for (auto& entry : *list) {
    ++index;
    std::string label = fmt::format("{} entry {}", def.string(), index);
    if (entry.is_object() && entry.as_object().contains("name") && entry.as_object().at("name").is_string()) {
      label += fmt::format(" (\"{}\")", std::string(entry.as_object().at("name").as_string()));
    }
    auto fail = [&](std::string reason) -> Result<void> {
      problems.push_back({label, reason});
      if (!skip_broken) return Error(ErrorKind::InvalidArgument, fmt::format("{}: {}", label, reason));
      log().error("{}: {} (skipped)", label, reason);
      return {};
    };
    std::string wasm_sha;  // shared store: the hash of the bytes kept beside the entry
    if (shared_) wasm_sha = take_wasm_key(entry);
    auto spec = parse_plugin_spec(entry);
    if (shared_) put_wasm_key(entry, wasm_sha);
    if (!spec) {
      if (auto r = fail(spec.error().message); !r) return r.take_error();
      continue;
    }
    // A name written as a number or boolean ("name: 123") is the text it reads as: keep it as a
    // string in the document, so that updates and removals (which name plugins by text) find it.
    if (auto* n = entry.as_object().if_contains("name"); n && !n->is_string()) {
      entry.as_object()["name"] = spec->name;
      spec->raw["name"] = spec->name;
    }
    fs::path file = shared_ ? shared_file_label(spec->name, wasm_sha) : resolve_entry_path(spec->path);
    Result<std::string> bytes = Error(ErrorKind::InvalidArgument, "\"path\" is missing");
    std::optional<std::string> pulled_signature;
    auto oci = entry_oci(entry.as_object());
    if (!oci) {
      bytes = oci.take_error();
    } else if (shared_) {
      bytes = store_->blob(wasm_sha);  // the database keeps every module, pulled ones too
    } else if (spec->path.empty() && *oci) {
      // `oci:` without a stored copy: pulled at every start (provenance.hpp).
      auto pulled = pull_entry(*provenance_, spec->raw);
      if (pulled) {
        bytes = std::move(pulled->wasm);
        pulled_signature = std::move(pulled->signature);
        file = paths_.plugins_dir / ("oci:" + **oci);
      } else {
        bytes = pulled.take_error();
      }
    } else if (!spec->path.empty()) {
      bytes = read_file(file, 256ull << 20);
    }
    if (bytes) {
      if (auto p = check_module(*provenance_, spec->raw, *bytes, pulled_signature); !p) bytes = p.take_error();
    }
    if (!bytes) {
      if (auto r = fail(bytes.error().message); !r) return r.take_error();
      continue;
    }
    std::string clash;
    for (const auto& other : jobs) {
      if (other.spec.name == spec->name) clash = fmt::format("a plugin named \"{}\" is defined twice", spec->name);
      for (const auto& f : spec->functions) {
        for (const auto& g : other.spec.functions) {
          if (clash.empty() && f.tool_name == g.tool_name) {
            clash = fmt::format("the tool name \"{}\" is also used by plugin \"{}\"", f.tool_name, other.spec.name);
          }
        }
      }
      if (!clash.empty()) break;
    }
    if (!clash.empty()) {
      if (auto r = fail(clash); !r) return r.take_error();
      continue;
    }
    jobs.push_back(Job{label, std::move(*spec), file, std::move(*bytes)});
  }

  // 2. Compile and instantiate them in parallel (start-up time is mostly this).
  {
    LoadOptions at_start = options_;
    at_start.defer_workers = true;
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next++) < jobs.size();) {
        Job& j = jobs[i];
        const auto* data = reinterpret_cast<const uint8_t*>(j.bytes.data());
        j.version = load_plugin_version(j.spec, std::span<const uint8_t>(data, j.bytes.size()), j.file, at_start);
      }
    };
    size_t threads = std::min<size_t>(jobs.size(), std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
  }

  // 3. Report in file order.
  std::vector<std::shared_ptr<const PluginVersion>> loaded;
  for (auto& j : jobs) {
    if (!j.version) {
      std::string reason = fmt::format("cannot load {}: {}", j.file.string(), j.version.error().message);
      problems.push_back({j.label, reason});
      if (!skip_broken) return Error(ErrorKind::InvalidArgument, fmt::format("{}: {}", j.label, reason));
      log().error("{}: {} (skipped)", j.label, reason);
      continue;
    }
    warn_about_tool_names((*j.version)->spec);
    loaded.push_back(std::move(*j.version));
  }
  for (auto& v : loaded) {
    if (auto r = registry_.add(v); !r) return r.take_error();
    log().info("plugin \"{}\" {} loaded from {} ({} tools)", v->spec.name, v->spec.version, v->file.string(),
               v->tools()->size());
    if (options_.native) options_.native->schedule(v);
  }
  if (!shared_) clean_orphans(*doc);
  doc_ = std::move(*doc);
  return problems;
}

Result<PluginManager::Target> PluginManager::target_dir(const std::optional<std::string>& dir, bool create) const {
  fs::path plugins_root = canonical_or_self(paths_.plugins_dir);
  fs::path upload_root = canonical_or_self(paths_.upload_dir);
  Target t;
  if (!dir || dir->empty()) {
    t.root = upload_root;
    t.shown = paths_.upload_dir;
  } else {
    auto bad = [&](const std::string& why) {
      std::string shown = dir->size() > 80 ? dir->substr(0, 80) + "..." : *dir;
      return Error(ErrorKind::InvalidArgument, fmt::format("dir \"{}\" {}", shown, why));
    };
    if (dir->find('\0') != std::string::npos) return Error(ErrorKind::InvalidArgument, "dir contains a NUL byte");
    if (dir->size() > kMaxPathBytes) return bad(fmt::format("is longer than {} bytes", kMaxPathBytes));
    // Lexically: ".." never walks up through a link, and links below the root are refused below.
    std::error_code ec;
    fs::path abs = fs::absolute(fs::path(*dir), ec).lexically_normal();
    if (ec) return bad(ec.message());
    std::optional<std::string> rel;
    // The roots as configured (absolute) and as resolved; the upload folder first.
    for (const auto& [given, canon] : {std::pair{fs::absolute(paths_.upload_dir, ec).lexically_normal(), upload_root},
                                       std::pair{fs::absolute(paths_.plugins_dir, ec).lexically_normal(), plugins_root}}) {
      for (const fs::path& form : {canon, given}) {
        if (!rel) {
          if ((rel = below(abs, form))) t.root = canon;
        }
      }
    }
    if (!rel) {
      return bad(fmt::format("is outside PLUGINS_PATH ({}) and UPLOAD_PATH ({})", plugins_root.string(), upload_root.string()));
    }
    for (size_t i = 0; i <= rel->size();) {
      size_t slash = rel->find('/', i);
      std::string part = rel->substr(i, slash == std::string::npos ? std::string::npos : slash - i);
      if (!part.empty() && !is_plain_component(part)) return bad(fmt::format("has a component longer than {} bytes", kMaxNameBytes));
      if (slash == std::string::npos) break;
      i = slash + 1;
    }
    t.rel = *rel;
    t.shown = fs::path(*dir);
  }
  auto root = Dir::open(t.root, create);
  if (!root) return create ? root.take_error() : Result<Target>(std::move(t));  // created later
  auto d = root->walk(t.rel, create);
  if (!d) {
    if (!create && d.error().kind == ErrorKind::NotFound) return t;  // created later
    Error e = d.take_error();
    if (e.kind == ErrorKind::InvalidArgument) e.message = fmt::format("dir \"{}\": {}", t.shown.string().substr(0, 80), e.message);
    return e;
  }
  if (create) t.dir = std::move(*d);
  return t;
}

Result<void> PluginManager::commit_yaml(const json::value& doc) {
  auto r = store_->commit([&](json::value& committed) -> Result<void> {
    committed = doc;
    return {};
  });
  if (!r) return r.take_error();
  return {};
}

Result<UploadResult> PluginManager::upload(const UploadRequest& req, bool replacing) {
  // 1. Validate everything before touching anything.
  boost::system::error_code jec;
  json::value data = json::parse(req.plugin_data, jec);
  if (jec) return Error(ErrorKind::InvalidArgument, fmt::format("pluginData is not valid JSON: {}", jec.message()));
  if (!data.is_object()) return Error(ErrorKind::InvalidArgument, "pluginData must be a JSON object");
  // The name must be a JSON string: a number (123) would be stored as one, and later requests
  // (which name plugins by text) would never find its entry.
  if (auto n = name_from_json("plugin", data.as_object().if_contains("name")); !n) {
    return Error(ErrorKind::InvalidArgument, fmt::format("pluginData: {}", n.error().message));
  }
  auto spec = parse_plugin_spec(data);
  if (!spec) return Error(ErrorKind::InvalidArgument, fmt::format("pluginData: {}", spec.error().message));
  if (!is_plain_wasm_file_name(req.file_name)) {
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("the uploaded file name \"{}\" is not a plain .wasm file name (letters, digits, '.', '_', '-'; "
                             "at most 128 characters)",
                             printable_name(req.file_name)));
  }
  if (req.wasm.empty()) return Error(ErrorKind::InvalidArgument, "the uploaded wasm file is empty");
  if (auto p = check_module(*provenance_, spec->raw, req.wasm, req.signature); !p) return p.take_error();
  if (shared_) return upload_shared(req, std::move(*spec), replacing);
  if (auto check = target_dir(req.dir, false); !check) return check.take_error();  // checked again below, under the lock

  std::lock_guard lock(mu_);
  if (!manifest_loaded_) load_manifest();
  if (auto r = replacing ? registry_.check_replace(*spec) : registry_.check_add(*spec); !r) return r.take_error();

  // The stored name: the original name if nothing is there (or only a file of ours that no
  // entry uses); otherwise a name with the content hash in it. A link, a directory, someone
  // else's file or a file an entry references is never replaced.
  std::string sha = sha256_hex(req.wasm);
  std::string stem = req.file_name.substr(0, req.file_name.size() - 5);
  std::vector<std::string> candidates = {req.file_name, fmt::format("{}-{}.wasm", stem, sha.substr(0, 12)),
                                         fmt::format("{}-{}-{}.wasm", stem, sha.substr(0, 12), random_token(3))};
  auto plugins_root = canonical_or_self(paths_.plugins_dir);
  auto shown_target = [&](const Target& t, const std::string& name) { return t.shown / name; };
  auto yaml_path = [&](const Target& t, const std::string& name) {
    fs::path abs = t.root / t.rel / name;
    std::string r = abs.lexically_normal().lexically_relative(plugins_root).generic_string();
    return r.rfind("../", 0) == 0 ? r : "./" + r;
  };

  // Validate the folder now (links, files in the way; it is created once the module loads), and
  // pick the name against what is on disk (if the folder does not exist yet, any name is free).
  auto probe = target_dir(req.dir, false);
  if (!probe) return probe.take_error();
  std::set<FileId> used;
  if (const json::array* list = plugin_list(doc_)) {
    for (const auto& e : *list) {
      if (auto p = entry_path(e)) {
        if (auto id = file_id(resolve_entry_path(*p))) used.insert(*id);
      }
    }
  }
  std::string rel_dir_s = probe->rel;
  auto owned_orphan = [&](const std::string& rel, const Dir::Stat& st) {
    if (used.count({st.dev, st.ino})) return false;
    for (const auto& f : owned_) {
      if (f.root == probe->root.string() && f.path == rel && f.ino == st.ino) return true;
    }
    return false;
  };
  auto rel_of = [&](const std::string& name) { return rel_dir_s.empty() ? name : rel_dir_s + "/" + name; };
  Dir probe_dir;
  if (auto root = Dir::open(probe->root, false)) {
    if (auto d = root->walk(probe->rel, false)) probe_dir = std::move(*d);
  }
  std::string name;
  bool replace_orphan = false;
  for (const auto& c : candidates) {
    Dir::Stat st = probe_dir.is_open() ? probe_dir.stat(c) : Dir::Stat{};
    if (st.kind == Dir::Kind::Missing) {
      name = c;
      break;
    }
    if (st.kind == Dir::Kind::File && owned_orphan(rel_of(c), st)) {
      name = c;
      replace_orphan = true;
      break;
    }
  }
  if (name.empty()) return Error(ErrorKind::Io, fmt::format("no free file name for {} in {}", req.file_name, probe->shown.string()));
  std::string rel = yaml_path(*probe, name);
  std::optional<std::string> note;
  if (!spec->path.empty() && fs::path(spec->path).lexically_normal() != fs::path(rel).lexically_normal()) {
    note = fmt::format("the plugin's path \"{}\" was replaced by \"{}\", where the file was stored", spec->path, rel);
  }
  spec->path = rel;
  spec->raw["path"] = rel;
  fs::path target = shown_target(*probe, name);

  const auto* bytes = reinterpret_cast<const uint8_t*>(req.wasm.data());
  auto version = load_plugin_version(*spec, std::span<const uint8_t>(bytes, req.wasm.size()), target, options_);
  if (!version) {
    Error e = version.take_error();
    if (e.kind != ErrorKind::Io && e.kind != ErrorKind::Internal) e.kind = ErrorKind::InvalidModule;
    return Error(e.kind, fmt::format("the plugin cannot be loaded: {}", e.message));
  }

  // 2. The wasm file, under its own name, recorded in the manifest before it gets that name.
  auto where = target_dir(req.dir, true);
  if (!where) return where.take_error();
  const Dir& dir = where->dir;
  auto written = dir.write_temp(name, req.wasm);
  if (!written) return written.take_error();
  crash_point("wasm-written");
  OwnedFile record{where->root.string(), rel_of(name), static_cast<uint64_t>(written->ino), sha};
  auto forget = [&] {
    auto it = std::remove_if(owned_.begin(), owned_.end(), [&](const OwnedFile& f) { return f.root == record.root && f.path == record.path; });
    owned_.erase(it, owned_.end());
    (void)save_manifest();
  };
  std::erase_if(owned_, [&](const OwnedFile& f) { return f.root == record.root && f.path == record.path; });
  owned_.push_back(record);
  if (auto r = save_manifest(); !r) {
    ::unlinkat(dir.fd(), written->name.c_str(), 0);
    owned_.pop_back();
    return r.take_error();
  }
  if (auto r = dir.rename(written->name, name, !replace_orphan); !r) {
    ::unlinkat(dir.fd(), written->name.c_str(), 0);
    forget();
    if (r.error().kind == ErrorKind::AlreadyExists) return Error(ErrorKind::Io, fmt::format("{} appeared while storing the upload; try again", target.string()));
    return r.take_error();
  }
  crash_point("wasm-renamed");

  // 3-4. The new plugins.yml; its rename commits the change.
  json::value next = doc_;
  if (!next.is_object()) next = json::object{};
  if (!plugin_list(next)) next.as_object()["plugins"] = json::array{};
  json::array& list = *plugin_list(next);
  std::optional<std::string> old_path;
  json::value old_entry;
  if (!replacing) {
    list.push_back(spec->raw);
  } else if (auto it = find_entry(list, spec->name); it != list.end()) {
    old_path = entry_path(*it);
    old_entry = *it;
    *it = spec->raw;
  }
  if (auto r = commit_yaml(next); !r) {
    (void)dir.remove_file(name);
    forget();
    return r.take_error();
  }

  // 5. Publish (cannot fail: checked under the same lock). The old version stays with the calls
  // still running on it.
  if (replacing) {
    auto r = registry_.replace(*version);
    if (!r) return r.take_error();
    // The replaced version is kept for a rollback: its entry and module, in memory.
    if (old_path) previous_[spec->name] = Previous{std::move(old_entry), resolve_entry_path(*old_path), (*r)->plugin->wasm()};
  } else if (auto r = registry_.add(*version); !r) {
    return r.take_error();
  }
  doc_ = std::move(next);
  crash_point("swapped");
  if (options_.native) options_.native->schedule(*version);

  // 6. The old file, once nothing references it.
  if (old_path) delete_entry_file(*old_path, doc_);
  log().info("plugin \"{}\" {} {} ({} tools, file {})", spec->name, spec->version, replacing ? "updated" : "published",
             (*version)->tools()->size(), target.string());
  warn_about_tool_names(*spec);
  UploadResult res;
  res.file_path = target.generic_string();
  res.metadata = spec->raw;
  res.note = std::move(note);
  res.version = std::move(*version);
  return res;
}

// ---- the shared store ---------------------------------------------------------------------------

Result<UploadResult> PluginManager::upload_shared(const UploadRequest& req, PluginSpec spec, bool replacing) {
  std::lock_guard lock(mu_);
  auto served = registry_.snapshot()->find_plugin(spec.name);
  if (auto r = replacing ? registry_.check_replace(spec) : registry_.check_add(spec); !r) return r.take_error();
  std::string sha = sha256_hex(req.wasm);
  std::optional<std::string> note;
  if (req.dir && !req.dir->empty()) note = "?dir= is ignored: with a database, plugins are stored in it, not in files";
  std::string rel = "./" + req.file_name;
  spec.path = rel;
  spec.raw["path"] = rel;
  fs::path label = shared_file_label(spec.name, sha);
  const auto* bytes = reinterpret_cast<const uint8_t*>(req.wasm.data());
  auto version = load_plugin_version(spec, std::span<const uint8_t>(bytes, req.wasm.size()), label, options_);
  if (!version) {
    Error e = version.take_error();
    if (e.kind != ErrorKind::Io && e.kind != ErrorKind::Internal) e.kind = ErrorKind::InvalidModule;
    return Error(e.kind, fmt::format("the plugin cannot be loaded: {}", e.message));
  }
  json::value entry = spec.raw;
  put_wasm_key(entry, sha);
  // What this replica served when the change began: the store must still hold exactly that,
  // or another replica changed the plugin meanwhile (linearised by the store: one wins).
  json::value base;
  if (served) {
    base = served->spec.raw;
    put_wasm_key(base, served->sha256);
  }
  json::value committed;
  auto r = store_->commit(
      [&](json::value& doc) -> Result<void> {
        if (!doc.is_object()) doc = json::object{};
        if (!plugin_list(doc)) doc.as_object()["plugins"] = json::array{};
        json::array& list = *plugin_list(doc);
        auto it = find_entry(list, spec.name);
        if (!replacing) {
          if (it != list.end()) {
            return Error(ErrorKind::Conflict, fmt::format("a plugin named \"{}\" was published through another replica meanwhile", spec.name));
          }
          list.push_back(entry);
        } else {
          if (it == list.end()) {
            return Error(ErrorKind::NotFound, fmt::format("no plugin named \"{}\" (removed through another replica)", spec.name));
          }
          if (json::serialize(*it) != json::serialize(base)) {
            return Error(ErrorKind::Conflict,
                         fmt::format("the plugin \"{}\" was changed through another replica meanwhile; fetch GET /plugins and retry",
                                     spec.name));
          }
          *it = entry;
        }
        committed = doc;
        return {};
      },
      {Blob{sha, req.wasm}}, req.if_revision);
  if (!r) return r.take_error();
  reconcile_locked(committed, *r, *version);
  // The replaced version is kept for a rollback (through this replica), as with files.
  if (replacing && served) {
    std::string file = fs::path(served->spec.path).filename().string();
    if (!is_plain_wasm_file_name(file)) file = req.file_name;
    previous_[spec.name] = Previous{served->spec.raw, fs::path(file), served->plugin->wasm()};
  }
  log().info("plugin \"{}\" {} {} ({} tools, revision {})", spec.name, spec.version, replacing ? "updated" : "published",
             (*version)->tools()->size(), *r);
  warn_about_tool_names(spec);
  UploadResult res;
  res.file_path = label.generic_string();
  res.metadata = spec.raw;
  res.note = std::move(note);
  res.version = std::move(*version);
  res.revision = *r;
  return res;
}

void PluginManager::reconcile(const json::value& doc, uint64_t revision) {
  std::lock_guard lock(mu_);
  reconcile_locked(doc, revision, nullptr);
}

void PluginManager::reconcile_locked(const json::value& doc, uint64_t revision, std::shared_ptr<const PluginVersion> fresh) {
  if (revision <= served_revision_.load() && revision != 0) return;  // already served (or newer)
  const json::array* list = plugin_list(doc);
  auto current = registry_.snapshot();
  struct Job {
    PluginSpec spec;
    std::string sha;
    std::shared_ptr<const PluginVersion> version;
  };
  std::vector<Job> jobs;
  if (list) {
    for (const auto& e : *list) {
      json::value entry = e;
      std::string sha = take_wasm_key(entry);
      auto spec = parse_plugin_spec(entry);
      if (!spec) {
        log().error("{} revision {}: an entry cannot be read ({}): skipped", store_->where(), revision, spec.error().message);
        continue;
      }
      Job j{std::move(*spec), sha, nullptr};
      auto served = current->find_plugin(j.spec.name);
      if (fresh && fresh->spec.name == j.spec.name && fresh->sha256 == sha && json::serialize(fresh->spec.raw) == json::serialize(j.spec.raw)) {
        j.version = fresh;
      } else if (served && served->sha256 == sha && json::serialize(served->spec.raw) == json::serialize(j.spec.raw)) {
        j.version = served;  // unchanged: keep the loaded version (and its warm instances)
      }
      jobs.push_back(std::move(j));
    }
  }
  // New or changed entries: their bytes from the store, loaded and validated (in parallel); as at
  // start-up, a module a worker described before needs no worker until its first call.
  {
    LoadOptions deferred = options_;
    deferred.defer_workers = true;
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next++) < jobs.size();) {
        Job& j = jobs[i];
        if (j.version) continue;
        auto bytes = store_->blob(j.sha);
        Result<std::shared_ptr<const PluginVersion>> v = bytes ? Result<std::shared_ptr<const PluginVersion>>(Error(ErrorKind::Internal, ""))
                                                               : Result<std::shared_ptr<const PluginVersion>>(bytes.take_error());
        if (bytes) {
          const auto* data = reinterpret_cast<const uint8_t*>(bytes->data());
          v = load_plugin_version(j.spec, std::span<const uint8_t>(data, bytes->size()), shared_file_label(j.spec.name, j.sha), deferred);
        }
        if (v) {
          j.version = *v;
          continue;
        }
        auto served = current->find_plugin(j.spec.name);
        log().error("plugin \"{}\" of revision {} cannot be loaded ({}){}", j.spec.name, revision, v.error().message,
                    served ? ": the version served before is kept" : ": not served");
        j.version = served;
      }
    };
    size_t missing = std::count_if(jobs.begin(), jobs.end(), [](const Job& j) { return !j.version; });
    size_t threads = std::min<size_t>(missing, std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
  }
  std::vector<std::shared_ptr<const PluginVersion>> versions;
  for (auto& j : jobs) {
    if (j.version) versions.push_back(j.version);
  }
  std::vector<std::shared_ptr<const PluginVersion>> added;
  for (const auto& v : versions) {
    auto served = current->find_plugin(v->spec.name);
    if (served.get() != v.get()) added.push_back(v);
  }
  bool same = added.empty() && versions.size() == current->plugins().size();
  if (!same) {
    if (auto r = registry_.replace_all(versions); !r) {
      log().error("{} revision {}: {} (the plugins served are kept)", store_->where(), revision, r.error().message);
      return;
    }
    for (const auto& v : added) {
      if (options_.native) options_.native->schedule(v);
    }
  }
  doc_ = doc;
  served_revision_.store(revision);
  if (!same) log().info("serving revision {} of {} ({} plugin(s), {} loaded)", revision, store_->where(), versions.size(), added.size());
}

Result<UploadResult> PluginManager::publish(const UploadRequest& request) { return upload(request, false); }
Result<UploadResult> PluginManager::update(const UploadRequest& request) { return upload(request, true); }

Result<std::shared_ptr<const PluginVersion>> PluginManager::remove(std::string_view name, std::optional<uint64_t> if_revision) {
  std::lock_guard lock(mu_);
  auto current = registry_.snapshot()->find_plugin(name);
  if (!current) return Error(ErrorKind::NotFound, fmt::format("no plugin named \"{}\" is loaded", name));
  if (shared_) {
    json::value committed;
    auto r = store_->commit(
        [&](json::value& doc) -> Result<void> {
          if (!doc.is_object()) doc = json::object{};
          if (!plugin_list(doc)) doc.as_object()["plugins"] = json::array{};
          json::array& list = *plugin_list(doc);
          auto it = find_entry(list, name);
          if (it == list.end()) return Error(ErrorKind::NotFound, fmt::format("no plugin named \"{}\" (removed through another replica)", name));
          list.erase(it);
          committed = doc;
          return {};
        },
        {}, if_revision);
    if (!r) return r.take_error();
    reconcile_locked(committed, *r, nullptr);
    previous_.erase(std::string(name));
    log().info("plugin \"{}\" removed (revision {})", name, *r);
    return current;
  }
  if (!manifest_loaded_) load_manifest();
  json::value next = doc_;
  std::optional<std::string> file;
  if (json::array* list = plugin_list(next)) {
    if (auto it = find_entry(*list, name); it != list->end()) {
      file = entry_path(*it);
      list->erase(it);
    }
  }
  if (auto r = commit_yaml(next); !r) return r.take_error();
  auto old = registry_.remove(name);
  if (!old) return old.take_error();
  doc_ = std::move(next);
  crash_point("swapped");
  previous_.erase(std::string(name));
  if (file) delete_entry_file(*file, doc_);
  log().info("plugin \"{}\" removed", name);
  return old;
}

}  // namespace wasimancer::registry

namespace wasimancer::registry {

std::optional<boost::json::value> PluginManager::previous(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = previous_.find(std::string(name));
  if (it == previous_.end()) return std::nullopt;
  return it->second.entry;
}

Result<UploadResult> PluginManager::rollback(std::string_view name) {
  Previous prev;
  {
    std::lock_guard lock(mu_);
    if (!registry_.snapshot()->find_plugin(name)) return Error(ErrorKind::NotFound, fmt::format("no plugin named \"{}\" is loaded", name));
    auto it = previous_.find(std::string(name));
    if (it == previous_.end()) {
      return Error(ErrorKind::NotFound,
                   fmt::format("no previous version of plugin \"{}\" is kept (one is kept from its first update on, until the server restarts)", name));
    }
    prev = it->second;
  }
  // Published again as an update would be: into the folder its file was in, under its name if free.
  // A folder outside PLUGINS_PATH and UPLOAD_PATH (plugins.yml may name one) is not written to:
  // the upload folder is used instead.
  std::optional<std::string> dir = prev.file.parent_path().string();
  if (!target_dir(dir, false)) dir.reset();
  UploadRequest req{json::serialize(prev.entry), prev.file.filename().string(), std::string(prev.wasm.begin(), prev.wasm.end()), dir, std::nullopt};
  auto r = upload(req, true);
  if (r) log().info("plugin \"{}\" rolled back to {}", name, r->version->spec.version);
  return r;
}

}  // namespace wasimancer::registry
