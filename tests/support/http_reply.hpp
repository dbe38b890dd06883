// tests/support/http_reply.hpp: what mcp::HttpHandler answered, read as a transport would, for
// the socket-free handler tests. read_reply() waits for the first part (a complete answer or a
// stream's head), then reads a stream to its end, or for `wait` when it stays open (then kept in
// HttpReply::stream for more()). Plain values; a reply owns the stream it keeps. Not thread-safe.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "mcp/http_handler.hpp"

namespace wasimancer::test {

struct HttpReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  std::string body;  // the JSON body, or the SSE text
  bool streamed = false;
  bool aborted = false;  // the stream ended with Abort (its client fell behind)
  std::shared_ptr<mcp::ResponseStream> stream;  // a stream still open after the wait

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        return v;
      }
    }
    return "";
  }
  boost::json::value json() const {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    return ec ? boost::json::value(nullptr) : v;
  }
  // SSE: the JSON messages of the stream, in order.
  std::vector<boost::json::object> events() const {
    std::vector<boost::json::object> out;
    for (size_t pos = 0; (pos = body.find("data: ", pos)) != std::string::npos;) {
      auto end = body.find('\n', pos);
      boost::system::error_code ec;
      auto v = boost::json::parse(body.substr(pos + 6, end - pos - 6), ec);
      if (!ec && v.is_object()) out.push_back(v.as_object());
      pos = end;
    }
    return out;
  }
  // The JSON-RPC messages of the answer, whatever its shape (a body, an array, SSE events).
  std::vector<boost::json::object> messages() const {
    if (streamed) return events();
    std::vector<boost::json::object> out;
    auto v = json();
    if (v.is_array()) {
      for (auto& m : v.as_array()) out.push_back(m.as_object());
    } else if (v.is_object()) {
      out.push_back(v.as_object());
    }
    return out;
  }
  // The JSON-RPC error code of a JSON body (0 when there is none).
  int code() const {
    auto v = json();
    if (!v.is_object()) return 0;
    auto* e = v.as_object().if_contains("error");
    return e ? static_cast<int>(e->at("code").as_int64()) : 0;
  }
  // Reads more of a stream kept open, for `wait`.
  void more(std::chrono::milliseconds wait) {
    mcp::ResponseStream::Part part;
    for (auto until = std::chrono::steady_clock::now() + wait; std::chrono::steady_clock::now() < until;) {
      if (stream->wait_pop(part, std::chrono::milliseconds(20)) && part.kind == mcp::ResponseStream::Part::Chunk) body += part.data;
    }
  }
};

inline HttpReply read_reply(mcp::HttpAnswer a, std::chrono::milliseconds wait, std::chrono::milliseconds first_wait = std::chrono::seconds(20)) {
  using Part = mcp::ResponseStream::Part;
  HttpReply r;
  if (!a.stream) {
    r.status = a.head.status;
    r.headers = a.head.headers;
    r.content_type = a.head.content_type;
    r.body = a.body;
    return r;
  }
  Part part;
  if (!a.stream->wait_pop(part, first_wait)) {
    ADD_FAILURE() << "no answer";
    return r;
  }
  r.status = part.head.status;
  r.headers = part.head.headers;
  r.content_type = part.head.content_type;
  if (part.kind == Part::Complete) {
    r.body = part.data;
    a.stream->finish();
    return r;
  }
  r.streamed = true;
  for (auto until = std::chrono::steady_clock::now() + wait; std::chrono::steady_clock::now() < until;) {
    if (!a.stream->wait_pop(part, std::chrono::milliseconds(20))) continue;
    if (part.kind == Part::End || part.kind == Part::Abort) {
      r.aborted = part.kind == Part::Abort;
      a.stream->finish();
      return r;
    }
    r.body += part.data;
  }
  r.stream = a.stream;  // still open
  return r;
}

}  // namespace wasimancer::test
