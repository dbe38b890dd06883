// core/otlp.hpp: exports spans (core/trace.hpp) to an OpenTelemetry collector with OTLP/HTTP in
// its JSON encoding (POST <endpoint>/v1/traces, Content-Type: application/json).
//
// Spans arrive encoded (trace::Span writes its own JSON) and are queued (at most max_queue,
// those of the round being sent included; more are dropped and counted). One background thread
// takes the whole queue every `interval`, as soon as `batch` spans wait, or on flush(), and sends
// it in posts of at most `batch` spans: its work per span is one copy into the request body.
// After a failed post the rest of that round is dropped, so a collector that is down or slow
// costs the server nothing but the dropped spans: requests have a short timeout and failures
// are logged at most once a minute.
//
// Ownership: owns its thread; the destructor sends what is queued and joins it (one request
// timeout when the collector is down; with a slow one, up to max_queue / batch posts).
// Thread safety: export_span, flush, sent and dropped are safe from any thread; encode is pure.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/trace.hpp"

namespace wasimancer::trace {

struct OtlpConfig {
  std::string endpoint;  // http(s)://host:port[/path]; "/v1/traces" is appended unless present
  std::string service_name = "wasimancer";
  std::string service_version;
  std::chrono::milliseconds interval{1000};
  size_t batch = 512;  // OpenTelemetry SDKs' default largest batch
  size_t max_queue = 10000;
  std::chrono::milliseconds timeout{5000};
};

class OtlpExporter final : public SpanExporter {
 public:
  explicit OtlpExporter(OtlpConfig config);
  ~OtlpExporter() override;

  void export_span(std::string span_json) override;
  // Blocks until every span queued so far was sent (or failed). For tests and shutdown.
  void flush();

  const std::string& url() const { return url_; }
  uint64_t sent() const;
  uint64_t dropped() const;

  // The OTLP JSON document for `spans` (each as export_span gets it), written to `out`.
  static void encode(std::span<const std::string> spans, const OtlpConfig& config, std::string& out);
  static std::string encode(std::span<const std::string> spans, const OtlpConfig& config);

 private:
  void run();
  bool post(const std::string& body);

  OtlpConfig config_;
  std::string url_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> queue_;
  std::vector<std::string> spare_;  // the exporter thread's last batch, emptied: its capacity is reused
  uint64_t sent_ = 0, dropped_ = 0, in_flight_ = 0;
  bool stopping_ = false;
  bool flush_wanted_ = false;
  std::chrono::steady_clock::time_point last_error_log_{};
  // The exporter thread's curl handle (kept between batches: one connection to the collector).
  struct CurlHandle {
    void* p = nullptr;
    ~CurlHandle();
  };
  CurlHandle curl_handle_;
  std::string body_;  // the exporter thread's request body, reused
  std::thread thread_;
};

}  // namespace wasimancer::trace
