// mcp/protocol.hpp: protocol versions, negotiation and what each version allows. The one list
// of versions the server speaks; every other place asks here.
//
// Two eras share one endpoint: the stateful one (2024-11-05 .. 2025-11-25: initialize, sessions)
// and the stateless one (2026-07-28: no handshake, every request carries its version and client
// capabilities in _meta). Thread safety: pure functions.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace wasimancer::mcp {

// Newest first.
inline constexpr std::array<std::string_view, 5> kSupportedVersions = {"2026-07-28", "2025-11-25", "2025-06-18",
                                                                       "2025-03-26", "2024-11-05"};
inline constexpr std::string_view kLatestVersion = "2026-07-28";
// The newest version that has an initialize handshake: what initialize negotiates to.
inline constexpr std::string_view kLatestStatefulVersion = "2025-11-25";
// The first stateless version.
inline constexpr std::string_view kFirstStatelessVersion = "2026-07-28";
// What a request without a negotiated version (stateless, no MCP-Protocol-Version) is served as.
inline constexpr std::string_view kDefaultVersion = "2025-03-26";

bool is_supported_version(std::string_view v);
// A supported version of the stateless era (no initialize, per-request _meta).
bool is_stateless_version(std::string_view v);
// The version to answer an initialize with: the client's if it is a supported stateful
// version, else our latest stateful one.
std::string negotiate_version(std::string_view requested);
// "2026-07-28, 2025-11-25, ..." for error messages, and the JSON list for results and errors.
std::string supported_versions_text();
boost::json::array supported_versions_json();

// Fields and behaviours gated on the negotiated version.
struct VersionFeatures {
  bool audio_content;          // 2025-03-26
  bool tool_annotations;       // 2025-03-26
  bool progress_message;       // 2025-03-26
  bool structured_content;     // 2025-06-18: structuredContent, outputSchema
  bool resource_links;         // 2025-06-18
  bool titles;                 // 2025-06-18
  bool elicitation;            // 2025-06-18
  bool completion_context;     // 2025-06-18
  bool icons;                  // 2025-11-25
  bool validation_is_tool_error;  // 2025-11-25: bad arguments are an isError result, not -32602
  bool stateless;              // 2026-07-28: resultType, ttlMs/cacheScope, input_required, no sessions
};
VersionFeatures features_of(std::string_view version);

// _meta keys of the stateless era.
inline constexpr std::string_view kMetaProtocolVersion = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view kMetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view kMetaClientInfo = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view kMetaLogLevel = "io.modelcontextprotocol/logLevel";
inline constexpr std::string_view kMetaServerInfo = "io.modelcontextprotocol/serverInfo";
inline constexpr std::string_view kMetaSubscriptionId = "io.modelcontextprotocol/subscriptionId";
inline constexpr std::string_view kTasksExtension = "io.modelcontextprotocol/tasks";

}  // namespace wasimancer::mcp
