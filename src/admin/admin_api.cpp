#include "admin/admin_api.hpp"

#include <algorithm>
#include <chrono>

#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "admin/multipart.hpp"
#include "core/crypto.hpp"
#include "core/event_feed.hpp"
#include "core/metrics.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "registry/names.hpp"

namespace wasimancer::admin {

namespace json = boost::json;

namespace {

struct Parsed {
  std::string base;  // e.g. "/remove-plugin"
  std::string name;  // the :name segment, decoded ("" if none)
  bool has_name = false;
  std::optional<std::string> dir;
};

Parsed parse(std::string_view target) {
  Parsed p;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view kv = query.substr(0, amp);
      auto eq = kv.find('=');
      if (percent_decode(kv.substr(0, eq)) == "dir") p.dir = eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  auto slash = path.find('/', 1);
  p.base = std::string(path.substr(0, slash));
  if (slash != std::string_view::npos) {
    p.has_name = true;
    p.name = percent_decode(path.substr(slash + 1));
  }
  return p;
}

const std::vector<std::pair<std::string, http::verb>>& routes() {
  static const std::vector<std::pair<std::string, http::verb>> r = {
      {"/upload-plugin", http::verb::post},   {"/update-plugin", http::verb::put},    {"/remove-plugin", http::verb::delete_},
      {"/rollback-plugin", http::verb::post},
      {"/plugins", http::verb::get},          {"/add-resource", http::verb::post},    {"/update-resource", http::verb::put},
      {"/remove-resource", http::verb::delete_}, {"/add-prompt", http::verb::post},   {"/update-prompt", http::verb::put},
      {"/remove-prompt", http::verb::delete_}};
  return r;
}

Response json_response(http::status status, const json::value& body, unsigned version = 11) {
  Response res{status, version};
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.body() = json::serialize(body);
  return res;
}

Response error_response(http::status status, std::string_view message) {
  return json_response(status, json::object{{"error", message}});
}

http::status status_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument:
    case ErrorKind::InvalidModule: return http::status::bad_request;
    case ErrorKind::NotFound: return http::status::not_found;
    case ErrorKind::AlreadyExists:
    case ErrorKind::Conflict: return http::status::conflict;
    case ErrorKind::Unavailable: return http::status::service_unavailable;
    case ErrorKind::PermissionDenied: return http::status::forbidden;
    default: return http::status::internal_server_error;
  }
}

Response error_response(const Error& e) {
  if (status_of(e.kind) == http::status::internal_server_error) log().error("admin request failed: {}", e.message);
  return error_response(status_of(e.kind), e.message);
}

// If-Match: a store revision (as GET /plugins reports it), bare or quoted. nullopt if absent;
// an unreadable value is an error.
Result<std::optional<uint64_t>> if_match(const Request& req) {
  std::string_view v = req[http::field::if_match];
  if (v.empty()) return std::optional<uint64_t>();
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  uint64_t n = 0;
  if (v.empty() || v.size() > 19) return Error(ErrorKind::InvalidArgument, "If-Match must be a revision number (GET /plugins reports it)");
  for (char c : v) {
    if (c < '0' || c > '9') return Error(ErrorKind::InvalidArgument, "If-Match must be a revision number (GET /plugins reports it)");
    n = n * 10 + uint64_t(c - '0');
  }
  return std::optional<uint64_t>(n);
}

bool is_upload(const std::string& base) { return base == "/upload-plugin" || base == "/update-plugin"; }

Result<json::value> json_body(const Request& req) {
  std::string ctype = ascii_lower(req[http::field::content_type]);
  if (ctype.rfind("application/json", 0) != 0) {
    return Error(ErrorKind::InvalidArgument, "Content-Type must be application/json");
  }
  boost::system::error_code ec;
  json::value v = json::parse(req.body(), ec);
  if (ec) return Error(ErrorKind::InvalidArgument, fmt::format("the body is not valid JSON: {}", ec.message()));
  return v;
}

// A 400 answer if the URL has no :name segment, or a name that breaks the rule every name
// follows (registry/names.hpp): no such name can exist.
std::optional<Response> missing_name(const Parsed& p, std::string_view what) {
  if (!p.has_name || p.name.empty()) return error_response(http::status::bad_request, fmt::format("the {} name is missing from the URL", what));
  if (auto r = registry::check_name(what, p.name); !r) return error_response(http::status::bad_request, r.error().message);
  return std::nullopt;
}

// POST /add-<what> and PUT /update-<what>/:name, for resources and prompts.
template <typename Spec>
Response add_or_update(registry::Catalog<Spec>& catalog, const Request& req, const Parsed& p, bool updating, std::string_view what,
                       std::string_view title) {
  if (updating) {
    if (auto e = missing_name(p, what)) return *e;
  }
  auto body = json_body(req);
  if (!body) return error_response(body.error());
  auto r = updating ? catalog.update(p.name, *body) : catalog.add(*body);
  if (!r) return error_response(r.error());
  return json_response(http::status::ok,
                       json::object{{"message", fmt::format("🎉 {} {} {} successfully", title, (*r)->name, updating ? "updated" : "added")},
                                    {what, (*r)->raw}});
}

}  // namespace

AdminApi::AdminApi(registry::PluginManager& plugins, registry::Registry& registry, registry::ResourceCatalog& resources,
                   registry::PromptCatalog& prompts, WorkerPool& workers, AdminConfig config)
    : plugins_(plugins), registry_(registry), resources_(resources), prompts_(prompts), workers_(workers),
      config_(std::move(config)) {}

bool AdminApi::matches(const Header& header) const {
  Parsed p = parse(header.target());
  return std::any_of(routes().begin(), routes().end(), [&](const auto& r) { return r.first == p.base; });
}

std::optional<Response> AdminApi::check(const Header& header) const {
  std::string_view auth = header[http::field::authorization];
  bool ok = auth.size() > 7 && ascii_lower(auth.substr(0, 7)) == "bearer " && constant_time_equal(auth.substr(7), config_.token);
  if (!ok && config_.oauth && !auth.empty()) {
    auto d = config_.oauth->check(auth, mcp::kAdminScope, header[http::field::host]);
    if (!d.allowed()) {
      // 403 as for a wrong admin token (WASImancer's status), with the OAuth reason.
      Response r = error_response(http::status::forbidden, fmt::format("the admin token is not valid: {}", d.description));
      r.set(http::field::www_authenticate, config_.oauth->www_authenticate(d, mcp::kAdminScope, header[http::field::host]));
      return r;
    }
    ok = true;
  }
  if (!ok) {
    return error_response(http::status::forbidden, auth.empty() ? "the admin API needs Authorization: Bearer <WASIMANCER_ADMIN_TOKEN>"
                                                                 : "the admin token is not valid");
  }
  Parsed p = parse(header.target());
  bool method_ok = std::any_of(routes().begin(), routes().end(),
                               [&](const auto& r) { return r.first == p.base && r.second == header.method(); });
  if (!method_ok) {
    return error_response(http::status::method_not_allowed, fmt::format("{} does not accept {}", p.base, std::string(header.method_string())));
  }
  uint64_t limit = body_limit(header);
  auto len = header[http::field::content_length];
  if (!len.empty()) {
    try {
      if (std::stoull(std::string(len)) > limit) {
        return error_response(http::status::payload_too_large, fmt::format("the request is larger than the limit of {} bytes", limit));
      }
    } catch (...) {
      return error_response(http::status::bad_request, "invalid Content-Length");
    }
  }
  return std::nullopt;
}

uint64_t AdminApi::body_limit(const Header& header) const {
  // The multipart envelope adds a little to the file itself.
  return is_upload(parse(header.target()).base) ? config_.max_upload_bytes + 64 * 1024 : config_.max_json_bytes;
}

namespace {

// What a change route changes, for wasimancer_admin_changes_total and the live feed.
struct Change {
  std::string_view object, action;
};
std::optional<Change> change_of(const std::string& base) {
  static const std::pair<std::string_view, Change> changes[] = {
      {"/upload-plugin", {"plugin", "publish"}},   {"/update-plugin", {"plugin", "update"}},
      {"/remove-plugin", {"plugin", "remove"}},    {"/rollback-plugin", {"plugin", "rollback"}},
      {"/add-resource", {"resource", "add"}},      {"/update-resource", {"resource", "update"}},
      {"/remove-resource", {"resource", "remove"}}, {"/add-prompt", {"prompt", "add"}},
      {"/update-prompt", {"prompt", "update"}},    {"/remove-prompt", {"prompt", "remove"}}};
  for (const auto& [b, c] : changes) {
    if (b == base) return c;
  }
  return std::nullopt;
}

void record_change(const Parsed& p, const Change& c, const Response& res) {
  const bool ok = res.result() == http::status::ok;
  metrics::record_admin_change(c.object, c.action, ok);
  json::object ev{{"type", "admin"}, {"object", c.object}, {"action", c.action}, {"status", res.result_int()},
                  {"time", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count()}};
  boost::system::error_code ec;
  json::value body = json::parse(res.body(), ec);
  std::string name = p.name;
  if (!ec && body.is_object()) {
    const auto& o = body.as_object();
    if (auto* m = o.if_contains("metadata"); m && m->is_object()) {
      if (auto* n = m->as_object().if_contains("name"); n && n->is_string()) name = std::string(n->as_string());
      if (auto* v = m->as_object().if_contains("version"); v && v->is_string()) ev["version"] = *v;
    }
    for (const char* key : {"resource", "prompt"}) {
      if (auto* r = o.if_contains(key); r && r->is_object()) {
        if (auto* n = r->as_object().if_contains("name"); n && n->is_string()) name = std::string(n->as_string());
      }
    }
    if (auto* e = o.if_contains("error")) ev["error"] = *e;
  }
  ev["name"] = name;
  events::feed().publish("admin", json::serialize(ev));
}

}  // namespace

void AdminApi::handle(Request request, std::function<void(Response)> done) {
  workers_.post([this, req = std::move(request), done = std::move(done)] {
    Response res;
    try {
      res = serve(req);
    } catch (const std::exception& e) {
      log().error("admin request {} failed: {}", std::string(req.target()), e.what());
      res = error_response(http::status::internal_server_error, "internal error");
    }
    // Changes that passed authentication are counted and shown on the live feed.
    if (res.result() != http::status::forbidden) {
      Parsed p = parse(req.target());
      if (auto c = change_of(p.base)) record_change(p, *c, res);
    }
    done(std::move(res));
  });
}

Response AdminApi::serve(const Request& req) {
  if (auto early = check(req)) return *early;
  Parsed p = parse(req.target());
  const std::string& b = p.base;
  if (b == "/upload-plugin") return upload(req, false, p.dir);
  if (b == "/update-plugin") return upload(req, true, p.dir);
  if (b == "/plugins") {
    if (p.has_name && !p.name.empty()) {
      if (auto e = missing_name(p, "plugin")) return *e;
    }
    return list_plugins(req, p.has_name ? p.name : "");
  }
  if (b == "/remove-plugin") {
    if (auto e = missing_name(p, "plugin")) return *e;
    auto expected = if_match(req);
    if (!expected) return error_response(expected.error());
    auto r = plugins_.remove(p.name, *expected);
    if (!r) return error_response(r.error());
    return json_response(http::status::ok, json::object{{"message", "🙂 Plugin removed successfully"}});
  }
  if (b == "/rollback-plugin") {
    if (auto e = missing_name(p, "plugin")) return *e;
    auto r = plugins_.rollback(p.name);
    if (!r) return error_response(r.error());
    json::object body{{"message", fmt::format("🙂 Plugin {} rolled back to version {}", p.name, r->version->spec.version)},
                      {"filePath", r->file_path},
                      {"metadata", r->metadata}};
    return json_response(http::status::ok, body);
  }
  if (b == "/add-resource" || b == "/update-resource") return add_or_update(resources_, req, p, b == "/update-resource", "resource", "Resource");
  if (b == "/remove-resource") {
    if (auto e = missing_name(p, "resource")) return *e;
    auto r = resources_.remove(p.name);
    if (!r) return error_response(r.error());
    return json_response(http::status::ok, json::object{{"message", fmt::format("🙂 Resource {} removed successfully", p.name)},
                                                        {"type", (*r)->dynamic ? "dynamic" : "static"}});
  }
  if (b == "/add-prompt" || b == "/update-prompt") return add_or_update(prompts_, req, p, b == "/update-prompt", "prompt", "Prompt");
  if (b == "/remove-prompt") {
    if (auto e = missing_name(p, "prompt")) return *e;
    auto r = prompts_.remove(p.name);
    if (!r) return error_response(r.error());
    return json_response(http::status::ok, json::object{{"message", fmt::format("🙂 Prompt {} removed successfully", p.name)}});
  }
  return error_response(http::status::not_found, "no such admin route");
}

Response AdminApi::upload(const Request& req, bool replacing, const std::optional<std::string>& dir) {
  const FormPart* wasm = nullptr;
  const FormPart* data = nullptr;
  const FormPart* signature = nullptr;
  std::vector<FormPart> parts;
  bool json_ref = false;
  if (ascii_lower(req[http::field::content_type]).rfind("application/json", 0) == 0) {
    boost::system::error_code ec;
    json::value v = json::parse(req.body(), ec);
    json_ref = !ec && v.is_object() && v.as_object().contains("oci");
  }
  if (json_ref) {
    // Publish by OCI reference without a file: the body is pluginData itself. (Any other JSON
    // body gets the multipart parser's answer.)
    parts.push_back(FormPart{"pluginData", "", "", req.body()});
  } else {
    auto parsed = parse_multipart(req[http::field::content_type], req.body());
    if (!parsed) return error_response(parsed.error());
    parts = std::move(*parsed);
  }
  for (const auto& part : parts) {
    if (part.name == "wasmFile") wasm = &part;
    if (part.name == "pluginData") data = &part;
    if (part.name == "signature") signature = &part;
  }
  if (!data) return error_response(http::status::bad_request, "the pluginData part is missing (curl -F \"pluginData=<JSON>\")");
  auto expected = if_match(req);
  if (!expected) return error_response(expected.error());
  // pluginData with "oci" and no file: the server pulls the module (registry/provenance.hpp).
  std::optional<registry::PulledModule> pulled;
  std::string plugin_data = data->data;
  if (!wasm) {
    boost::system::error_code ec;
    json::value v = json::parse(data->data, ec);
    if (!ec && v.is_object() && v.as_object().contains("oci")) {
      auto p = registry::pull_entry(*plugins_.provenance(), v.as_object());
      if (!p) {
        Error e = p.take_error();
        if (e.kind == ErrorKind::HostError || e.kind == ErrorKind::InvalidModule) e.kind = ErrorKind::InvalidArgument;
        if (e.kind == ErrorKind::NotFound) e.kind = ErrorKind::InvalidArgument;
        e.message = fmt::format("cannot pull the plugin: {}", e.message);
        return error_response(e);
      }
      pulled = std::move(*p);
      plugin_data = json::serialize(v);
    }
  }
  if (!wasm && !pulled) {
    return error_response(http::status::bad_request,
                          "the wasmFile part is missing (curl -F \"wasmFile=@plugin.wasm\"), and pluginData names no \"oci\" reference");
  }
  if (wasm && wasm->filename.empty()) return error_response(http::status::bad_request, "wasmFile must be a file upload (curl -F \"wasmFile=@plugin.wasm\")");
  const std::string& bytes = wasm ? wasm->data : pulled->wasm;
  if (bytes.size() > config_.max_upload_bytes) {
    return error_response(http::status::payload_too_large, fmt::format("the wasm file is larger than the limit of {} bytes", config_.max_upload_bytes));
  }
  registry::UploadRequest up{plugin_data, wasm ? wasm->filename : pulled->file_name, bytes, dir, *expected};
  if (signature) up.signature = signature->data;
  else if (pulled && pulled->signature) up.signature = pulled->signature;
  auto r = replacing ? plugins_.update(up) : plugins_.publish(up);
  if (!r) return error_response(r.error());
  // filePath: the stored file as plugins.yml names it (relative to PLUGINS_PATH), as the brief's
  // answers show it, whatever the working directory or the configured paths.
  const json::value* recorded = r->metadata.if_contains("path");
  json::value file_path = recorded && recorded->is_string() ? *recorded : json::value(r->file_path);
  json::object body{{"message", "🎉 File uploaded successfully"}, {"filePath", file_path}, {"metadata", r->metadata}};
  if (r->note) body["note"] = *r->note;
  if (plugins_.store().shared()) body["revision"] = r->revision;
  return json_response(http::status::ok, body);
}

Response AdminApi::list_plugins(const Request&, const std::string& name) {
  auto snap = registry_.snapshot();
  auto previous_version = [this](const std::string& name) -> json::value {
    auto prev = plugins_.previous(name);
    if (!prev || !prev->is_object()) return nullptr;
    auto* v = prev->as_object().if_contains("version");
    return v && v->is_string() ? *v : json::value(json::string(""));
  };
  auto describe = [&](const registry::PluginVersion& v) {
    json::array fns;
    for (const auto& f : *v.tools()) {
      json::object o{{"tool", f.tool_name}, {"function", f.function}, {"description", f.description},
                     {"inputSchema", registry::tool_input_schema(f)}};
      if (f.dispatch != registry::ToolDispatch::Export) o["pluginTool"] = f.plugin_tool;
      fns.push_back(std::move(o));
    }
    return json::object{{"name", v.spec.name},
                        {"version", v.spec.version},
                        {"description", v.spec.description},
                        {"path", v.spec.path},
                        {"file", v.file.generic_string()},
                        {"sha256", v.sha256},
                        {"size", v.plugin->wasm().size()},
                        {"tier", v.pool.tier()},
                        {"native", v.native_status()},
                        {"isolation", v.sandbox ? "process" : "none"},
                        {"quarantined", v.quarantined()},
                        {"quarantineReason", v.quarantine_reason()},
                        {"interface", registry::to_string(v.interface_kind)},
                        {"functions", std::move(fns)},
                        {"signedBy", v.spec.raw.contains("signedBy") ? v.spec.raw.at("signedBy") : json::value(nullptr)},
                        {"oci", v.spec.raw.contains("oci") ? v.spec.raw.at("oci") : json::value(nullptr)},
                        {"ociDigest", v.spec.raw.contains("ociDigest") ? v.spec.raw.at("ociDigest") : json::value(nullptr)},
                        {"instances", json::object{{"idle", v.pool.idle()}, {"created", v.pool.created()}}},
                        {"previousVersion", previous_version(v.spec.name)},
                        {"entry", v.spec.raw},
                        {"loadedAt", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(v.loaded_at)))}};
  };
  if (!name.empty()) {
    auto v = snap->find_plugin(name);
    if (!v) return error_response(http::status::not_found, fmt::format("no plugin named \"{}\" is loaded", name));
    return json_response(http::status::ok, describe(*v));
  }
  json::array list;
  for (const auto& v : snap->plugins()) list.push_back(describe(*v));
  json::object body{{"plugins", std::move(list)}};
  // Shared store: the revision this replica serves (If-Match takes it).
  if (plugins_.store().shared()) body["revision"] = plugins_.served_revision();
  return json_response(http::status::ok, body);
}

}  // namespace wasimancer::admin
