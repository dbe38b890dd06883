// admin/admin_api.hpp: WASImancer's admin REST API (plugins, resources, prompts).
//
//   POST   /upload-plugin[?dir=D]   multipart: wasmFile, pluginData      (200, 400, 403, 409, 413)
//   PUT    /update-plugin[?dir=D]   same; pluginData.name names the plugin (200, 400, 403, 404, 409, 413)
//   DELETE /remove-plugin/:name                                          (200, 403, 404)
//   POST   /rollback-plugin/:name   back to the version the last update replaced (200, 403, 404)
//   GET    /plugins, /plugins/:name what is loaded                        (200, 403, 404)
//   POST   /add-resource, PUT /update-resource/:name, DELETE /remove-resource/:name
//   POST   /add-prompt,   PUT /update-prompt/:name,   DELETE /remove-prompt/:name
// Every request needs `Authorization: Bearer <admin token>` (403 otherwise), checked before the
// body is read. Errors are {"error": "..."}: 400 bad data, 404 unknown name, 409 name taken (or,
// with a database, a change made through another replica meanwhile, or a stale If-Match
// revision on upload/update/remove-plugin), 413 too large, 503 the database cannot be reached
// (nothing changed; retry), 500 only for real server faults (WASImancer answers 500 for "not found" and
// "already exists"; we do not).
//
// Ownership: borrows the plugin manager, registry, catalogs and worker pool; they must outlive
// it and the tasks it posted. Thread safety: matches(), check() and body_limit() are const and
// safe from any thread; handle() runs the work on the worker pool (loading a plugin runs wasm)
// and calls `done` from there.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/http.hpp>

#include "core/worker_pool.hpp"
#include "mcp/auth.hpp"
#include "registry/catalog.hpp"
#include "registry/plugin_manager.hpp"

namespace wasimancer::admin {

// The same Beast types as transport::HttpRequest/HttpResponse/HttpHeader (admin does not depend
// on transport; the composition root passes them straight through).
namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Header = http::request_header<>;

struct AdminConfig {
  std::string token;
  uint64_t max_upload_bytes = 10ull << 20;  // WASImancer's 10 MB
  uint64_t max_json_bytes = 1ull << 20;
  // OAuth access tokens with scope mcp:admin are accepted beside `token` when set (mcp/auth.hpp).
  std::shared_ptr<const mcp::OAuthResource> oauth;
};

class AdminApi {
 public:
  AdminApi(registry::PluginManager& plugins, registry::Registry& registry, registry::ResourceCatalog& resources,
           registry::PromptCatalog& prompts, WorkerPool& workers, AdminConfig config);

  bool matches(const Header& header) const;
  std::optional<Response> check(const Header& header) const;
  uint64_t body_limit(const Header& header) const;
  void handle(Request request, std::function<void(Response)> done);

  // Runs one request synchronously (on the calling thread, which must be a worker: it may load
  // a plugin).
  Response serve(const Request& request);

 private:
  Response upload(const Request& req, bool replacing, const std::optional<std::string>& dir);
  Response list_plugins(const Request& req, const std::string& name);

  registry::PluginManager& plugins_;
  registry::Registry& registry_;
  registry::ResourceCatalog& resources_;
  registry::PromptCatalog& prompts_;
  WorkerPool& workers_;
  AdminConfig config_;
};

}  // namespace wasimancer::admin
