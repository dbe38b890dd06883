// core/text.hpp: small text helpers shared by the layers (ASCII case, URL percent-decoding).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace wasimancer {

std::string ascii_lower(std::string_view s);

// Decodes %XX escapes (malformed ones are kept as they are); with `plus_is_space`, '+' becomes
// ' ' as in query strings.
std::string percent_decode(std::string_view s, bool plus_is_space = false);

}  // namespace wasimancer
