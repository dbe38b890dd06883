// Outbound HTTP for plugins: allowed hosts, the non-public address guard, limits, redirects.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "host/http_client.hpp"
#include "http_server.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace std::chrono_literals;

namespace {

HttpPolicy allow(std::vector<std::string> hosts, uint64_t max = 1 << 20) { return HttpPolicy{std::move(hosts), max}; }

// A GET of `url` with no headers and no body.
HttpRequest get(std::string url) {
  HttpRequest r;
  r.url = std::move(url);
  return r;
}

}  // namespace

TEST(HttpClient, GetsAndLowerCasesHeaderNames) {
  test::TestHttpServer srv;
  auto r = http_fetch(get(srv.url("/headers")), allow({"127.0.0.1"}), Deadline::after(5s));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "<html>ok</html>");
  bool found = false;
  for (const auto& h : r->headers) {
    if (h.first == "x-test-header") found = h.second == "hello";
    EXPECT_EQ(h.first.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), std::string::npos) << h.first;
  }
  EXPECT_TRUE(found);
}

TEST(HttpClient, PostsBodyMethodAndHeaders) {
  test::TestHttpServer srv;
  HttpRequest req{srv.url("/echo"), "post", {{"some-name", "some-value"}}, "testing 123...", true};
  auto r = http_fetch(req, allow({"127.0.0.1"}), Deadline::after(5s));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "testing 123...");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  bool header = false;
  for (auto& [k, v] : reqs[0].headers) header = header || (k == "some-name" && v == "some-value");
  EXPECT_TRUE(header);
}

TEST(HttpClient, ErrorStatusesAreNotErrors) {
  test::TestHttpServer srv;
  auto r = http_fetch(get(srv.url("/status/404")), allow({"127.0.0.1"}), Deadline::after(5s));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "status 404");
}

TEST(HttpClient, DeniedHostNamesTheUrl) {
  test::TestHttpServer srv;
  std::string url = srv.url("/todos/1");
  for (auto hosts : {std::vector<std::string>{}, std::vector<std::string>{"*.example.com"}}) {
    auto r = http_fetch(get(url), allow(hosts), Deadline::after(5s));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::HostError);
    EXPECT_EQ(r.error().message, "HTTP request to " + url + " is not allowed");
  }
  EXPECT_TRUE(srv.requests().empty());
}

TEST(HttpClient, WildcardDoesNotReachLoopbackOrPrivateAddresses) {
  test::TestHttpServer srv;
  for (std::string url : {srv.url("/todos/1"), "http://localhost:" + std::to_string(srv.port()) + "/todos/1"}) {
    auto r = http_fetch(get(url), allow({"*"}), Deadline::after(5s));
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().kind, ErrorKind::HostError);
    EXPECT_NE(r.error().message.find("allowedHosts"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(srv.requests().empty());
  // Named explicitly, loopback is fine.
  auto ok = http_fetch(get(srv.url("/todos/1")), allow({"*", "127.0.0.1"}), Deadline::after(5s));
  EXPECT_TRUE(ok.ok());
  auto ok2 = http_fetch(get("http://localhost:" + std::to_string(srv.port()) + "/todos/1"),
                        allow({"localhost"}), Deadline::after(5s));
  EXPECT_TRUE(ok2.ok()) << ok2.error().message;
}

// Only a pattern without wildcards names a host closely enough to open a loopback, private or
// link-local address: each of these patterns matches the host (the request is allowed to try)
// but the connection to 127.0.0.1 is refused before a packet is sent.
TEST(HttpClient, WildcardPatternsNeverGrantLoopback) {
  test::TestHttpServer srv;
  std::string port = std::to_string(srv.port());
  struct Case {
    const char* pattern;
    std::string url;
  };
  std::vector<Case> cases = {
      {"*.*", srv.url("/todos/1")},
      {"**", srv.url("/todos/1")},
      {"127.*", srv.url("/todos/1")},
      {"127.0.0.?", srv.url("/todos/1")},
      {"127.0.0.[0-9]", srv.url("/todos/1")},
      {"local*", "http://localhost:" + port + "/todos/1"},
      {"*host", "http://localhost:" + port + "/todos/1"},
      {"*.localhost", "http://api.localhost:" + port + "/todos/1"},
  };
  for (const auto& c : cases) {
    auto r = http_fetch(get(c.url), allow({c.pattern}), Deadline::after(5s));
    ASSERT_FALSE(r.ok()) << c.pattern << " reached " << c.url;
    EXPECT_EQ(r.error().kind, ErrorKind::HostError) << c.pattern;
    EXPECT_NE(r.error().message.find("loopback, private or link-local"), std::string::npos) << c.pattern << ": " << r.error().message;
  }
  EXPECT_TRUE(srv.requests().empty());
  // The same hosts named without wildcards are reachable (next to any wildcard pattern).
  for (auto hosts : {std::vector<std::string>{"127.0.0.1"}, std::vector<std::string>{"*.*", "127.0.0.1"}}) {
    auto ok = http_fetch(get(srv.url("/todos/1")), allow(hosts), Deadline::after(5s));
    EXPECT_TRUE(ok.ok()) << ok.error().message;
  }
  auto named = http_fetch(get("http://api.localhost:" + port + "/todos/1"), allow({"api.localhost"}), Deadline::after(5s));
  EXPECT_TRUE(named.ok()) << named.error().message;
}

TEST(HttpClient, LinkLocalMetadataNeedsTheExactAddress) {
  for (const char* pattern : {"169.254.*", "*.254.169.254", "169.254.169.25?", "*"}) {
    auto r = http_fetch(get("http://169.254.169.254/latest/meta-data/"), allow({pattern}), Deadline::after(2s));
    ASSERT_FALSE(r.ok()) << pattern;
    EXPECT_NE(r.error().message.find("loopback, private or link-local"), std::string::npos) << pattern << ": " << r.error().message;
  }
}

TEST(HttpClient, CloudMetadataAddressIsRefusedWithoutExplicitName) {
  // 169.254.169.254 is link-local: refused before any packet leaves (the socket is never opened).
  auto r = http_fetch(get("http://169.254.169.254/latest/meta-data/"), allow({"*"}),
                      Deadline::after(2s));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("169.254.169.254"), std::string::npos);
  EXPECT_NE(r.error().message.find("not allowed"), std::string::npos);
}

TEST(HttpClient, AddressClassification) {
  for (const char* ip : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                         "0.0.0.0", "100.64.0.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1",
                         "::ffff:127.0.0.1", "::ffff:10.0.0.1", "224.0.0.1"}) {
    EXPECT_TRUE(is_non_public_address(ip)) << ip;
  }
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "2606:4700::1111", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(is_non_public_address(ip)) << ip;
  }
}

TEST(HttpClient, ResponseSizeLimit) {
  test::TestHttpServer srv;
  auto big = http_fetch(get(srv.url("/bytes/5000")), allow({"127.0.0.1"}, 1000), Deadline::after(5s));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message, "HTTP response exceeds the configured maximum number of bytes: 1000");
  auto fits = http_fetch(get(srv.url("/bytes/1000")), allow({"127.0.0.1"}, 1000), Deadline::after(5s));
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->body.size(), 1000u);
}

TEST(HttpClient, DeadlineBoundsTheRequest) {
  test::TestHttpServer srv;
  auto t0 = std::chrono::steady_clock::now();
  auto r = http_fetch(get(srv.url("/slow/60000")), allow({"127.0.0.1"}), Deadline::after(200ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // the answer would take 60 s: cut at the deadline
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Timeout);
}

TEST(HttpClient, RedirectsAreFollowedAndRechecked) {
  test::TestHttpServer srv;
  auto r = http_fetch(get(srv.url("/redirect?to=/todos/1")), allow({"127.0.0.1"}), Deadline::after(5s));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("delectus aut autem"), std::string::npos);
  // A redirect to a host that is not allowed is refused.
  auto out = http_fetch(get(srv.url("/redirect?to=http://localhost:" + std::to_string(srv.port()) + "/todos/1")),
                        allow({"127.0.0.1"}), Deadline::after(5s));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("localhost"), std::string::npos);
}

// Credentials are for the origin they were given to: a redirect to the same origin keeps them,
// one to another origin (here localhost instead of 127.0.0.1, same port) drops them.
TEST(HttpClient, CredentialsDoNotFollowARedirectToAnotherOrigin) {
  test::TestHttpServer srv;
  auto with_credentials = [](std::string url) {
    HttpRequest req = get(std::move(url));
    req.headers = {{"Authorization", "Bearer secret-token"}, {"Cookie", "session=s3cr3t"}, {"X-Other", "kept"}};
    return req;
  };
  auto headers_seen = [](const HttpResponse& r) { return boost::json::parse(r.body).at("headers").as_object(); };
  std::string port = std::to_string(srv.port());

  auto same = http_fetch(with_credentials(srv.url("/redirect?to=/request")), allow({"127.0.0.1"}), Deadline::after(5s));
  ASSERT_TRUE(same.ok()) << same.error().message;
  auto h = headers_seen(*same);
  EXPECT_EQ(h.at("authorization").as_string(), "Bearer secret-token");
  EXPECT_EQ(h.at("cookie").as_string(), "session=s3cr3t");

  auto other = http_fetch(with_credentials(srv.url("/redirect?to=http://localhost:" + port + "/request")),
                          allow({"127.0.0.1", "localhost"}), Deadline::after(5s));
  ASSERT_TRUE(other.ok()) << other.error().message;
  h = headers_seen(*other);
  EXPECT_FALSE(h.contains("authorization")) << boost::json::serialize(h);
  EXPECT_FALSE(h.contains("cookie")) << boost::json::serialize(h);
  EXPECT_EQ(h.at("x-other").as_string(), "kept");
}

TEST(HttpClient, OnlyHttpAndHttps) {
  auto r = http_fetch(get("file:///etc/passwd"), allow({"*"}), Deadline::after(5s));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("scheme"), std::string::npos);
  auto g = http_fetch(get("gopher://127.0.0.1/"), allow({"*"}), Deadline::after(5s));
  EXPECT_FALSE(g.ok());
}
