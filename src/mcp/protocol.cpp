#include "mcp/protocol.hpp"

namespace wasimancer::mcp {

bool is_supported_version(std::string_view v) {
  for (auto s : kSupportedVersions) {
    if (s == v) return true;
  }
  return false;
}

std::string negotiate_version(std::string_view requested) {
  return std::string(is_supported_version(requested) ? requested : kLatestVersion);
}

VersionFeatures features_of(std::string_view v) {
  // Version strings are ISO dates, so they order as strings.
  VersionFeatures f{};
  f.audio_content = f.tool_annotations = f.progress_message = v >= "2025-03-26";
  f.structured_content = f.resource_links = f.titles = f.elicitation = f.completion_context = v >= "2025-06-18";
  f.icons = f.validation_is_tool_error = v >= "2025-11-25";
  return f;
}

}  // namespace wasimancer::mcp
