#include "registry/store.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "core/crash_point.hpp"
#include "core/files.hpp"
#include "registry/yaml_json.hpp"

namespace wasimancer::registry {

namespace fs = std::filesystem;
namespace json = boost::json;

Result<std::string> DocumentStore::blob(std::string_view sha256) {
  return Error(ErrorKind::NotFound, fmt::format("{} keeps no blob {}", where(), sha256));
}

Result<std::optional<json::value>> YamlFileStore::load() {
  {
    // Temporary files of an interrupted write (".plugins.yml.tmp-<hex>").
    std::error_code ec;
    std::string prefix = "." + file_.filename().string() + ".tmp-";
    fs::path dir = file_.has_parent_path() ? file_.parent_path() : fs::path(".");
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().rfind(prefix, 0) == 0 && !it->is_symlink()) {
        std::error_code rm;
        fs::remove(it->path(), rm);
      }
    }
  }
  auto text = read_file(file_, 64 << 20);
  if (!text) {
    if (text.error().kind == ErrorKind::NotFound) {
      doc_ = json::object{};
      return std::optional<json::value>();
    }
    return text.take_error();
  }
  auto doc = parse_yaml(*text);
  if (!doc) return Error(ErrorKind::InvalidArgument, fmt::format("{}: {}", file_.string(), doc.error().message));
  if (doc->is_null()) *doc = json::object{};
  if (!doc->is_object()) return Error(ErrorKind::InvalidArgument, fmt::format("{}: the document must be a map", file_.string()));
  doc_ = *doc;
  return std::optional<json::value>(std::move(*doc));
}

Result<uint64_t> YamlFileStore::commit(const Edit& edit, const std::vector<Blob>&, std::optional<uint64_t>) {
  json::value next = doc_;
  if (!next.is_object()) next = json::object{};
  if (auto r = edit(next); !r) return r.take_error();
  std::string text = "# Written by wasimancer (comments are not preserved).\n" + to_yaml(next);
  // Through the folder's descriptor (no link below it is followed); write + fsync, then rename,
  // in two visible steps so tests can crash between them.
  auto dir = Dir::open(file_.has_parent_path() ? file_.parent_path() : fs::path("."), true);
  if (!dir) return dir.take_error();
  std::string name = file_.filename().string();
  auto written = dir->write_temp(name, text);
  if (!written) return written.take_error();
  if (crash_points_) crash_point("yaml-written");
  if (auto r = dir->rename(written->name, name, false); !r) {
    ::unlinkat(dir->fd(), written->name.c_str(), 0);
    return r.take_error();
  }
  if (crash_points_) crash_point("yaml-renamed");
  doc_ = std::move(next);
  return ++commits_;
}

}  // namespace wasimancer::registry
