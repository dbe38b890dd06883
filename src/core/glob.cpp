#include "core/glob.hpp"

#include <vector>

namespace wasimancer {

namespace {

// Returns the index just past a well-formed class starting at p[i] == '[', or npos.
size_t class_end(std::string_view p, size_t i) {
  size_t j = i + 1;
  if (j < p.size() && (p[j] == '!' || p[j] == '^')) ++j;
  if (j < p.size() && p[j] == ']') ++j;  // a leading ']' is literal
  while (j < p.size() && p[j] != ']') ++j;
  return j < p.size() ? j + 1 : std::string_view::npos;
}

bool class_matches(std::string_view cls, char c) {
  // cls is the text between '[' and ']'.
  bool negate = false;
  size_t i = 0;
  if (i < cls.size() && (cls[i] == '!' || cls[i] == '^')) { negate = true; ++i; }
  bool hit = false;
  while (i < cls.size()) {
    char lo = cls[i];
    if (i + 2 < cls.size() && cls[i + 1] == '-') {
      char hi = cls[i + 2];
      if (lo <= c && c <= hi) hit = true;
      i += 3;
    } else {
      if (lo == c) hit = true;
      ++i;
    }
  }
  return hit != negate;
}

bool well_formed(std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '[') {
      size_t e = class_end(p, i);
      if (e == std::string_view::npos) return false;
      i = e - 1;
    }
  }
  return true;
}

}  // namespace

bool has_glob_wildcards(std::string_view p) { return p.find_first_of("*?[") != std::string_view::npos; }

bool glob_match(std::string_view p, std::string_view t) {
  if (!well_formed(p)) return p == t;
  // Iterative matcher with single-star backtracking (sufficient: `*` is greedy over everything).
  size_t pi = 0, ti = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size()) {
      char c = p[pi];
      if (c == '*') {
        star_p = pi++;
        star_t = ti;
        continue;
      }
      if (c == '?') { ++pi; ++ti; continue; }
      if (c == '[') {
        size_t e = class_end(p, pi);
        if (class_matches(p.substr(pi + 1, e - pi - 2), t[ti])) { pi = e; ++ti; continue; }
      } else if (c == t[ti]) {
        ++pi; ++ti; continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p + 1;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace wasimancer
