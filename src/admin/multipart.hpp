// admin/multipart.hpp: multipart/form-data bodies (RFC 7578), as curl -F sends them.
//
// Thread safety: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace wasimancer::admin {

struct FormPart {
  std::string name;
  std::string filename;  // empty for plain fields
  std::string content_type;
  std::string data;
};

// `content_type` is the request's Content-Type header (it carries the boundary).
Result<std::vector<FormPart>> parse_multipart(std::string_view content_type, std::string_view body);

}  // namespace wasimancer::admin
