// registry/names.hpp: the one rule every name given to the server follows (plugins, tools,
// resources, prompts), wherever it comes from: the admin API (bodies and URLs) or the YAML files.
//
// A name is a string of 1 to kMaxNameLength characters (Unicode code points) of valid UTF-8,
// without control characters (U+0000-U+001F, U+007F-U+009F) and without '/'. Short enough to fit
// in a DELETE URL, printable in a log line, and never a path.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "core/error.hpp"

namespace wasimancer::registry {

inline constexpr size_t kMaxNameLength = 128;

// The rule, as error messages state it.
std::string name_rule();

// Why `name` breaks the rule ("is empty", "is longer than 128 characters", ...), or nullopt.
std::optional<std::string> name_problem(std::string_view name);

// InvalidArgument "<what> name <problem>: <rule>" if `name` breaks the rule. `what` is "plugin",
// "tool", "resource" or "prompt".
Result<void> check_name(std::string_view what, std::string_view name);

// The name for messages: at most 64 characters, control characters escaped (a name that breaks
// the rule may be anything).
std::string printable_name(std::string_view name);

// A JSON value used as a name: a string; numbers and booleans are refused ("must be a string",
// with what they would have meant) so that what is stored is what later requests name.
Result<std::string> name_from_json(std::string_view what, const boost::json::value* v);

}  // namespace wasimancer::registry
