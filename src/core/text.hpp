// core/text.hpp: small text helpers shared by the layers (ASCII case, URL percent-decoding, JSON
// string literals).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace wasimancer {

std::string ascii_lower(std::string_view s);
// Equal ignoring ASCII case, without allocating (header names, auth schemes).
bool ascii_iequals(std::string_view a, std::string_view b);
// Whether `s` starts with `prefix`, ignoring ASCII case.
bool ascii_istarts_with(std::string_view s, std::string_view prefix);

// Decodes %XX escapes (malformed ones are kept as they are); with `plus_is_space`, '+' becomes
// ' ' as in query strings.
std::string percent_decode(std::string_view s, bool plus_is_space = false);

// Appends `s` as a JSON string literal (with its quotes) to `out`; control characters are
// escaped, invalid UTF-8 bytes become U+FFFD.
void append_json_string(std::string& out, std::string_view s);
// Decodes the UTF-8 sequence at s[i]: its length (0 if it is not valid UTF-8: truncated, an
// overlong form, a surrogate, above U+10FFFF) and, through *cp, the code point.
size_t decode_utf8(std::string_view s, size_t i, char32_t* cp);
bool is_valid_utf8(std::string_view s);

}  // namespace wasimancer
