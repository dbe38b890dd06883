// observe/observe_routes.hpp: the routes for the people who run the server (issue 13):
//
//   GET /metrics        Prometheus text exposition (core/metrics.hpp) with the scrape-time
//                       figures (plugins, tiers, instance pools, sessions, registry revision).
//                       Needs the admin token or WASIMANCER_METRICS_TOKEN, unless this is the
//                       separate --metrics-bind listener (open).
//   GET /healthz        alive: 200 {"status":"ok"} (no token)
//   GET /readyz         ready: 200, or 503 with the checks that fail (core/health.hpp; no token)
//   GET /ui[/...]       the dashboard (ui/ in the repository, embedded in the binary), served
//                       with a strict Content-Security-Policy; no token (it holds no secret:
//                       it asks for the admin token and keeps it in memory)
//   GET  /ui/api/catalog   resources and prompts (admin token)
//   POST /ui/api/call      try a tool: {"tool", "arguments"} -> the result and its time (admin)
//   GET  /ui/api/events    the live feed (core/event_feed.hpp) as Server-Sent Events (admin)
//   GET  /observe          this process's observing settings: {"logLevel", "logFormat",
//                          "metrics", "traceExport", "traceSampleRatio"} (admin token)
//   PUT  /observe          changes some of them at run time, until the process ends: any of
//                          {"logLevel": trace|debug|info|warn|error|off, "metrics": bool,
//                          "traceSampleRatio": 0..1 (needs an OTLP endpoint)}. Everything is
//                          checked first: a bad field changes nothing (400). Answers the new
//                          settings; logged (warn), counted and shown on the live feed as an
//                          admin change. With several replicas, each keeps its own.
// The admin token travels in the Authorization header only (403 otherwise, checked before any
// body is read); it is never accepted in a URL.
//
// Ownership: borrows the registry, catalogs, MCP server, worker pool and readiness; they must
// outlive it (and the tasks it posted). Registers /metrics collectors, removed on destruction.
// Thread safety: matches/check/body_limit/stream are const or safe from any thread; handle()
// runs tool calls on the worker pool and calls `done` from there or at once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>

#include "core/health.hpp"
#include "core/worker_pool.hpp"
#include "mcp/server.hpp"
#include "registry/catalog.hpp"
#include "registry/registry.hpp"

namespace wasimancer::observe {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Header = http::request_header<>;

struct ObserveConfig {
  std::string admin_token;
  std::optional<std::string> metrics_token;  // WASIMANCER_METRICS_TOKEN
  bool metrics_open = false;                 // the --metrics-bind listener: /metrics needs no token
  bool metrics_only = false;                 // that listener serves /metrics, /healthz, /readyz only
  bool trace_export = false;                 // an OTLP endpoint is configured (spans can be exported)
};

// The embedded dashboard files: path ("/ui/app.js") -> content.
struct Asset {
  const char* path;
  const char* content_type;
  std::string_view body;
};
const std::vector<Asset>& ui_assets();

// The Content-Security-Policy of the dashboard's pages.
extern const char* const kDashboardCsp;

class ObserveRoutes {
 public:
  ObserveRoutes(registry::Registry& plugins, registry::ResourceCatalog& resources, registry::PromptCatalog& prompts,
                mcp::Server& mcp, WorkerPool& workers, health::Readiness& readiness, ObserveConfig config);
  ~ObserveRoutes();
  ObserveRoutes(const ObserveRoutes&) = delete;
  ObserveRoutes& operator=(const ObserveRoutes&) = delete;

  bool matches(const Header& header) const;
  std::optional<Response> check(const Header& header) const;
  uint64_t body_limit(const Header& header) const;
  void handle(Request request, std::function<void(Response)> done);
  // The live feed: non-null for GET /ui/api/events (after check() passed). The starter gets a
  // push function and returns the function that stops the subscription.
  using PushChunk = std::function<bool(std::string)>;
  std::function<std::function<void()>(PushChunk)> stream(const Request& request) const;

 private:
  bool admin_authorized(const Header& header) const;
  Response metrics(const Request& req) const;
  Response readyz(const Request& req) const;
  Response asset(const Request& req) const;
  Response catalog(const Request& req) const;
  void call_tool(const Request& req, std::function<void(Response)> done);
  Response settings() const;
  Response change_settings(const Request& req) const;

  registry::Registry& plugins_;
  registry::ResourceCatalog& resources_;
  registry::PromptCatalog& prompts_;
  mcp::Server& mcp_;
  WorkerPool& workers_;
  health::Readiness& readiness_;
  ObserveConfig config_;
  std::vector<uint64_t> collectors_;
};

}  // namespace wasimancer::observe
