// mcp/schema.hpp: the subset of JSON Schema that tool inputs and outputs use.
//
// Supports type (one or a list), properties, required, additionalProperties (bool or schema),
// items, enum, const, minimum/maximum, minLength/maxLength, minItems/maxItems. Unknown keywords
// are ignored. Thread safety: pure function.
#pragma once

#include <optional>
#include <string>

#include <boost/json.hpp>

namespace wasimancer::mcp {

// nullopt when `value` conforms; otherwise what is wrong and where ("numFaces: expected number").
std::optional<std::string> validate_schema(const boost::json::value& schema, const boost::json::value& value,
                                           const std::string& path = "");

}  // namespace wasimancer::mcp
