#include "mcp/auth.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "core/thread_name.hpp"
#include "host/http_client.hpp"

namespace wasimancer::mcp {

namespace {

struct Url {
  std::string scheme, host, authority, path;  // authority = host[:port]; path "" or "/..."
};

std::optional<Url> parse_url(std::string_view s) {
  Url u;
  auto sep = s.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  u.scheme = ascii_lower(s.substr(0, sep));
  std::string_view rest = s.substr(sep + 3);
  auto slash = rest.find_first_of("/?#");
  u.authority = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    std::string_view p = rest.substr(slash);
    if (p.find_first_of("?#") != std::string_view::npos) return std::nullopt;  // no query/fragment
    u.path = std::string(p);
  }
  if (u.authority.empty() || u.authority.find('@') != std::string::npos) return std::nullopt;
  if (u.authority.front() == '[') {
    auto end = u.authority.find(']');
    if (end == std::string::npos) return std::nullopt;
    u.host = u.authority.substr(1, end - 1);
  } else {
    u.host = u.authority.substr(0, u.authority.find(':'));
  }
  u.host = ascii_lower(u.host);
  if (u.host.empty()) return std::nullopt;
  return u;
}

bool loopback_host(const std::string& h) {
  return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0 ||
         (h.size() > 10 && h.compare(h.size() - 10, 10, ".localhost") == 0);
}

// The Host header as it may appear in a URL and a quoted header parameter: host name, IP
// literal and port characters only.
std::string safe_host(std::string_view host) {
  std::string out;
  for (char c : host) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') out.push_back(c);
  }
  return out.empty() ? std::string("localhost") : out;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string quote_param(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') continue;
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out.push_back(c);
  }
  return out;
}

Result<std::string> http_get(const std::string& url, std::chrono::seconds timeout, const std::atomic<bool>* cancel) {
  auto u = parse_url(url);
  if (!u || (u->scheme != "https" && !(u->scheme == "http" && loopback_host(u->host)))) {
    return Error(ErrorKind::InvalidArgument, fmt::format("{} is not an https URL (http only on a loopback host)", url));
  }
  host::HttpRequest req;
  req.url = url;
  req.headers.emplace_back("Accept", "application/json");
  host::HttpPolicy policy;
  // The authorization server's own host, named explicitly (so a loopback or intranet issuer works).
  policy.allowed_hosts = {u->host};
  policy.max_response_bytes = 1 << 20;
  auto r = host::http_fetch(req, policy, Deadline::after(timeout), cancel);
  if (!r) return r.take_error();
  if (r->status < 200 || r->status > 299) return Error(ErrorKind::Io, fmt::format("GET {} answered {}", url, r->status));
  return std::move(r->body);
}

std::optional<json::object> parse_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

}  // namespace

Result<void> validate_oauth_settings(const OAuthSettings& s) {
  auto iss = parse_url(s.issuer);
  if (!iss || (iss->scheme != "https" && !(iss->scheme == "http" && loopback_host(iss->host)))) {
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("the OAuth issuer \"{}\" is not an https URL (http is accepted only on a loopback host)", s.issuer));
  }
  if (!s.resource.empty()) {
    auto r = parse_url(s.resource);
    if (!r || (r->scheme != "https" && r->scheme != "http")) {
      return Error(ErrorKind::InvalidArgument, fmt::format("the OAuth resource \"{}\" is not an absolute http(s) URL without query or fragment", s.resource));
    }
  }
  if (!s.jwks_uri.empty() && !parse_url(s.jwks_uri)) {
    return Error(ErrorKind::InvalidArgument, fmt::format("the JWKS URI \"{}\" is not a URL", s.jwks_uri));
  }
  return {};
}

OAuthResource::OAuthResource(OAuthSettings settings, FetchFn fetch) : settings_(std::move(settings)), fetch_(std::move(fetch)) {
  if (!fetch_) {
    auto timeout = settings_.fetch_timeout;
    fetch_ = [timeout, this](const std::string& url) { return http_get(url, timeout, &stopping_); };
  }
  jwks_uri_ = settings_.jwks_uri;
  thread_ = named_thread("wm-oauth", [this] { refresher(); });
}

OAuthResource::~OAuthResource() {
  stopping_ = true;  // a fetch under way ends now
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::shared_ptr<const JwkSet>> OAuthResource::load_keys() {
  if (jwks_uri_.empty()) {
    // RFC 8414 §3.1 (well-known segment inserted before the issuer's path), then OpenID
    // Connect Discovery (appended).
    auto iss = parse_url(settings_.issuer);
    std::string path = iss ? iss->path : "";
    if (!path.empty() && path.back() == '/') path.pop_back();
    std::vector<std::string> candidates = {
        fmt::format("{}://{}/.well-known/oauth-authorization-server{}", iss ? iss->scheme : "https", iss ? iss->authority : "", path),
        fmt::format("{}{}/.well-known/openid-configuration", settings_.issuer.back() == '/' ? settings_.issuer.substr(0, settings_.issuer.size() - 1) : settings_.issuer, ""),
    };
    std::string problems;
    for (const auto& url : candidates) {
      auto body = fetch_(url);
      if (!body) {
        problems += fmt::format("{}{}", problems.empty() ? "" : "; ", body.error().message);
        continue;
      }
      auto doc = parse_object(*body);
      if (!doc) {
        problems += fmt::format("{}{}: not a JSON object", problems.empty() ? "" : "; ", url);
        continue;
      }
      const json::value* issuer = doc->if_contains("issuer");
      if (!issuer || !issuer->is_string() || issuer->as_string() != settings_.issuer) {
        return Error(ErrorKind::InvalidArgument, fmt::format("{} names another issuer than {} (RFC 8414 §3.3)", url, settings_.issuer));
      }
      const json::value* jwks = doc->if_contains("jwks_uri");
      if (!jwks || !jwks->is_string()) return Error(ErrorKind::InvalidArgument, fmt::format("{} has no jwks_uri", url));
      jwks_uri_ = std::string(jwks->as_string());
      break;
    }
    if (jwks_uri_.empty()) return Error(ErrorKind::Io, fmt::format("no authorization server metadata for {}: {}", settings_.issuer, problems));
  }
  auto body = fetch_(jwks_uri_);
  if (!body) return body.take_error();
  auto set = JwkSet::parse(*body);
  if (!set) return Error(ErrorKind::InvalidArgument, fmt::format("{}: {}", jwks_uri_, set.error().message));
  return std::make_shared<const JwkSet>(std::move(*set));
}

void OAuthResource::refresher() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wanted_ = false;
    fetching_ = true;
    last_attempt_ = std::chrono::steady_clock::now();
    lock.unlock();
    auto r = load_keys();
    lock.lock();
    fetching_ = false;
    std::chrono::seconds next = settings_.refresh;
    if (r) {
      if (!keys_ || last_error_.size()) log().info("OAuth: {} signing key(s) loaded for issuer {}", (*r)->size(), settings_.issuer);
      keys_ = std::move(*r);
      last_error_.clear();
    } else {
      if (last_error_ != r.error().message) log().warn("OAuth: cannot load the issuer's keys: {}", r.error().message);
      last_error_ = r.error().message;
      next = std::min<std::chrono::seconds>(settings_.refresh, std::chrono::seconds(10));
    }
    ++generation_;
    cv_.notify_all();
    cv_.wait_for(lock, next, [this] { return stop_ || wanted_; });
  }
}

std::shared_ptr<const JwkSet> OAuthResource::keys() const {
  std::lock_guard lock(mu_);
  return keys_;
}

bool OAuthResource::wait_for_keys(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return keys_ != nullptr; });
}

std::optional<uint64_t> OAuthResource::keys_pending(std::string_view authorization) const {
  std::string_view a = trim_ows(authorization);
  if (!ascii_istarts_with(a, "bearer ")) return std::nullopt;
  auto ref = jwt_key_ref(trim_ows(a.substr(7)));  // only a well-formed token can ask for a fetch
  if (!ref) return std::nullopt;
  std::lock_guard lock(mu_);
  if (keys_ && keys_->find(ref->kid, ref->alg)) return std::nullopt;
  // The issuer may have rotated its keys (or the first fetch has not succeeded yet). A fetch under
  // way counts, even one that began before the rotation: the caller checks once afterwards.
  if (fetching_ || wanted_) return generation_ + 1;
  if (std::chrono::steady_clock::now() - last_attempt_ < settings_.min_refetch) return std::nullopt;
  wanted_ = true;
  cv_.notify_all();
  return generation_ + 1;
}

uint64_t OAuthResource::key_generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

bool OAuthResource::wait_for_key_generation(uint64_t generation, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return stop_ || generation_ >= generation; });
}

std::string OAuthResource::resource_for(std::string_view host) const {
  if (!settings_.resource.empty()) return settings_.resource;
  return fmt::format("http://{}/mcp", safe_host(host));
}

std::string OAuthResource::metadata_url(std::string_view host) const {
  auto u = parse_url(resource_for(host));
  if (!u) return "";
  std::string path = u->path == "/" ? "" : u->path;
  return fmt::format("{}://{}{}{}", u->scheme, u->authority, kMetadataPath, path);
}

std::optional<std::string> OAuthResource::metadata_document(std::string_view path, std::string_view host) const {
  if (path.substr(0, kMetadataPath.size()) != kMetadataPath) return std::nullopt;
  std::string_view rest = path.substr(kMetadataPath.size());
  std::string resource = resource_for(host);
  auto u = parse_url(resource);
  if (!rest.empty() && rest != "/" && (!u || rest != u->path)) return std::nullopt;
  json::array scopes;
  for (const auto& s : settings_.scopes_supported) scopes.emplace_back(s);
  return json::serialize(json::object{
      {"resource", resource},
      {"authorization_servers", json::array{json::value(settings_.issuer)}},
      {"scopes_supported", std::move(scopes)},
      {"bearer_methods_supported", json::array{"header"}},
      {"resource_name", settings_.resource_name},
  });
}

std::string OAuthResource::www_authenticate(const Decision& d, std::string_view scope, std::string_view host) const {
  std::string v = fmt::format("Bearer resource_metadata=\"{}\", scope=\"{}\"", quote_param(metadata_url(host)), quote_param(scope));
  if (d.kind == Decision::Kind::InvalidToken) v += fmt::format(", error=\"invalid_token\", error_description=\"{}\"", quote_param(d.description));
  if (d.kind == Decision::Kind::InsufficientScope) {
    v += fmt::format(", error=\"insufficient_scope\", error_description=\"{}\"", quote_param(d.description));
  }
  return v;
}

OAuthResource::Decision OAuthResource::check(std::string_view authorization, std::string_view scope, std::string_view host) const {
  Decision d;
  std::string_view a = trim_ows(authorization);
  if (a.empty()) {
    d.kind = Decision::Kind::NoToken;
    d.description = fmt::format("a bearer token is required: an OAuth access token with scope {} (see resource_metadata)", scope);
    return d;
  }
  if (!ascii_istarts_with(a, "bearer ")) {
    d.kind = Decision::Kind::InvalidToken;
    d.description = "the Authorization header must be Bearer <token>";
    return d;
  }
  std::string_view token = trim_ows(a.substr(7));
  JwtExpectations expect;
  expect.issuer = settings_.issuer;
  expect.audiences = {resource_for(host)};
  expect.now = static_cast<int64_t>(std::time(nullptr));
  expect.leeway = settings_.leeway.count();

  auto set = keys();
  if (!set) {
    d.kind = Decision::Kind::InvalidToken;
    d.description = "the authorization server's keys are not available yet";
    return d;
  }
  JwtCheck c = check_access_token(token, *set, expect);
  if (!c.valid()) {
    d.kind = Decision::Kind::InvalidToken;
    d.description = c.reason;
    log().debug("OAuth: token refused: {}", c.reason);
    return d;
  }
  bool has_scope = false;
  for (const auto& s : c.scopes) has_scope |= (s == scope);
  if (!has_scope) {
    d.kind = Decision::Kind::InsufficientScope;
    d.description = fmt::format("the token does not grant the scope {}", scope);
    return d;
  }
  d.kind = Decision::Kind::Allowed;
  if (const json::value* sub = c.claims.if_contains("sub"); sub && sub->is_string()) d.subject = std::string(sub->as_string());
  return d;
}

}  // namespace wasimancer::mcp
