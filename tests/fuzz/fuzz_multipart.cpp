// libFuzzer target: the admin API's multipart/form-data parser (admin/multipart.hpp).
// Input: the Content-Type header value, a newline, then the body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "admin/multipart.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view content_type = nl == std::string_view::npos ? in : in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  auto parts = wasimancer::admin::parse_multipart(content_type, body);
  if (parts) {
    // Every part's data lies within the body.
    size_t total = 0;
    for (const auto& p : *parts) total += p.data.size();
    if (total > body.size()) __builtin_trap();
  }
  return 0;
}
