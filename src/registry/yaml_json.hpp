// registry/yaml_json.hpp: YAML documents as JSON values, and back.
//
// The YAML files (plugins.yml, resources.yml, prompts.yml) are read into boost::json values, so
// the same code validates a YAML entry and a JSON body from the admin API, and unknown keys
// survive a rewrite. Plain scalars are resolved with YAML 1.2's core schema (true/false, null,
// ints, floats); quoted scalars stay strings. Writing quotes every string that would otherwise
// read back as another type. Comments are not kept.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "core/error.hpp"

namespace wasimancer::registry {

// Parses YAML text; errors carry the line and column. An empty document is null.
Result<boost::json::value> parse_yaml(std::string_view text);
std::string to_yaml(const boost::json::value& v);

}  // namespace wasimancer::registry
