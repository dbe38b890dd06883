// transport/http_framing.hpp: the bytes of an HTTP/1.1 response head and of chunked framing,
// written by hand so that a whole SSE answer (head, events, last chunk) leaves in one write.
// The output is byte for byte what Boost.Beast's serializer writes for the same response
// (tests/unit/transport_framing_test.cpp compares them).
//
// Ownership: plain functions on values. Thread safety: none needed.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http.hpp>

namespace wasimancer::transport {

// Start line, fields in order, blank line: what Beast's serializer writes for `h`.
inline void append_head(std::string& out, const boost::beast::http::response_header<>& h) {
  namespace http = boost::beast::http;
  unsigned v = h.version();
  out.append("HTTP/");
  out.push_back(static_cast<char>('0' + v / 10));
  out.push_back('.');
  out.push_back(static_cast<char>('0' + v % 10));
  out.push_back(' ');
  unsigned code = h.result_int();
  char digits[3] = {static_cast<char>('0' + code / 100 % 10), static_cast<char>('0' + code / 10 % 10), static_cast<char>('0' + code % 10)};
  out.append(digits, 3);
  out.push_back(' ');
  auto reason = h.reason();
  if (reason.empty()) reason = http::obsolete_reason(h.result());
  out.append(reason.data(), reason.size());
  out.append("\r\n");
  for (const auto& f : h) {
    auto name = f.name_string();
    auto value = f.value();
    out.append(name.data(), name.size());
    out.append(": ");
    out.append(value.data(), value.size());
    out.append("\r\n");
  }
  out.append("\r\n");
}

// One chunk: its size in lower-case hex, CRLF, the data, CRLF (as beast::http::make_chunk).
inline void append_chunk(std::string& out, std::string_view data) {
  char hex[2 * sizeof(size_t)];
  size_t n = data.size(), len = 0;
  do {
    hex[sizeof(hex) - 1 - len++] = "0123456789abcdef"[n & 0xf];
    n >>= 4;
  } while (n);
  out.append(hex + sizeof(hex) - len, len);
  out.append("\r\n");
  out.append(data.data(), data.size());
  out.append("\r\n");
}

// The last chunk of a chunked body, without trailers (as beast::http::make_chunk_last).
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace wasimancer::transport
