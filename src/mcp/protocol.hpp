// mcp/protocol.hpp: protocol versions, negotiation and what each version allows.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace wasimancer::mcp {

inline constexpr std::array<std::string_view, 4> kSupportedVersions = {"2025-11-25", "2025-06-18", "2025-03-26",
                                                                       "2024-11-05"};
inline constexpr std::string_view kLatestVersion = "2025-11-25";
// What a request without a negotiated version (stateless, no MCP-Protocol-Version) is served as.
inline constexpr std::string_view kDefaultVersion = "2025-03-26";

bool is_supported_version(std::string_view v);
// The version to answer an initialize with: the client's if supported, else our latest.
std::string negotiate_version(std::string_view requested);

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
};
VersionFeatures features_of(std::string_view version);

}  // namespace wasimancer::mcp
