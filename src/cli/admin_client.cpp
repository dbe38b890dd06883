#include "cli/admin_client.hpp"

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <boost/json.hpp>
#include <curl/curl.h>
#include <fmt/format.h>

#include "cli/dist_settings.hpp"
#include "cli/env.hpp"
#include "cli/signals.hpp"
#include "core/crypto.hpp"
#include "core/files.hpp"
#include "core/signature.hpp"
#include "registry/oci.hpp"

namespace wasimancer::cli {

namespace json = boost::json;

namespace {

struct Connection {
  std::string url;
  std::string token;
};

struct HttpResult {
  bool no_token = false;  // nothing was sent: no token was given
  long status = 0;
  std::string body;
  std::string transport_error;
};

size_t collect(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

std::string escape_path_segment(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

// One request. `form` (file part + pluginData) is used for uploads, `json_body` otherwise.
HttpResult request(const Connection& c, const std::string& method, const std::string& path, const std::string* json_body,
                   const std::pair<std::string, std::string>* upload_file = nullptr, const std::string* plugin_data = nullptr,
                   const std::string* signature = nullptr) {
  HttpResult r;
  if (c.token.empty()) {  // every admin route needs it: say what is missing instead of showing a 403
    r.no_token = true;
    return r;
  }
  die_on_stop_signal();  // Ctrl-C ends the command (signals are blocked in every thread: cli/signals.hpp)
  CURL* h = curl_easy_init();
  std::string url = c.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += path;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_slist* headers = nullptr;
  std::string auth = "Authorization: Bearer " + c.token;
  headers = curl_slist_append(headers, auth.c_str());
  curl_mime* mime = nullptr;
  if (upload_file) {
    mime = curl_mime_init(h);
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, "wasmFile");
    curl_mime_filedata(part, upload_file->first.c_str());
    curl_mime_filename(part, upload_file->second.c_str());
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "pluginData");
    curl_mime_data(part, plugin_data->data(), plugin_data->size());
    if (signature) {
      part = curl_mime_addpart(mime);
      curl_mime_name(part, "signature");
      curl_mime_data(part, signature->data(), signature->size());
      curl_mime_filename(part, (upload_file->second + ".minisig").c_str());
    }
    curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
  } else if (json_body) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body->size()));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) r.transport_error = curl_easy_strerror(rc);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  if (mime) curl_mime_free(mime);
  curl_easy_cleanup(h);
  return r;
}

int report(const HttpResult& r, const Connection& c) {
  if (r.no_token) {
    std::cerr << "error: no admin token given (set WASIMANCER_ADMIN_TOKEN or --token)\n";
    return 2;
  }
  if (!r.transport_error.empty()) {
    std::cerr << fmt::format("error: cannot reach {}: {}\n", c.url, r.transport_error);
    return 3;
  }
  if (r.status >= 200 && r.status < 300) {
    std::cout << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
    return 0;
  }
  std::string msg = r.body;
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (auto* e = v.as_object().if_contains("error"); e && e->is_string()) msg = std::string(e->as_string());
  }
  std::cerr << fmt::format("error ({}): {}\n", r.status, msg);
  return 1;
}

void connection_flags(CLI::App* cmd, std::shared_ptr<Connection> c) {
  c->url = env("WASIMANCER_URL").value_or("http://localhost:3001");
  c->token = env("WASIMANCER_ADMIN_TOKEN").value_or(env("WASIMANCER_TOKEN").value_or(""));
  cmd->add_option("--url", c->url, "Server URL (WASIMANCER_URL; default http://localhost:3001)");
  cmd->add_option("--token", c->token, "Admin token (WASIMANCER_ADMIN_TOKEN or WASIMANCER_TOKEN)");
}

Result<std::string> read_json_file(const std::string& path) {
  auto text = read_file(path, 16 << 20);
  if (!text) return text.take_error();
  boost::system::error_code ec;
  json::parse(*text, ec);
  if (ec) return Error(ErrorKind::InvalidArgument, fmt::format("{} is not valid JSON: {}", path, ec.message()));
  return text;
}

// A request body the command could not build (a bad flag or file): exit code 2.
int usage_error(const Error& e) {
  std::cerr << "error: " << e.message << "\n";
  return 2;
}

struct PublishArgs {
  std::string wasm;
  std::string data_file;
  std::string name, version = "1.0.0", description, path;
  std::vector<std::string> functions;  // DISPLAY[:EXPORT[:DESCRIPTION]]
  std::vector<std::string> args;       // DISPLAY.ARG:TYPE[:DESCRIPTION]
  std::string dir;
  std::string sign_key;  // a minisign secret key file
  std::string oci;       // push to / publish from this OCI reference
};

// A minisign signature of `wasm` by the secret key file (password: WASIMANCER_SIGN_PASSWORD).
Result<std::string> sign_module(const std::string& key_file, const std::string& wasm, const std::string& file_name) {
  auto text = read_file(key_file, 1 << 20);
  if (!text) return Error(ErrorKind::InvalidArgument, fmt::format("--sign {}: {}", key_file, text.error().message));
  std::optional<std::string> password;
  if (const char* p = std::getenv("WASIMANCER_SIGN_PASSWORD")) password = p;
  auto key = parse_minisign_secret_key(*text, password);
  if (!key) return Error(ErrorKind::InvalidArgument, fmt::format("--sign {}: {}", key_file, key.error().message));
  std::string comment = fmt::format("timestamp:{}\tfile:{}\thashed", static_cast<long long>(std::time(nullptr)), file_name);
  return minisign_sign(*key, wasm, comment);
}

// Pushes `wasm` (and its signature) to `ref`; the registries allowed are WASIMANCER_OCI_REGISTRIES
// or else the reference's own host (named on the command line).
Result<registry::OciPushed> push_module(const std::string& ref_text, const std::string& wasm, const std::optional<std::string>& signature,
                                        const std::string& file_name) {
  auto ref = registry::parse_oci_reference(ref_text);
  if (!ref) return ref.take_error();
  auto settings = oci_settings_from_env(1ull << 30);
  if (!settings) return settings.take_error();
  if (settings->allowed_registries.empty()) settings->allowed_registries = {ref->host()};
  registry::OciClient client(std::move(*settings));
  return client.push(*ref, wasm, signature, file_name);
}

// pluginData from a file, or built from the flags.
Result<std::string> plugin_data(const PublishArgs& a) {
  if (!a.data_file.empty()) return read_json_file(a.data_file);
  if (a.name.empty() || (a.functions.empty() && a.oci.empty())) {
    return Error(ErrorKind::InvalidArgument, "give --data FILE, or --name and at least one --function");
  }
  json::object data{{"name", a.name}, {"version", a.version}, {"description", a.description}};
  if (!a.path.empty() || !a.wasm.empty()) data["path"] = a.path.empty() ? "./" + std::filesystem::path(a.wasm).filename().string() : a.path;
  json::array fns;
  for (const auto& spec : a.functions) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (int i = 0; i < 2; ++i) {
      size_t colon = spec.find(':', start);
      if (colon == std::string::npos) break;
      parts.push_back(spec.substr(start, colon - start));
      start = colon + 1;
    }
    parts.push_back(spec.substr(start));
    std::string display = parts[0];
    std::string exported = parts.size() > 1 && !parts[1].empty() ? parts[1] : display;
    json::object fn{{"displayName", display}, {"function", exported},
                    {"description", parts.size() > 2 ? parts[2] : ""}, {"arguments", json::array{}}};
    for (const auto& arg : a.args) {
      auto dot = arg.find('.');
      if (dot == std::string::npos || arg.substr(0, dot) != display) continue;
      std::string rest = arg.substr(dot + 1);
      auto c1 = rest.find(':');
      auto c2 = c1 == std::string::npos ? std::string::npos : rest.find(':', c1 + 1);
      json::object ao{{"name", rest.substr(0, c1)}, {"type", c1 == std::string::npos ? "string" : rest.substr(c1 + 1, c2 - c1 - 1)}};
      if (c2 != std::string::npos) ao["description"] = rest.substr(c2 + 1);
      fn["arguments"].as_array().push_back(std::move(ao));
    }
    fns.push_back(std::move(fn));
  }
  if (!fns.empty()) data["functions"] = std::move(fns);
  return json::serialize(data);
}

void add_plugin_commands(CLI::App& app, int* exit_code) {
  CLI::App* plugin = app.add_subcommand("plugin", "Publish, update, remove or list plugins on a running server");
  plugin->require_subcommand(1);
  for (bool replacing : {false, true}) {
    auto a = std::make_shared<PublishArgs>();
    auto c = std::make_shared<Connection>();
    CLI::App* cmd = plugin->add_subcommand(replacing ? "update" : "publish",
                                           replacing ? "Replace a plugin (PUT /update-plugin)" : "Publish a plugin (POST /upload-plugin)");
    cmd->add_option("wasm", a->wasm, "The plugin's .wasm file (optional with --oci: the server pulls what is there)")->check(CLI::ExistingFile);
    auto* data = cmd->add_option("--data", a->data_file, "pluginData as a JSON file (one plugins.yml entry)");
    cmd->add_option("--name", a->name, "Plugin name")->excludes(data);
    cmd->add_option("--version", a->version, "Plugin version")->capture_default_str();
    cmd->add_option("--description", a->description, "Plugin description");
    cmd->add_option("--path", a->path, "path recorded in plugins.yml (the server may replace it)");
    cmd->add_option("--function", a->functions, "A tool: DISPLAY_NAME[:EXPORT[:DESCRIPTION]] (repeatable)");
    cmd->add_option("--arg", a->args, "A tool argument: DISPLAY_NAME.ARG:TYPE[:DESCRIPTION] (repeatable)");
    cmd->add_option("--dir", a->dir, "Target directory on the server (?dir=)");
    cmd->add_option("--sign", a->sign_key, "Sign the module with this minisign secret key (password: WASIMANCER_SIGN_PASSWORD)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--oci", a->oci,
                    "Publish by OCI reference (registry/repo:tag): the wasm file, if given, is pushed there first; the server pulls it");
    connection_flags(cmd, c);
    cmd->callback([a, c, exit_code, replacing] {
      if (a->wasm.empty() && a->oci.empty()) {
        *exit_code = usage_error(Error(ErrorKind::InvalidArgument, "give the plugin's .wasm file, or --oci REF"));
        return;
      }
      if (!a->sign_key.empty() && a->wasm.empty()) {
        *exit_code = usage_error(Error(ErrorKind::InvalidArgument, "--sign needs the .wasm file to sign"));
        return;
      }
      auto body = plugin_data(*a);
      if (!body) {
        *exit_code = usage_error(body.error());
        return;
      }
      std::string file_name = std::filesystem::path(a->wasm).filename().string();
      std::string wasm;
      if (!a->wasm.empty()) {
        auto bytes = read_file(a->wasm, 1ull << 30);
        if (!bytes) {
          *exit_code = usage_error(bytes.error());
          return;
        }
        wasm = std::move(*bytes);
      }
      std::optional<std::string> signature;
      if (!a->sign_key.empty()) {
        auto s = sign_module(a->sign_key, wasm, file_name);
        if (!s) {
          *exit_code = usage_error(s.error());
          return;
        }
        signature = std::move(*s);
      }
      std::string path = replacing ? "/update-plugin" : "/upload-plugin";
      if (!a->dir.empty()) path += "?dir=" + escape_path_segment(a->dir);
      if (!a->oci.empty()) {
        json::value v = json::parse(*body);
        if (!wasm.empty()) {
          auto pushed = push_module(a->oci, wasm, signature, file_name);
          if (!pushed) {
            std::cerr << fmt::format("error: cannot push to {}: {}\n", a->oci, pushed.error().message);
            *exit_code = 3;
            return;
          }
          std::cerr << fmt::format("pushed {} to {}\n", file_name, pushed->reference);
          v.as_object()["sha256"] = sha256_hex(wasm);  // the server pulls exactly this module
          v.as_object().erase("path");
        }
        v.as_object()["oci"] = a->oci;
        std::string text = json::serialize(v);
        *exit_code = report(request(*c, replacing ? "PUT" : "POST", path, &text), *c);
        return;
      }
      std::pair<std::string, std::string> file{a->wasm, file_name};
      *exit_code = report(request(*c, replacing ? "PUT" : "POST", path, nullptr, &file, &*body, signature ? &*signature : nullptr), *c);
    });
  }
  {
    auto wasm = std::make_shared<std::string>();
    auto ref = std::make_shared<std::string>();
    auto key = std::make_shared<std::string>();
    CLI::App* cmd = plugin->add_subcommand("push", "Push a plugin to an OCI registry (no server involved)");
    cmd->add_option("wasm", *wasm, "The plugin's .wasm file")->required()->check(CLI::ExistingFile);
    cmd->add_option("reference", *ref, "registry/repository:tag")->required();
    cmd->add_option("--sign", *key, "Sign the module with this minisign secret key (a signature layer beside it)")->check(CLI::ExistingFile);
    cmd->callback([wasm, ref, key, exit_code] {
      auto bytes = read_file(*wasm, 1ull << 30);
      if (!bytes) {
        *exit_code = usage_error(bytes.error());
        return;
      }
      std::string file_name = std::filesystem::path(*wasm).filename().string();
      std::optional<std::string> signature;
      if (!key->empty()) {
        auto s = sign_module(*key, *bytes, file_name);
        if (!s) {
          *exit_code = usage_error(s.error());
          return;
        }
        signature = std::move(*s);
      }
      auto pushed = push_module(*ref, *bytes, signature, file_name);
      if (!pushed) {
        std::cerr << fmt::format("error: cannot push to {}: {}\n", *ref, pushed.error().message);
        *exit_code = pushed.error().kind == ErrorKind::InvalidArgument ? 2 : 3;
        return;
      }
      std::cout << json::serialize(json::object{{"reference", pushed->reference}, {"digest", pushed->manifest_digest},
                                                {"sha256", sha256_hex(*bytes)}, {"signed", signature.has_value()}})
                << "\n";
      *exit_code = 0;
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto c = std::make_shared<Connection>();
    CLI::App* cmd = plugin->add_subcommand("remove", "Remove a plugin (DELETE /remove-plugin/:name)");
    cmd->add_option("name", *name, "Plugin name")->required();
    connection_flags(cmd, c);
    cmd->callback([name, c, exit_code] {
      *exit_code = report(request(*c, "DELETE", "/remove-plugin/" + escape_path_segment(*name), nullptr), *c);
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto c = std::make_shared<Connection>();
    CLI::App* cmd = plugin->add_subcommand("list", "List loaded plugins (GET /plugins[/:name])");
    cmd->add_option("name", *name, "Only this plugin");
    connection_flags(cmd, c);
    cmd->callback([name, c, exit_code] {
      std::string path = name->empty() ? "/plugins" : "/plugins/" + escape_path_segment(*name);
      *exit_code = report(request(*c, "GET", path, nullptr), *c);
    });
  }
}

// resource|prompt add FILE; update NAME FILE; remove NAME
void add_catalog_commands(CLI::App& app, int* exit_code, const std::string& kind) {
  CLI::App* group = app.add_subcommand(kind, fmt::format("Add, update or remove {}s on a running server", kind));
  group->require_subcommand(1);
  {
    auto file = std::make_shared<std::string>();
    auto c = std::make_shared<Connection>();
    CLI::App* cmd = group->add_subcommand("add", fmt::format("Add a {} (POST /add-{}) from a JSON file", kind, kind));
    cmd->add_option("file", *file, "The definition as JSON")->required()->check(CLI::ExistingFile);
    connection_flags(cmd, c);
    cmd->callback([file, c, exit_code, kind] {
      auto body = read_json_file(*file);
      if (!body) {
        *exit_code = usage_error(body.error());
        return;
      }
      *exit_code = report(request(*c, "POST", "/add-" + kind, &*body), *c);
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto file = std::make_shared<std::string>();
    auto c = std::make_shared<Connection>();
    CLI::App* cmd = group->add_subcommand("update", fmt::format("Replace a {} (PUT /update-{}/:name) from a JSON file", kind, kind));
    cmd->add_option("name", *name, "Its name")->required();
    cmd->add_option("file", *file, "The new definition as JSON")->required()->check(CLI::ExistingFile);
    connection_flags(cmd, c);
    cmd->callback([name, file, c, exit_code, kind] {
      auto body = read_json_file(*file);
      if (!body) {
        *exit_code = usage_error(body.error());
        return;
      }
      *exit_code = report(request(*c, "PUT", "/update-" + kind + "/" + escape_path_segment(*name), &*body), *c);
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto c = std::make_shared<Connection>();
    CLI::App* cmd = group->add_subcommand("remove", fmt::format("Remove a {} (DELETE /remove-{}/:name)", kind, kind));
    cmd->add_option("name", *name, "Its name")->required();
    connection_flags(cmd, c);
    cmd->callback([name, c, exit_code, kind] {
      *exit_code = report(request(*c, "DELETE", "/remove-" + kind + "/" + escape_path_segment(*name), nullptr), *c);
    });
  }
}

// observe [--log-level L] [--metrics on|off] [--trace-sample-ratio R]: GET, or PUT what is given.
void add_observe_command(CLI::App& app, int* exit_code) {
  struct Args {
    std::string log_level, metrics;
    std::optional<double> ratio;
  };
  auto a = std::make_shared<Args>();
  auto c = std::make_shared<Connection>();
  CLI::App* cmd = app.add_subcommand("observe", "Show or change a running server's log level, metrics and trace sampling (GET/PUT /observe)");
  cmd->add_option("--log-level", a->log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  cmd->add_option("--metrics", a->metrics, "Record metrics: on or off")->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--trace-sample-ratio", a->ratio, "Share of new traces exported, 0 to 1 (needs an OTLP endpoint)")
      ->check(CLI::Range(0.0, 1.0));
  connection_flags(cmd, c);
  cmd->callback([a, c, exit_code] {
    boost::json::object body;
    if (!a->log_level.empty()) body["logLevel"] = a->log_level;
    if (!a->metrics.empty()) body["metrics"] = a->metrics == "on";
    if (a->ratio) body["traceSampleRatio"] = *a->ratio;
    if (body.empty()) {
      *exit_code = report(request(*c, "GET", "/observe", nullptr), *c);
      return;
    }
    const std::string text = boost::json::serialize(body);
    *exit_code = report(request(*c, "PUT", "/observe", &text), *c);
  });
}

}  // namespace

void add_admin_commands(CLI::App& app, int* exit_code) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  add_plugin_commands(app, exit_code);
  add_catalog_commands(app, exit_code, "resource");
  add_catalog_commands(app, exit_code, "prompt");
  add_observe_command(app, exit_code);
}

}  // namespace wasimancer::cli
