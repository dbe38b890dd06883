#include "mcp/protocol.hpp"

namespace wasimancer::mcp {

bool is_supported_version(std::string_view v) {
  for (auto s : kSupportedVersions) {
    if (s == v) return true;
  }
  return false;
}

// Version strings are ISO dates, so they order as strings.
bool is_stateless_version(std::string_view v) { return is_supported_version(v) && v >= kFirstStatelessVersion; }

std::string negotiate_version(std::string_view requested) {
  bool usable = is_supported_version(requested) && !is_stateless_version(requested);
  return std::string(usable ? requested : kLatestStatefulVersion);
}

std::string supported_versions_text() {
  std::string out;
  for (auto v : kSupportedVersions) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

boost::json::array supported_versions_json() {
  boost::json::array a;
  for (auto v : kSupportedVersions) a.emplace_back(v);
  return a;
}

VersionFeatures features_of(std::string_view v) {
  VersionFeatures f{};
  f.audio_content = f.tool_annotations = f.progress_message = v >= "2025-03-26";
  f.structured_content = f.resource_links = f.titles = f.elicitation = f.completion_context = v >= "2025-06-18";
  f.icons = f.validation_is_tool_error = v >= "2025-11-25";
  f.stateless = v >= kFirstStatelessVersion;
  return f;
}

}  // namespace wasimancer::mcp
