// core/glob.hpp: shell-style glob matching as Extism applies it to allowed hosts.
//
// `*` matches any run of characters (dots included), `?` one character, `[abc]`, `[a-z]` and
// `[!a-z]` a class. Matching is case-sensitive. A pattern that cannot be parsed (an unclosed
// `[`) matches only the identical string, as Rust's glob crate does for Extism.
// Thread safety: pure functions.
#pragma once

#include <string_view>

namespace wasimancer {

bool glob_match(std::string_view pattern, std::string_view text);

// Whether `pattern` has a wildcard or class (`*`, `?`, `[`), i.e. may match more than one text.
bool has_glob_wildcards(std::string_view pattern);

}  // namespace wasimancer
