#include "registry/oci.hpp"

#include <zlib.h>

#include <algorithm>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/glob.hpp"
#include "core/text.hpp"
#include "host/http_client.hpp"

namespace wasimancer::registry {

namespace json = boost::json;

namespace {

constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool valid_digest(std::string_view d) { return d.rfind("sha256:", 0) == 0 && is_hex64(d.substr(7)); }

std::string digest_of(std::string_view data) { return "sha256:" + sha256_hex(data); }

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

std::string header(const host::HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

std::string registry_error(const host::HttpResponse& r) {
  std::string body = r.body.substr(0, 300);
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (auto* errs = v.as_object().if_contains("errors"); errs && errs->is_array() && !errs->as_array().empty()) {
      const auto& e = errs->as_array()[0];
      if (e.is_object()) {
        auto* code = e.as_object().if_contains("code");
        auto* msg = e.as_object().if_contains("message");
        body = fmt::format("{} {}", code && code->is_string() ? std::string(code->as_string()) : "",
                           msg && msg->is_string() ? std::string(msg->as_string()) : "");
      }
    }
  }
  return fmt::format("HTTP {}: {}", r.status, body);
}

// key="value" pairs of a WWW-Authenticate challenge after the scheme.
std::map<std::string, std::string> challenge_params(std::string_view v) {
  std::map<std::string, std::string> out;
  auto sp = v.find(' ');
  if (sp == std::string_view::npos) return out;
  v.remove_prefix(sp + 1);
  while (!v.empty()) {
    while (!v.empty() && (v.front() == ' ' || v.front() == ',')) v.remove_prefix(1);
    auto eq = v.find('=');
    if (eq == std::string_view::npos) break;
    std::string key = ascii_lower(v.substr(0, eq));
    v.remove_prefix(eq + 1);
    std::string value;
    if (!v.empty() && v.front() == '"') {
      v.remove_prefix(1);
      auto end = v.find('"');
      value = std::string(v.substr(0, end));
      v.remove_prefix(end == std::string_view::npos ? v.size() : end + 1);
    } else {
      auto end = v.find(',');
      value = std::string(v.substr(0, end));
      v.remove_prefix(end == std::string_view::npos ? v.size() : end);
    }
    out[key] = value;
  }
  return out;
}

std::string url_host(std::string_view url) {
  auto s = url.find("://");
  if (s == std::string_view::npos) return "";
  url.remove_prefix(s + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (!url.empty() && url.front() == '[') return std::string(url.substr(1, url.find(']') - 1));
  return std::string(url.substr(0, url.find(':')));
}

std::string form_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == '/') out.push_back(static_cast<char>(c));
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

Result<std::string> gunzip(std::string_view in, uint64_t max) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Error(ErrorKind::Internal, "zlib init failed");
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return Error(ErrorKind::InvalidModule, "the layer is not valid gzip");
    }
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max) {
      inflateEnd(&z);
      return Error(ErrorKind::InvalidModule, fmt::format("the layer unpacks to more than {} bytes", max));
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) break;
  }
  inflateEnd(&z);
  return out;
}

// The module in a tar archive: "plugin.wasm" (hyper-mcp) at any depth, else the only .wasm file.
std::optional<std::string> wasm_from_tar(std::string_view tar) {
  std::optional<std::string> plugin, only;
  size_t wasm_files = 0;
  size_t pos = 0;
  while (pos + 512 <= tar.size()) {
    std::string_view h = tar.substr(pos, 512);
    if (h[0] == '\0') break;
    std::string name(h.substr(0, 100).data(), strnlen(h.data(), 100));
    std::string prefix(h.substr(345, 155).data(), strnlen(h.data() + 345, 155));
    if (!prefix.empty()) name = prefix + "/" + name;
    uint64_t size = 0;
    for (char c : h.substr(124, 12)) {
      if (c < '0' || c > '7') continue;
      size = size * 8 + static_cast<uint64_t>(c - '0');
    }
    char type = h[156];
    pos += 512;
    if (pos + size > tar.size()) return std::nullopt;
    if ((type == '0' || type == '\0') && name.size() > 5 && name.substr(name.size() - 5) == ".wasm") {
      std::string data(tar.substr(pos, size));
      auto base = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
      if (base == "plugin.wasm") plugin = data;
      only = std::move(data);
      ++wasm_files;
    }
    pos += (size + 511) / 512 * 512;
  }
  if (plugin) return plugin;
  if (wasm_files == 1) return only;
  return std::nullopt;
}

}  // namespace

std::string OciReference::host() const {
  if (!registry.empty() && registry.front() == '[') return registry.substr(1, registry.find(']') - 1);
  return registry.substr(0, registry.find(':'));
}

std::string OciReference::to_string() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<OciReference> parse_oci_reference(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error(ErrorKind::InvalidArgument, fmt::format("\"{}\" is not an OCI reference: {} (expected registry/repository:tag or "
                                                         "registry/repository@sha256:...)",
                                                         text.substr(0, 200), why));
  };
  std::string_view s = text;
  if (s.rfind("oci://", 0) == 0) s.remove_prefix(6);
  if (s.size() > 512) return bad("longer than 512 characters");
  OciReference r;
  auto slash = s.find('/');
  if (slash == std::string_view::npos || slash == 0) return bad("no registry host");
  r.registry = std::string(s.substr(0, slash));
  if (r.registry.find('.') == std::string::npos && r.registry.find(':') == std::string::npos && r.registry != "localhost") {
    return bad("the first part must be a registry host (with a '.' or a port)");
  }
  for (char c : r.registry) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']')) return bad("bad registry host");
  }
  std::string_view rest = s.substr(slash + 1);
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    r.digest = std::string(rest.substr(at + 1));
    if (!valid_digest(r.digest)) return bad("the digest must be sha256: and 64 lower-case hex digits");
    rest = rest.substr(0, at);
  }
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
    r.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (r.tag.empty() || r.tag.size() > 128) return bad("empty or long tag");
    for (char c : r.tag) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return bad("bad tag");
    }
  } else if (r.digest.empty()) {
    r.tag = "latest";
  }
  r.repository = std::string(rest);
  if (r.repository.empty()) return bad("no repository");
  for (char c : r.repository) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/')) {
      return bad("the repository must be lower-case letters, digits, '.', '_', '-' and '/'");
    }
  }
  if (r.repository.find("..") != std::string::npos || r.repository.find("//") != std::string::npos || r.repository.front() == '/' ||
      r.repository.back() == '/') {
    return bad("bad repository path");
  }
  return r;
}

Result<std::map<std::string, std::string>> parse_oci_credentials(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Error(ErrorKind::InvalidArgument, "the OCI credentials file is not a JSON object");
  std::map<std::string, std::string> out;
  auto* auths = v.as_object().if_contains("auths");
  if (!auths || !auths->is_object()) return Error(ErrorKind::InvalidArgument, "the OCI credentials file has no \"auths\" object");
  for (const auto& [host, entry] : auths->as_object()) {
    if (!entry.is_object()) continue;
    const auto& o = entry.as_object();
    std::string cred;
    if (auto* a = o.if_contains("auth"); a && a->is_string()) {
      if (!base64_decode(a->as_string(), cred) || cred.find(':') == std::string::npos) {
        return Error(ErrorKind::InvalidArgument, fmt::format("auths.{}.auth is not base64 of user:password", std::string(host)));
      }
    } else if (auto* u = o.if_contains("username"), *p = o.if_contains("password"); u && p && u->is_string() && p->is_string()) {
      cred = fmt::format("{}:{}", std::string(u->as_string()), std::string(p->as_string()));
    } else {
      continue;
    }
    out[std::string(host)] = cred;
  }
  return out;
}

// ---- the client ---------------------------------------------------------------------------------

struct OciClient::Session {
  const OciClient& client;
  OciReference ref;
  std::string base;   // scheme://registry
  std::string auth;   // Authorization header value, once known
  Deadline deadline;

  bool allowed(const std::string& host) const {
    return std::any_of(client.settings_.allowed_registries.begin(), client.settings_.allowed_registries.end(),
                       [&](const std::string& g) { return glob_match(g, host); });
  }

  host::HttpPolicy policy() const {
    host::HttpPolicy p;
    p.allowed_hosts = client.settings_.allowed_registries;
    p.max_response_bytes = client.settings_.max_bytes + (1 << 20);
    return p;
  }

  Result<host::HttpResponse> raw(const std::string& method, const std::string& url, std::vector<std::pair<std::string, std::string>> headers,
                                 const std::string* body) {
    host::HttpRequest req;
    req.url = url;
    req.method = method;
    req.headers = std::move(headers);
    if (body) {
      req.body = *body;
      req.has_body = true;
    }
    auto r = host::http_fetch(req, policy(), deadline);
    // Not reached, timed out, cut: the registry is unavailable (503), not the request wrong.
    if (!r) return Error(ErrorKind::Unavailable, fmt::format("registry {}: {}", ref.registry, r.error().message));
    return r;
  }

  // Fetches a bearer token after a 401 with a Bearer challenge.
  Result<void> authenticate(const host::HttpResponse& challenge) {
    std::string www = header(challenge, "www-authenticate");
    auto cred = client.settings_.credentials.find(ref.registry);
    if (cred == client.settings_.credentials.end()) cred = client.settings_.credentials.find(ref.host());
    if (ascii_lower(www.substr(0, 6)) == "basic ") {
      if (cred == client.settings_.credentials.end()) {
        return Error(ErrorKind::PermissionDenied, fmt::format("registry {} needs credentials (WASIMANCER_OCI_AUTH_FILE)", ref.registry));
      }
      auth = "Basic " + base64_encode(cred->second);
      return {};
    }
    if (ascii_lower(www.substr(0, 7)) != "bearer ") {
      return Error(ErrorKind::PermissionDenied, fmt::format("registry {} refused the request ({})", ref.registry, registry_error(challenge)));
    }
    auto params = challenge_params(www);
    std::string realm = params["realm"];
    if (realm.empty()) return Error(ErrorKind::HostError, fmt::format("registry {}: a Bearer challenge without a realm", ref.registry));
    if (!allowed(url_host(realm))) {
      return Error(ErrorKind::PermissionDenied, fmt::format("registry {} sends tokens from {}, which WASIMANCER_OCI_REGISTRIES does not allow",
                                                            ref.registry, url_host(realm)));
    }
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    if (!params["service"].empty()) url += "service=" + form_escape(params["service"]) + "&";
    if (!params["scope"].empty()) url += "scope=" + form_escape(params["scope"]);
    std::vector<std::pair<std::string, std::string>> h;
    if (cred != client.settings_.credentials.end()) h.emplace_back("Authorization", "Basic " + base64_encode(cred->second));
    auto r = raw("GET", url, h, nullptr);
    if (!r) return r.take_error();
    if (r->status != 200) return Error(ErrorKind::PermissionDenied, fmt::format("token request for {} failed: {}", ref.registry, registry_error(*r)));
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    const json::value* tok = (!ec && v.is_object()) ? v.as_object().if_contains("token") : nullptr;
    if (!tok && !ec && v.is_object()) tok = v.as_object().if_contains("access_token");
    if (!tok || !tok->is_string()) return Error(ErrorKind::HostError, fmt::format("token request for {}: no token in the answer", ref.registry));
    auth = "Bearer " + std::string(tok->as_string());
    return {};
  }

  // A request to the registry (path from /v2/ or a full URL), authenticating once if asked.
  Result<host::HttpResponse> send(const std::string& method, const std::string& path_or_url,
                                  std::vector<std::pair<std::string, std::string>> headers, const std::string* body) {
    std::string url = path_or_url.rfind("http", 0) == 0 ? path_or_url : base + path_or_url;
    if (url.rfind(base, 0) != 0) return Error(ErrorKind::HostError, fmt::format("registry {} sent a location elsewhere: {}", ref.registry, url));
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto h = headers;
      if (!auth.empty()) h.emplace_back("Authorization", auth);
      auto r = raw(method, url, h, body);
      if (!r) return r;
      if (r->status == 401 && attempt == 0 && auth.empty()) {
        if (auto a = authenticate(*r); !a) return a.take_error();
        continue;
      }
      if (r->status == 401) {
        return Error(ErrorKind::PermissionDenied, fmt::format("registry {} refused the credentials ({})", ref.registry, registry_error(*r)));
      }
      return r;
    }
    return Error(ErrorKind::PermissionDenied, fmt::format("registry {} refused the credentials", ref.registry));
  }
};

Result<OciPulled> OciClient::pull(const OciReference& ref) const {
  Session s{*this, ref, "", "", Deadline::after(std::chrono::milliseconds(settings_.timeout_ms))};
  if (!s.allowed(ref.host())) {
    return Error(ErrorKind::PermissionDenied,
                 fmt::format("registry {} is not allowed: list it in WASIMANCER_OCI_REGISTRIES{}", ref.registry,
                             settings_.allowed_registries.empty() ? " (empty: OCI pulls are off)" : ""));
  }
  bool plain = is_loopback_host(ref.host()) ||
               std::any_of(settings_.plain_http.begin(), settings_.plain_http.end(), [&](const std::string& g) { return glob_match(g, ref.host()); });
  s.base = (plain ? "http://" : "https://") + ref.registry;

  std::string accept = fmt::format("{}, {}, {}, {}", kOciManifest, kDockerManifest, kOciIndex, kDockerList);
  std::string want = ref.digest.empty() ? ref.tag : ref.digest;
  std::string manifest_body, manifest_digest;
  json::value manifest;
  for (int depth = 0; depth < 2; ++depth) {
    auto r = s.send("GET", fmt::format("/v2/{}/manifests/{}", ref.repository, want), {{"Accept", accept}}, nullptr);
    if (!r) return r.take_error();
    if (r->status == 404) return Error(ErrorKind::NotFound, fmt::format("{} not found in the registry ({})", ref.to_string(), registry_error(*r)));
    if (r->status != 200) return Error(ErrorKind::HostError, fmt::format("cannot fetch the manifest of {}: {}", ref.to_string(), registry_error(*r)));
    if (r->body.size() > (4 << 20)) return Error(ErrorKind::InvalidModule, "the manifest is larger than 4 MiB");
    manifest_body = std::move(r->body);
    manifest_digest = digest_of(manifest_body);
    if (valid_digest(want) && manifest_digest != want) {
      return Error(ErrorKind::InvalidModule, fmt::format("the manifest of {} has digest {}, not {}", ref.to_string(), manifest_digest, want));
    }
    boost::system::error_code ec;
    manifest = json::parse(manifest_body, ec);
    if (ec || !manifest.is_object()) return Error(ErrorKind::InvalidModule, "the manifest is not a JSON object");
    const auto& o = manifest.as_object();
    auto* mt = o.if_contains("mediaType");
    std::string media = mt && mt->is_string() ? std::string(mt->as_string()) : "";
    auto* manifests = o.if_contains("manifests");
    if (media == kOciIndex || media == kDockerList || (manifests && manifests->is_array())) {
      if (depth == 1 || !manifests || !manifests->is_array() || manifests->as_array().empty()) {
        return Error(ErrorKind::InvalidModule, "the index has no usable manifest");
      }
      const json::value* pick = nullptr;
      for (const auto& m : manifests->as_array()) {
        const json::value* plat = m.is_object() ? m.as_object().if_contains("platform") : nullptr;
        const json::value* arch = plat && plat->is_object() ? plat->as_object().if_contains("architecture") : nullptr;
        if (arch && arch->is_string() && arch->as_string() == "wasm") pick = &m;
      }
      if (!pick && manifests->as_array().size() == 1) pick = &manifests->as_array()[0];
      const json::value* d = pick && pick->is_object() ? pick->as_object().if_contains("digest") : nullptr;
      if (!d || !d->is_string() || !valid_digest(d->as_string())) {
        return Error(ErrorKind::InvalidModule, "the index has no wasm (platform architecture \"wasm\") manifest");
      }
      want = std::string(d->as_string());
      continue;
    }
    break;
  }
  auto* layers = manifest.as_object().if_contains("layers");
  if (!layers || !layers->is_array()) return Error(ErrorKind::InvalidModule, "the manifest has no layers");
  struct Desc {
    std::string media, digest;
    uint64_t size = 0;
  };
  std::vector<Desc> descs;
  for (const auto& l : layers->as_array()) {
    if (!l.is_object()) continue;
    const auto& o = l.as_object();
    auto* mt = o.if_contains("mediaType");
    auto* dg = o.if_contains("digest");
    auto* sz = o.if_contains("size");
    if (!mt || !mt->is_string() || !dg || !dg->is_string() || !valid_digest(dg->as_string()) || !sz || !(sz->is_int64() || sz->is_uint64())) {
      return Error(ErrorKind::InvalidModule, "a layer descriptor lacks a mediaType, a sha256 digest or a size");
    }
    descs.push_back({std::string(mt->as_string()), std::string(dg->as_string()), sz->to_number<uint64_t>()});
  }
  OciPulled out;
  out.manifest_digest = manifest_digest;
  out.resolved = fmt::format("{}/{}@{}", ref.registry, ref.repository, manifest_digest);
  const Desc* wasm = nullptr;
  for (const auto& d : descs) {
    if (d.media == kWasmLayerMediaType || d.media == "application/vnd.wasm.content.layer.v1+wasm" ||
        d.media == "application/vnd.module.wasm.content.layer.v1+wasm") {
      wasm = &d;
      break;
    }
  }
  if (wasm) {
    auto b = blob(ref, wasm->digest, wasm->size);
    if (!b) return b.take_error();
    out.wasm = std::move(*b);
    out.wasm_digest = wasm->digest;
  } else {
    // hyper-mcp's image layout: the last tar layer holding plugin.wasm (later layers win).
    for (auto it = descs.rbegin(); it != descs.rend() && out.wasm.empty(); ++it) {
      bool gz = it->media.find("gzip") != std::string::npos;
      bool tar = it->media.find("tar") != std::string::npos || it->media.find("rootfs.diff") != std::string::npos;
      if (!tar) continue;
      auto b = blob(ref, it->digest, it->size);
      if (!b) return b.take_error();
      std::string data = std::move(*b);
      if (gz) {
        auto u = gunzip(data, settings_.max_bytes);
        if (!u) return u.take_error();
        data = std::move(*u);
      }
      if (auto w = wasm_from_tar(data)) {
        out.wasm = std::move(*w);
        out.wasm_digest = digest_of(out.wasm);
      }
    }
    if (out.wasm.empty()) {
      return Error(ErrorKind::InvalidModule, fmt::format("{} has no wasm layer ({}) and no image layer with plugin.wasm", ref.to_string(),
                                                         kWasmLayerMediaType));
    }
  }
  for (const auto& d : descs) {
    if (d.media != kMinisignMediaType) continue;
    if (d.size > 64 * 1024) return Error(ErrorKind::InvalidModule, "the signature layer is larger than 64 KiB");
    auto b = blob(ref, d.digest, d.size);
    if (!b) return b.take_error();
    out.signature = std::move(*b);
    break;
  }
  return out;
}

Result<std::string> OciClient::blob(const OciReference& ref, const std::string& digest, uint64_t size) const {
  if (size > settings_.max_bytes) {
    return Error(ErrorKind::InvalidModule, fmt::format("the layer {} has {} bytes, more than the limit of {}", digest, size, settings_.max_bytes));
  }
  Session s{*this, ref, "", "", Deadline::after(std::chrono::milliseconds(settings_.timeout_ms))};
  bool plain = is_loopback_host(ref.host()) ||
               std::any_of(settings_.plain_http.begin(), settings_.plain_http.end(), [&](const std::string& g) { return glob_match(g, ref.host()); });
  s.base = (plain ? "http://" : "https://") + ref.registry;
  auto r = s.send("GET", fmt::format("/v2/{}/blobs/{}", ref.repository, digest), {}, nullptr);
  if (!r) return r.take_error();
  if (r->status != 200) return Error(ErrorKind::HostError, fmt::format("cannot fetch blob {}: {}", digest, registry_error(*r)));
  if (r->body.size() != size) {
    return Error(ErrorKind::InvalidModule, fmt::format("blob {} has {} bytes, its descriptor says {}", digest, r->body.size(), size));
  }
  if (digest_of(r->body) != digest) return Error(ErrorKind::InvalidModule, fmt::format("blob {} does not match its digest", digest));
  return std::move(r->body);
}

Result<OciPushed> OciClient::push(const OciReference& ref, const std::string& wasm, const std::optional<std::string>& signature,
                                  const std::string& title) const {
  Session s{*this, ref, "", "", Deadline::after(std::chrono::milliseconds(settings_.timeout_ms))};
  if (!s.allowed(ref.host())) return Error(ErrorKind::PermissionDenied, fmt::format("registry {} is not allowed", ref.registry));
  bool plain = is_loopback_host(ref.host()) ||
               std::any_of(settings_.plain_http.begin(), settings_.plain_http.end(), [&](const std::string& g) { return glob_match(g, ref.host()); });
  s.base = (plain ? "http://" : "https://") + ref.registry;
  auto put_blob = [&](const std::string& data) -> Result<std::string> {
    std::string digest = digest_of(data);
    auto head = s.send("HEAD", fmt::format("/v2/{}/blobs/{}", ref.repository, digest), {}, nullptr);
    if (head && head->status == 200) return digest;
    auto start = s.send("POST", fmt::format("/v2/{}/blobs/uploads/", ref.repository), {{"Content-Length", "0"}}, nullptr);
    if (!start) return start.take_error();
    if (start->status != 202) return Error(ErrorKind::HostError, fmt::format("cannot start a blob upload: {}", registry_error(*start)));
    std::string loc = header(*start, "location");
    if (loc.empty()) return Error(ErrorKind::HostError, "the registry gave no upload location");
    if (loc.rfind("http", 0) != 0) loc = s.base + loc;
    loc += (loc.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + form_escape(digest);
    auto put = s.send("PUT", loc, {{"Content-Type", "application/octet-stream"}}, &data);
    if (!put) return put.take_error();
    if (put->status != 201) return Error(ErrorKind::HostError, fmt::format("cannot upload blob {}: {}", digest, registry_error(*put)));
    return digest;
  };
  json::object config{{"architecture", "wasm"}, {"os", "wasip1"}, {"layerDigests", json::array{digest_of(wasm)}}};
  std::string config_text = json::serialize(config);
  auto cd = put_blob(config_text);
  if (!cd) return cd.take_error();
  auto wd = put_blob(wasm);
  if (!wd) return wd.take_error();
  json::array layers{json::object{{"mediaType", kWasmLayerMediaType},
                                  {"digest", *wd},
                                  {"size", wasm.size()},
                                  {"annotations", json::object{{"org.opencontainers.image.title", title}}}}};
  if (signature) {
    auto sd = put_blob(*signature);
    if (!sd) return sd.take_error();
    layers.push_back(json::object{{"mediaType", kMinisignMediaType},
                                  {"digest", *sd},
                                  {"size", signature->size()},
                                  {"annotations", json::object{{"org.opencontainers.image.title", title + ".minisig"}}}});
  }
  json::object manifest{{"schemaVersion", 2},
                        {"mediaType", kOciManifest},
                        {"artifactType", kWasmConfigMediaType},
                        {"config", json::object{{"mediaType", kWasmConfigMediaType}, {"digest", *cd}, {"size", config_text.size()}}},
                        {"layers", std::move(layers)}};
  std::string body = json::serialize(manifest);
  std::string digest = digest_of(body);
  auto r = s.send("PUT", fmt::format("/v2/{}/manifests/{}", ref.repository, ref.tag.empty() ? digest : ref.tag),
                  {{"Content-Type", std::string(kOciManifest)}}, &body);
  if (!r) return r.take_error();
  if (r->status != 201) return Error(ErrorKind::HostError, fmt::format("cannot put the manifest: {}", registry_error(*r)));
  return OciPushed{digest, fmt::format("{}/{}@{}", ref.registry, ref.repository, digest)};
}

}  // namespace wasimancer::registry
