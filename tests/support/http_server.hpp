// tests/support/http_server.hpp: a small HTTP/1.1 server on 127.0.0.1 for plugin HTTP tests.
//
// Routes:
//   GET  /todos/1         the jsonplaceholder fixture (pretty JSON, 2-space indent)
//   ANY  /echo            responds with the request body; header x-method: <method>
//   ANY  /request         JSON {"method","target","headers":{lower-cased},"body"}
//   GET  /status/<n>      status n, body "status <n>"
//   GET  /bytes/<n>       n bytes of 'a'
//   GET  /headers         text/html; charset=utf-8 and x-test-header: hello
//   GET  /redirect?to=P   302 to P
//   GET  /slow/<ms>       waits ms milliseconds, then "slow"
//   GET  /empty           200 with an empty body
// Thread safety: start/stop from the test thread; requests are served on background threads.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wasimancer::test {

struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class TestHttpServer {
 public:
  TestHttpServer();   // listens on 127.0.0.1 on an ephemeral port
  ~TestHttpServer();

  unsigned short port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<RecordedRequest> requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  unsigned short port_ = 0;
};

}  // namespace wasimancer::test
