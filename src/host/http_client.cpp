#include "host/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

#include <curl/curl.h>
#include <fmt/format.h>

#include "core/glob.hpp"
#include "core/text.hpp"

namespace wasimancer::host {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool v4_non_public(uint32_t a) {  // host byte order
  auto in = [a](uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
  return in(0x00000000, 8) ||    // 0.0.0.0/8
         in(0x0a000000, 8) ||    // 10/8
         in(0x64400000, 10) ||   // 100.64/10 (CGNAT)
         in(0x7f000000, 8) ||    // 127/8
         in(0xa9fe0000, 16) ||   // 169.254/16 (link-local, cloud metadata)
         in(0xac100000, 12) ||   // 172.16/12
         in(0xc0000000, 24) ||   // 192.0.0/24
         in(0xc0a80000, 16) ||   // 192.168/16
         in(0xc6120000, 15) ||   // 198.18/15 (benchmarking)
         in(0xe0000000, 4) ||    // multicast
         in(0xf0000000, 4);      // reserved + broadcast
}

bool v6_non_public(const in6_addr& a) {
  const uint8_t* b = a.s6_addr;
  static const uint8_t zero[16] = {};
  if (std::memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1)) return true;  // :: and ::1
  if ((b[0] & 0xfe) == 0xfc) return true;                                        // fc00::/7 ULA
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;                        // fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;                        // fec0::/10 site-local
  if (b[0] == 0xff) return true;                                                 // multicast
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, mapped, 12) == 0 || std::memcmp(b, zero, 12) == 0) {       // v4-mapped/compat
    uint32_t v4 = (uint32_t(b[12]) << 24) | (uint32_t(b[13]) << 16) | (uint32_t(b[14]) << 8) | b[15];
    return v4_non_public(v4);
  }
  if (b[0] == 0x20 && b[1] == 0x02) {  // 6to4 embeds an IPv4 address
    uint32_t v4 = (uint32_t(b[2]) << 24) | (uint32_t(b[3]) << 16) | (uint32_t(b[4]) << 8) | b[5];
    return v4_non_public(v4);
  }
  return false;
}

struct Transfer {
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t max_bytes = 0;
  bool too_large = false;
  bool private_ok = false;
  std::string denied_address;  // set when the socket check refused an address
  const Deadline* deadline = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  bool cancelled = false;
};

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  if (t->body.size() + len > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->body.append(p, len);
  return len;
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  std::string_view line(p, len);
  if (line.rfind("HTTP/", 0) == 0) {
    t->headers.clear();  // a new response (after a 100 Continue or a redirect)
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name = ascii_lower(line.substr(0, colon));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  for (auto& h : t->headers) {
    if (h.first == name) {
      h.second = std::string(value);
      return len;
    }
  }
  t->headers.emplace_back(std::move(name), std::string(value));
  return len;
}

curl_socket_t on_open_socket(void* ud, curlsocktype purpose, curl_sockaddr* addr) {
  auto* t = static_cast<Transfer*>(ud);
  if (!t->private_ok) {
    char buf[INET6_ADDRSTRLEN] = {};
    bool bad = false;
    if (addr->family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&addr->addr);
      bad = v4_non_public(ntohl(sin->sin_addr.s_addr));
      inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    } else if (addr->family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&addr->addr);
      bad = v6_non_public(sin6->sin6_addr);
      inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
    } else {
      bad = true;
    }
    if (bad) {
      t->denied_address = buf;
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(ud);
  if ((t->cancel && t->cancel->load(std::memory_order_relaxed)) || t->deadline->expired()) {
    t->cancelled = true;
    return 1;
  }
  return 0;
}

struct Target {
  std::string host;
  std::string origin;  // scheme://host:port, lower-cased, the port always given
  bool ok = false;
  std::string error;
};

Target parse_target(const std::string& url) {
  Target t;
  CURLU* u = curl_url();
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    curl_url_cleanup(u);
    t.error = "malformed URL";
    return t;
  }
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  curl_url_get(u, CURLUPART_HOST, &host, 0);
  curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
  std::string s = ascii_lower(scheme ? scheme : "");
  t.host = host ? host : "";
  t.origin = fmt::format("{}://{}:{}", s, ascii_lower(t.host), port ? port : "");
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  if (s != "http" && s != "https") {
    t.error = fmt::format("unsupported URL scheme \"{}\" (only http and https)", s);
    return t;
  }
  if (t.host.empty()) {
    t.error = "URL has no host";
    return t;
  }
  t.ok = true;
  return t;
}

}  // namespace

bool is_non_public_address(const std::string& ip) {
  in_addr v4;
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) return v4_non_public(ntohl(v4.s_addr));
  in6_addr v6;
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) return v6_non_public(v6);
  return false;
}

Result<HttpResponse> http_fetch(const HttpRequest& request, const HttpPolicy& policy, const Deadline& deadline,
                                const std::atomic<bool>* cancel) {
  global_init();
  std::string url = request.url;
  std::string method = request.method.empty() ? "GET" : request.method;
  std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::toupper(c); });
  bool send_body = request.has_body;
  auto headers = request.headers;
  std::string origin;  // of the first request: credentials go to it only

  for (int hop = 0;; ++hop) {
    Target target = parse_target(url);
    if (!target.ok) {
      return Error(ErrorKind::HostError, fmt::format("HTTP request to {} is not allowed: {}", url, target.error));
    }
    if (hop == 0) {
      origin = target.origin;
    } else if (target.origin != origin) {
      // A redirect to another origin (a registry's blob store, a login page) does not carry the
      // credentials meant for the first one, as browsers and curl do.
      std::erase_if(headers, [](const auto& kv) {
        std::string k = ascii_lower(kv.first);
        return k == "authorization" || k == "cookie" || k == "proxy-authorization";
      });
    }
    // Any matching pattern allows the host; only a pattern without wildcards that names it
    // exactly grants a loopback, private or link-local address ("*.*", "127.*", "local*" or
    // "*.localhost" do not: they were written to allow many hosts, not to open the inside).
    bool allowed = false, named = false;
    for (const auto& pattern : policy.allowed_hosts) {
      if (glob_match(pattern, target.host)) {
        allowed = true;
        if (!has_glob_wildcards(pattern)) named = true;
      }
    }
    if (!allowed) return Error(ErrorKind::HostError, fmt::format("HTTP request to {} is not allowed", url));
    if (deadline.expired() || (cancel && cancel->load())) {
      return Error(ErrorKind::Timeout, fmt::format("timeout: no time left for the HTTP request to {}", url));
    }

    Transfer t;
    t.max_bytes = policy.max_response_bytes;
    t.private_ok = named;
    t.deadline = &deadline;
    t.cancel = cancel;

    CURL* c = curl_easy_init();
    if (!c) return Error(ErrorKind::HostError, "cannot create an HTTP client");
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    long ms = static_cast<long>(std::max<int64_t>(1, deadline.remaining().count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wasimancer");
    if (method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (method != "GET" || send_body) {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    if (send_body) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
    curl_slist* hdrs = nullptr;
    bool has_content_type = false;
    for (const auto& [k, v] : headers) {
      if (k.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) continue;
      if (ascii_lower(k) == "content-type") has_content_type = true;
      hdrs = curl_slist_append(hdrs, (v.empty() ? k + ";" : k + ": " + v).c_str());
    }
    if (send_body && !has_content_type) hdrs = curl_slist_append(hdrs, "Content-Type:");  // no form default
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    char* redirect = nullptr;
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redirect);
    std::string next = redirect ? redirect : "";
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);

    if (rc != CURLE_OK) {
      if (t.too_large) {
        return Error(ErrorKind::HostError, fmt::format("HTTP response exceeds the configured maximum number of bytes: {}",
                                                       policy.max_response_bytes));
      }
      if (!t.denied_address.empty()) {
        return Error(ErrorKind::HostError,
                     fmt::format("HTTP request to {} is not allowed: {} is a loopback, private or link-local address; "
                                 "name the host \"{}\" in the plugin's allowedHosts to allow it",
                                 url, t.denied_address, target.host));
      }
      if (t.cancelled || rc == CURLE_OPERATION_TIMEDOUT) {
        return Error(ErrorKind::Timeout, fmt::format("timeout: the HTTP request to {} did not finish in time", url));
      }
      return Error(ErrorKind::HostError, fmt::format("HTTP request to {} failed: {}", url,
                                                     errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    }
    bool is_redirect = (status == 301 || status == 302 || status == 303 || status == 307 || status == 308);
    if (is_redirect && !next.empty() && hop < 5) {
      if (status == 303 || ((status == 301 || status == 302) && method == "POST")) {
        method = "GET";
        send_body = false;
      }
      url = next;
      continue;
    }
    HttpResponse resp;
    resp.status = static_cast<int>(status);
    resp.headers = std::move(t.headers);
    resp.body = std::move(t.body);
    return resp;
  }
}

}  // namespace wasimancer::host
