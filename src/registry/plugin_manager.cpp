#include "registry/plugin_manager.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "core/crash_point.hpp"
#include "core/crypto.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "registry/native_tier.hpp"
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
void remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 8) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink(ec)) {
      it.disable_recursion_pending();
      continue;
    }
    std::string n = it->path().filename().string();
    auto pos = n.rfind(".tmp-");
    if (n.size() > 1 && n[0] == '.' && pos != std::string::npos && it->is_regular_file(ec)) {
      std::error_code rm;
      fs::remove(it->path(), rm);
    }
  }
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

PluginManager::PluginManager(Registry& registry, PluginPaths paths, LoadOptions options)
    : registry_(registry), paths_(std::move(paths)), options_(std::move(options)), doc_(json::object{}) {}

fs::path PluginManager::resolve_entry_path(const std::string& path) const {
  // WASImancer concatenates PLUGINS_PATH and path ("/roll-dice/x.wasm" is inside PLUGINS_PATH).
  std::string p = path;
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  return (paths_.plugins_dir / p).lexically_normal();
}

std::string PluginManager::relative_to_plugins(const fs::path& file) const {
  fs::path rel = canonical_or_self(file).lexically_relative(canonical_or_self(paths_.plugins_dir));
  std::string s = rel.generic_string();
  if (s.rfind("../", 0) == 0) return s;
  return "./" + s;
}

Result<std::vector<StartupProblem>> PluginManager::load(bool skip_broken) {
  std::lock_guard lock(mu_);
  std::vector<StartupProblem> problems;
  const fs::path def = paths_.definition_path();
  remove_stale_temporaries(paths_.plugins_dir);
  if (paths_.upload_dir != paths_.plugins_dir) remove_stale_temporaries(paths_.upload_dir);
  auto text = read_file(def, 64 << 20);
  if (!text) {
    if (text.error().kind == ErrorKind::NotFound) {
      log().info("{} does not exist yet: no plugins loaded (it is created on the first upload)", def.string());
      doc_ = json::object{{"plugins", json::array{}}};
      return problems;
    }
    return Error(ErrorKind::Io, text.error().message);
  }
  auto doc = parse_yaml(*text);
  if (!doc) return Error(ErrorKind::InvalidArgument, fmt::format("{}: {}", def.string(), doc.error().message));
  if (doc->is_null()) *doc = json::object{};
  if (!doc->is_object()) return Error(ErrorKind::InvalidArgument, fmt::format("{}: the document must be a map", def.string()));
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
  for (const auto& entry : *list) {
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
    auto spec = parse_plugin_spec(entry);
    if (!spec) {
      if (auto r = fail(spec.error().message); !r) return r.take_error();
      continue;
    }
    fs::path file = resolve_entry_path(spec->path);
    auto bytes = read_file(file, 256ull << 20);
    if (spec->path.empty()) bytes = Error(ErrorKind::InvalidArgument, "\"path\" is missing");
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
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next++) < jobs.size();) {
        Job& j = jobs[i];
        const auto* data = reinterpret_cast<const uint8_t*>(j.bytes.data());
        j.version = load_plugin_version(j.spec, std::span<const uint8_t>(data, j.bytes.size()), j.file, options_);
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
               v->spec.functions.size());
    if (options_.native) options_.native->schedule(v);
  }
  doc_ = std::move(*doc);
  return problems;
}

Result<fs::path> PluginManager::target_dir(const std::optional<std::string>& dir) const {
  fs::path plugins_root = canonical_or_self(paths_.plugins_dir);
  fs::path upload_root = canonical_or_self(paths_.upload_dir);
  if (!dir || dir->empty()) return fs::path(paths_.upload_dir);
  if (dir->find('\0') != std::string::npos) return Error(ErrorKind::InvalidArgument, "dir contains a NUL byte");
  fs::path candidate = canonical_or_self(fs::path(*dir));
  std::error_code ec;
  if (fs::exists(candidate, ec) && !fs::is_directory(candidate, ec)) {
    return Error(ErrorKind::InvalidArgument, fmt::format("dir \"{}\" is not a directory", *dir));
  }
  if (!is_within(candidate, plugins_root) && !is_within(candidate, upload_root)) {
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("dir \"{}\" is outside PLUGINS_PATH ({}) and UPLOAD_PATH ({})", *dir, plugins_root.string(),
                             upload_root.string()));
  }
  return fs::path(*dir);
}

bool PluginManager::referenced(const json::value& doc, const fs::path& file) const {
  const json::array* list = plugin_list(doc);
  if (!list) return false;
  fs::path want = canonical_or_self(file);
  for (const auto& e : *list) {
    if (auto p = entry_path(e); p && canonical_or_self(resolve_entry_path(*p)) == want) return true;
  }
  return false;
}

Result<void> PluginManager::commit_yaml(const json::value& doc) {
  fs::path def = paths_.definition_path();
  std::error_code ec;
  fs::create_directories(paths_.plugins_dir, ec);
  std::string text = "# Written by wasimancer (comments are not preserved).\n" + to_yaml(doc);
  // Write, fsync and rename in two visible steps so tests can crash between them.
  fs::path tmp = def.parent_path() / fmt::format(".{}.tmp-{}", def.filename().string(), random_token(6));
  if (auto r = write_file_atomic(tmp, text); !r) return r;
  crash_point("yaml-written");
  if (::rename(tmp.c_str(), def.c_str()) != 0) {
    fs::remove(tmp, ec);
    return Error(ErrorKind::Io, fmt::format("cannot rename {} to {}: {}", tmp.string(), def.string(), std::strerror(errno)));
  }
  fsync_dir(def.parent_path());
  crash_point("yaml-renamed");
  return {};
}

Result<UploadResult> PluginManager::upload(const UploadRequest& req, bool replacing) {
  // 1. Validate everything before touching anything.
  boost::system::error_code jec;
  json::value data = json::parse(req.plugin_data, jec);
  if (jec) return Error(ErrorKind::InvalidArgument, fmt::format("pluginData is not valid JSON: {}", jec.message()));
  if (!data.is_object()) return Error(ErrorKind::InvalidArgument, "pluginData must be a JSON object");
  auto spec = parse_plugin_spec(data);
  if (!spec) return Error(ErrorKind::InvalidArgument, fmt::format("pluginData: {}", spec.error().message));
  if (!is_plain_wasm_file_name(req.file_name)) {
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("the uploaded file name \"{}\" is not a plain .wasm file name (letters, digits, '.', '_', '-')",
                             req.file_name));
  }
  if (req.wasm.empty()) return Error(ErrorKind::InvalidArgument, "the uploaded wasm file is empty");
  auto dir = target_dir(req.dir);
  if (!dir) return dir.take_error();

  std::lock_guard lock(mu_);
  if (auto r = replacing ? registry_.check_replace(*spec) : registry_.check_add(*spec); !r) return r.take_error();

  // Choose the stored name: the original name unless the committed YAML references a file of
  // that name (an update), then a name with the content hash in it.
  std::string sha = sha256_hex(req.wasm);
  fs::path target = *dir / req.file_name;
  if (referenced(doc_, target)) {
    std::string stem = req.file_name.substr(0, req.file_name.size() - 5);
    target = *dir / fmt::format("{}-{}.wasm", stem, sha.substr(0, 12));
    if (referenced(doc_, target)) target = *dir / fmt::format("{}-{}-{}.wasm", stem, sha.substr(0, 12), random_token(3));
  }
  std::string rel = relative_to_plugins(target);
  std::optional<std::string> note;
  if (!spec->path.empty() && fs::path(spec->path).lexically_normal() != fs::path(rel).lexically_normal()) {
    note = fmt::format("the plugin's path \"{}\" was replaced by \"{}\", where the file was stored", spec->path, rel);
  }
  spec->path = rel;
  spec->raw["path"] = rel;

  const auto* bytes = reinterpret_cast<const uint8_t*>(req.wasm.data());
  auto version = load_plugin_version(*spec, std::span<const uint8_t>(bytes, req.wasm.size()), target, options_);
  if (!version) {
    Error e = version.take_error();
    if (e.kind != ErrorKind::Io && e.kind != ErrorKind::Internal) e.kind = ErrorKind::InvalidModule;
    return Error(e.kind, fmt::format("the plugin cannot be loaded: {}", e.message));
  }

  // 2. The wasm file, under its own name.
  std::error_code ec;
  fs::create_directories(*dir, ec);
  if (ec) return Error(ErrorKind::Io, fmt::format("cannot create {}: {}", dir->string(), ec.message()));
  fs::path tmp = target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), random_token(6));
  if (auto r = write_file_atomic(tmp, req.wasm); !r) return r.take_error();
  crash_point("wasm-written");
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int e = errno;
    fs::remove(tmp, ec);
    return Error(ErrorKind::Io, fmt::format("cannot store {}: {}", target.string(), std::strerror(e)));
  }
  fsync_dir(target.parent_path());
  crash_point("wasm-renamed");

  // 3-4. The new plugins.yml; its rename commits the change.
  json::value next = doc_;
  if (!next.is_object()) next = json::object{};
  if (!plugin_list(next)) next.as_object()["plugins"] = json::array{};
  json::array& list = *plugin_list(next);
  std::optional<fs::path> old_file;
  json::value old_entry;
  if (!replacing) {
    list.push_back(spec->raw);
  } else if (auto it = find_entry(list, spec->name); it != list.end()) {
    if (auto p = entry_path(*it)) old_file = resolve_entry_path(*p);
    old_entry = *it;
    *it = spec->raw;
  }
  if (auto r = commit_yaml(next); !r) {
    fs::remove(target, ec);
    return r.take_error();
  }

  // 5. Publish (cannot fail: checked under the same lock). The old version stays with the calls
  // still running on it.
  if (replacing) {
    auto r = registry_.replace(*version);
    if (!r) return r.take_error();
    // The replaced version is kept for a rollback: its entry and module, in memory.
    if (old_file) previous_[spec->name] = Previous{std::move(old_entry), *old_file, (*r)->plugin->wasm()};
  } else if (auto r = registry_.add(*version); !r) {
    return r.take_error();
  }
  doc_ = std::move(next);
  crash_point("swapped");
  if (options_.native) options_.native->schedule(*version);

  // 6. The old file, once nothing references it.
  if (old_file && canonical_or_self(*old_file) != canonical_or_self(target) && !referenced(doc_, *old_file)) {
    fs::remove(*old_file, ec);
  }
  log().info("plugin \"{}\" {} {} ({} tools, file {})", spec->name, spec->version, replacing ? "updated" : "published",
             spec->functions.size(), target.string());
  warn_about_tool_names(*spec);
  UploadResult res;
  res.file_path = target.generic_string();
  res.metadata = spec->raw;
  res.note = std::move(note);
  res.version = std::move(*version);
  return res;
}

Result<UploadResult> PluginManager::publish(const UploadRequest& request) { return upload(request, false); }
Result<UploadResult> PluginManager::update(const UploadRequest& request) { return upload(request, true); }

Result<std::shared_ptr<const PluginVersion>> PluginManager::remove(std::string_view name) {
  std::lock_guard lock(mu_);
  auto current = registry_.snapshot()->find_plugin(name);
  if (!current) return Error(ErrorKind::NotFound, fmt::format("no plugin named \"{}\" is loaded", name));
  json::value next = doc_;
  std::optional<fs::path> file;
  if (json::array* list = plugin_list(next)) {
    if (auto it = find_entry(*list, name); it != list->end()) {
      if (auto p = entry_path(*it)) file = resolve_entry_path(*p);
      list->erase(it);
    }
  }
  if (auto r = commit_yaml(next); !r) return r.take_error();
  auto old = registry_.remove(name);
  if (!old) return old.take_error();
  doc_ = std::move(next);
  crash_point("swapped");
  std::error_code ec;
  previous_.erase(std::string(name));
  if (file && !referenced(doc_, *file)) fs::remove(*file, ec);
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
  UploadRequest req{json::serialize(prev.entry), prev.file.filename().string(), std::string(prev.wasm.begin(), prev.wasm.end()),
                    prev.file.parent_path().string()};
  auto r = upload(req, true);
  if (r) log().info("plugin \"{}\" rolled back to {}", name, r->version->spec.version);
  return r;
}

}  // namespace wasimancer::registry
