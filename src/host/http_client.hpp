// host/http_client.hpp: the outbound HTTP(S) requests plugins make through http_request.
//
// Policy: the URL's host (without port) must match one of `allowed_hosts` (globs, see
// core/glob.hpp); an empty list denies everything. Even when allowed, a connection to a
// loopback, private, link-local or otherwise non-public address is refused unless a pattern
// other than the bare "*" matched the host, i.e. the plugin's allowedHosts names it explicitly.
// The address check happens on the socket curl actually opens, so DNS tricks cannot bypass it.
// Redirects are followed (at most 5), each hop checked again; a hop to another origin (scheme,
// host, port) goes without the Authorization, Cookie and Proxy-Authorization headers. Proxies from the environment are
// ignored. Only http and https are allowed.
//
// Ownership: requests, policies and responses are plain values. Thread safety: http_fetch is
// safe to call from any thread; it uses its own curl handle.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace wasimancer::host {

struct HttpRequest {
  std::string url;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool has_body = false;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
};

struct HttpPolicy {
  std::vector<std::string> allowed_hosts;
  uint64_t max_response_bytes = 50ull * 1024 * 1024;
};

// Errors: HostError for a denied host or address, a transport failure or an oversized
// response; Timeout when the deadline passes or `cancel` is set.
Result<HttpResponse> http_fetch(const HttpRequest& request, const HttpPolicy& policy, const Deadline& deadline,
                                const std::atomic<bool>* cancel = nullptr);

// Whether a textual IPv4/IPv6 address is loopback, private, link-local, unspecified, CGNAT,
// multicast or broadcast. Exposed for tests.
bool is_non_public_address(const std::string& ip);

}  // namespace wasimancer::host
