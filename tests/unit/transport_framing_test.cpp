// transport/http_framing.hpp writes response heads and chunks by hand (one write per SSE
// answer); they must be byte for byte what Boost.Beast's serializer writes.
#include <gtest/gtest.h>

#include <boost/asio/buffers_iterator.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "transport/http_framing.hpp"

namespace http = boost::beast::http;
namespace beast = boost::beast;
namespace net = boost::asio;
using namespace wasimancer::transport;

namespace {

template <typename Buffers>
std::string text_of(const Buffers& b) {
  return std::string(net::buffers_begin(b), net::buffers_end(b));
}

// What Beast writes for the head of `res` (as async_write_header does).
std::string beast_head(http::response<http::empty_body>& res) {
  http::response_serializer<http::empty_body> sr{res};
  sr.split(true);
  std::string out;
  beast::error_code ec;
  while (!sr.is_header_done()) {
    sr.next(ec, [&](beast::error_code&, const auto& buffers) {
      out += text_of(buffers);
      sr.consume(net::buffer_size(buffers));
    });
    if (ec) break;
  }
  return out;
}

}  // namespace

TEST(HttpFraming, SseHeadsAreWhatBeastWrites) {
  for (unsigned version : {10u, 11u}) {
    for (auto status : {http::status::ok, http::status::not_found, http::status::service_unavailable}) {
      http::response<http::empty_body> res{status, version};
      res.set("Cache-Control", "no-cache");
      res.set("Mcp-Session-Id", "abc123");
      res.set(http::field::server, "wasimancer");
      res.set(http::field::content_type, "text/event-stream");
      res.keep_alive(version == 11);
      res.chunked(true);
      std::string mine;
      append_head(mine, res.base());
      EXPECT_EQ(mine, beast_head(res)) << version << " " << static_cast<int>(status);
    }
  }
}

TEST(HttpFraming, ChunksAreWhatBeastWrites) {
  for (size_t n : {size_t(1), size_t(9), size_t(15), size_t(16), size_t(255), size_t(4096), size_t(70000), size_t(1) << 20}) {
    std::string data(n, 'd');
    std::string mine;
    append_chunk(mine, data);
    EXPECT_EQ(mine, text_of(http::make_chunk(net::buffer(data)))) << n;
  }
  EXPECT_EQ(std::string(kLastChunk), text_of(http::make_chunk_last()));
}
